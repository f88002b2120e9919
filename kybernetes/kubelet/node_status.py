"""The node as the API server sees it: registration, its Lease, its status.

As the kubelet (pkg/kubelet/kubelet_node_status.go, nodestatus/setters.go,
nodelease): ``register`` creates the Node with the default labels, the
configured taints and a first status, or adopts an existing one (labels
patched in, status rewritten); ``wait_for_pod_cidr`` waits for the nodeipam
controller to give the node its podCIDR; ``NodeStatusReporter.run`` renews
the node's Lease in ``kube-node-lease`` every ``lease_renew_interval`` (the
node lifecycle controller's heartbeat) and posts the node status every
``node_status_update_frequency``.

Everything in the status is measured on this machine: capacity (CPUs,
MemTotal, the kubelet root dir's filesystem, hugepages, max pods),
allocatable (capacity minus the hard eviction thresholds, as the kubelet
reserves them), nodeInfo, the images in the image store, and the pressure
conditions from the kubelet's default eviction thresholds (memory.available
< 100Mi, nodefs.available < 10%, nodefs.inodesFree < 5%, and imagefs's 15% /
5% when images live on a filesystem of their own) applied to the machine's
real figures (stats.StatsProvider.node), held for the 5-minute pressure
transition period as the eviction manager does.

Node events as the kubelet records them (``condition_events``): a pressure
condition posted with a new status, or posted for the first time since this
kubelet started ("NodeHasSufficientMemory" ... at every start), and Ready
when its status changes ("NodeReady", "NodeNotReady"); the involved object
is the node with its name as UID, as the kubelet's nodeRef.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from datetime import datetime, timezone
from typing import Any, Callable

from kybernetes.api import quantities, registry, status
from kybernetes.client import rest
from kybernetes.kubelet import config as kconfig
from kybernetes.kubelet import stats
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.runtime import containers

log = logging.getLogger(__name__)

NODES = registry.lookup("", "v1", "nodes")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
LEASE_NAMESPACE = "kube-node-lease"
MAX_IMAGES = 50  # nodeStatusMaxImages
PRESSURE_TRANSITION_PERIOD = 300.0  # evictionPressureTransitionPeriod
MEMORY_AVAILABLE_MIN = 100 * 1024 * 1024  # memory.available<100Mi
NODEFS_AVAILABLE, NODEFS_INODES_FREE = 0.10, 0.05
IMAGEFS_AVAILABLE, IMAGEFS_INODES_FREE = 0.15, 0.05
NETWORK_NOT_READY = ("container runtime network not ready: NetworkReady=false"
                     " reason:NetworkPluginNotReady message:the node has no podCIDR and no pod network yet")

# (type, reason and message when False, when True) as the kubelet's setters write them.
_PRESSURE = {
    "MemoryPressure": (("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                       ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")),
    "DiskPressure": (("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                     ("KubeletHasDiskPressure", "kubelet has disk pressure")),
    "PIDPressure": (("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    ("KubeletHasInsufficientPID", "kubelet has insufficient PID available")),
}

# The kubelet's event reason for a condition posted with a (new) status.
_CONDITION_EVENTS = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady",
    ("Ready", "False"): "NodeNotReady",
}


def condition_events(before: list[dict] | None, after: list[dict]) -> list[str]:
    """The reasons of the events the kubelet records on posting ``after`` when
    it last posted ``before`` (None: nothing yet since it started). A pressure
    condition it had not posted counts as Unknown before; Ready is recorded
    only on a change (the setters append a new Ready silently)."""
    old = {c.get("type"): c.get("status") for c in before or []}
    out = []
    for c in after:
        type_, status_ = c.get("type"), c.get("status")
        if type_ == "Ready" and type_ not in old:
            continue
        if old.get(type_, "Unknown") != status_ and (type_, status_) in _CONDITION_EVENTS:
            out.append(_CONDITION_EVENTS[(type_, status_)])
    return out


def node_ref(node_name: str) -> dict[str, str]:
    """The kubelet's reference to its node in events: the name doubles as the UID."""
    return {"kind": "Node", "name": node_name, "uid": node_name}


def record_condition_events(recorder, node_name: str, before: list[dict] | None,
                            after: list[dict]) -> None:
    for reason in condition_events(before, after):
        recorder.event(node_ref(node_name), "Normal", reason, f"Node {node_name} status is now: {reason}")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def default_labels(config: KubeletConfig) -> dict[str, str]:
    return {"kubernetes.io/hostname": config.node_name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch(), "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch(), **config.node_labels}


# --- machine facts ------------------------------------------------------------

_runc_version: str | None = None


async def runtime_version() -> str:
    """``kyb-runc://<runc version>`` (the CRI's RuntimeName://RuntimeVersion)."""
    global _runc_version
    if _runc_version is None:
        try:
            proc = await asyncio.create_subprocess_exec(
                "runc", "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            out, _ = await proc.communicate()
            first = out.decode().splitlines()[0] if out else ""
            _runc_version = first.split()[-1] if first.startswith("runc version") else "unknown"
        except OSError:
            _runc_version = "unknown"
    return f"kyb-runc://{_runc_version}"


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info(runtime_version_: str) -> dict[str, str]:
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    uuid = _read("/sys/class/dmi/id/product_uuid")
    if not uuid and len(machine_id) == 32:
        m = machine_id
        uuid = f"{m[:8]}-{m[8:12]}-{m[12:16]}-{m[16:20]}-{m[20:]}"
    return {"machineID": machine_id, "systemUUID": uuid,
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": os.uname().release, "osImage": os_image(),
            "containerRuntimeVersion": runtime_version_,
            "kubeletVersion": kconfig.KUBELET_VERSION, "kubeProxyVersion": kconfig.KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": arch()}


def hugepages() -> dict[str, int]:
    """hugepages-<size> -> bytes preallocated, for every size the kernel offers."""
    out = {}
    root = "/sys/kernel/mm/hugepages"
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        kb = int(entry.removeprefix("hugepages-").removesuffix("kB"))
        size = quantities.canonical(quantities.from_int(kb * 1024, quantities.BINARY_SI))
        count = int(_read(os.path.join(root, entry, "nr_hugepages")) or 0)
        out[f"hugepages-{size}"] = count * kb * 1024
    return out


def resources(config: KubeletConfig) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable): allocatable is capacity minus the hard eviction
    reservation (memory.available 100Mi, nodefs.available 10%) and hugepages."""
    def binary(n: int) -> str:
        return quantities.canonical(quantities.from_int(n, quantities.BINARY_SI))

    memory = stats.meminfo().get("MemTotal", 0)
    os.makedirs(config.root_dir, exist_ok=True)
    st = os.statvfs(config.root_dir)
    disk = st.f_blocks * st.f_frsize
    pages = hugepages()
    capacity = {"cpu": str(os.cpu_count() or 1), "ephemeral-storage": binary(disk),
                **{k: binary(v) for k, v in pages.items()},
                "memory": binary(memory), "pods": str(config.max_pods)}
    allocatable = dict(capacity)
    allocatable["memory"] = binary(max(0, memory - MEMORY_AVAILABLE_MIN - sum(pages.values())))
    allocatable["ephemeral-storage"] = binary(disk - int(disk * NODEFS_AVAILABLE))
    return capacity, allocatable


async def images(runtime: containers.Runtime | None) -> list[dict[str, Any]]:
    """The node's images, largest first (at most 50), names = digests then tags."""
    if runtime is None:
        return []
    found = await runtime.images.list()
    found.sort(key=lambda i: i.size, reverse=True)
    return [{"names": [*i.repo_digests, *(i.names or (i.name,))], "sizeBytes": i.size}
            for i in found[:MAX_IMAGES]]


# --- pressure -----------------------------------------------------------------


def observed_pressure(node_stats: dict[str, Any], image_fs_separate: bool) -> dict[str, bool]:
    """Which pressure conditions the default hard eviction thresholds see now."""
    memory = node_stats.get("memory") or {}
    fs = node_stats.get("fs") or {}
    imagefs = (node_stats.get("runtime") or {}).get("imageFs") or {}
    rlimit = node_stats.get("rlimit") or {}

    def low(fsstats: dict, available: float, inodes: float) -> bool:
        cap, free = fsstats.get("capacityBytes", 0), fsstats.get("availableBytes", 0)
        total, ifree = fsstats.get("inodes", 0), fsstats.get("inodesFree", 0)
        return (cap > 0 and free < cap * available) or (total > 0 and ifree < total * inodes)

    disk = low(fs, NODEFS_AVAILABLE, NODEFS_INODES_FREE)
    if image_fs_separate:
        disk = disk or low(imagefs, IMAGEFS_AVAILABLE, IMAGEFS_INODES_FREE)
    # No pid.available threshold by default (the kubelet's evictionHard has
    # none); the kernel's own limit is the floor: under 1% of pid_max left.
    maxpid, cur = rlimit.get("maxpid", 0), rlimit.get("curproc", 0)
    return {"MemoryPressure": "availableBytes" in memory and memory["availableBytes"] < MEMORY_AVAILABLE_MIN,
            "DiskPressure": disk,
            "PIDPressure": maxpid > 0 and maxpid - cur < maxpid * 0.01}


def _condition(type_: str, status_: str, reason: str, message: str, previous: dict | None,
               now: str) -> dict[str, str]:
    transition = previous.get("lastTransitionTime") if previous and previous.get("status") == status_ else None
    return {"type": type_, "status": status_, "lastHeartbeatTime": now,
            "lastTransitionTime": transition or now, "reason": reason, "message": message}


def conditions(pressure: dict[str, bool], ready_errors: list[str], previous: list[dict] | None) -> list[dict]:
    """MemoryPressure, DiskPressure, PIDPressure, Ready in the kubelet's order and words."""
    now = _now()
    before = {c.get("type"): c for c in previous or []}
    out = []
    for type_, (ok, bad) in _PRESSURE.items():
        reason, message = bad if pressure.get(type_) else ok
        out.append(_condition(type_, "True" if pressure.get(type_) else "False", reason, message,
                              before.get(type_), now))
    if ready_errors:
        out.append(_condition("Ready", "False", "KubeletNotReady", ", ".join(ready_errors),
                              before.get("Ready"), now))
    else:
        out.append(_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status",
                              before.get("Ready"), now))
    return out


async def node_status(config: KubeletConfig, runtime: containers.Runtime | None, *,
                      addresses: list[dict] | None, pressure: dict[str, bool] | None = None,
                      ready_errors: list[str] | None = None,
                      previous: list[dict] | None = None) -> dict[str, Any]:
    capacity, allocatable = await asyncio.to_thread(resources, config)
    return {
        "capacity": capacity, "allocatable": allocatable,
        "conditions": conditions(pressure or {}, ready_errors or [], previous),
        "addresses": _addresses(config, addresses),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.port}},
        "nodeInfo": node_info(await runtime_version()),
        "images": await images(runtime),
    }


def _addresses(config: KubeletConfig, addresses: list[dict] | None) -> list[dict]:
    out = [a for a in addresses or [] if a.get("type") != "Hostname"]
    return out + [{"type": "Hostname", "address": config.node_name}]


# --- registration -------------------------------------------------------------


async def register(client: rest.Client, config: KubeletConfig, *, addresses: list[dict] | None,
                   runtime: containers.Runtime | None = None) -> dict:
    """Create this node's Node, or adopt the one that exists (a restart, or a
    node registered before): default labels are patched in and the status is
    rewritten. Retries until the API server takes it (as the kubelet);
    a refusal (403, 422) raises StatusError."""
    delay = 0.2
    while True:
        try:
            return await _register_once(client, config, addresses, runtime)
        except rest.ClientError as e:
            log.warning("unable to register node %s with the API server: %s", config.node_name, e)
        except status.StatusError as e:
            if e.code < 500 and e.code != 429:
                raise
            log.warning("unable to register node %s with the API server: %s", config.node_name, e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 7.0)


async def _register_once(client: rest.Client, config: KubeletConfig, addresses: list[dict] | None,
                         runtime: containers.Runtime | None) -> dict:
    body_status = await node_status(config, runtime, addresses=addresses, ready_errors=[NETWORK_NOT_READY])
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": config.node_name, "labels": default_labels(config),
                         "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"taints": [dict(t) for t in config.register_taints]} if config.register_taints else {},
            "status": body_status}
    try:
        created = await client.create(NODES, node)
        log.info("registered node %s", config.node_name)
        if created.get("status", {}).get("conditions"):
            return created
        # An API server that drops status on create: post it separately.
        return await client.patch(NODES, config.node_name, {"status": body_status}, subresource="status")
    except status.StatusError as e:
        if e.code != 409:
            raise
    existing = await client.get(NODES, config.node_name)
    labels = existing["metadata"].get("labels") or {}
    wanted = {k: v for k, v in default_labels(config).items() if labels.get(k) != v}
    if wanted:
        existing = await client.patch(NODES, config.node_name, {"metadata": {"labels": wanted}})
    body_status["conditions"] = conditions({}, [NETWORK_NOT_READY],
                                           (existing.get("status") or {}).get("conditions"))
    log.info("node %s was already registered; adopted it", config.node_name)
    return await client.patch(NODES, config.node_name, {"status": body_status},
                              subresource="status", patch_type="strategic")


async def wait_for_pod_cidr(client: rest.Client, node_name: str) -> str:
    """spec.podCIDR once the nodeipam controller has set it (watching the Node)."""
    while True:
        try:
            listed = await client.list(NODES, field_selector=f"metadata.name={node_name}")
            for node in listed.get("items", []):
                if cidr := (node.get("spec") or {}).get("podCIDR"):
                    return cidr
            async for _type, node in client.watch(
                    NODES, field_selector=f"metadata.name={node_name}",
                    resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=300):
                if cidr := (node.get("spec") or {}).get("podCIDR"):
                    return cidr
        except (rest.ClientError, status.StatusError) as e:
            log.info("waiting for the podCIDR of node %s: %s", node_name, e)
            await asyncio.sleep(1.0)


# --- the loops ----------------------------------------------------------------


class NodeStatusReporter:
    """Renews the Lease and posts the status of one node until cancelled.

    ``addresses_fn()`` -> the node's addresses (InternalIP: the node host's
    address); ``ready_fn()`` -> reasons the node is not ready (empty: Ready);
    ``pods_fn`` is accepted for the kubelet's interface (pods are not part of
    the node status)."""

    def __init__(self, client: rest.Client, config: KubeletConfig, runtime: containers.Runtime, *,
                 addresses_fn: Callable[[], list[dict]], pods_fn: Callable[[], list[dict]] | None = None,
                 ready_fn: Callable[[], list[str]] | None = None, recorder=None,
                 reported: list[dict] | None = None) -> None:
        self.client, self.config, self.runtime = client, config, runtime
        self.addresses_fn, self.pods_fn = addresses_fn, pods_fn
        self.ready_fn = ready_fn or (lambda: [])
        self.recorder = recorder
        self.reported = reported  # the conditions this kubelet last posted (registration's first)
        self.stats = stats.StatsProvider(config, runtime)
        self.lease: dict | None = None
        self.node: dict | None = None
        self._pressure_seen: dict[str, float] = {}  # condition -> last time a threshold was crossed

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._every(self.config.lease_renew_interval, self.renew_lease, "lease"))
            tg.create_task(self._every(self.config.node_status_update_frequency, self.update_status,
                                       "status"))

    async def _every(self, interval: float, step: Callable, what: str) -> None:
        failures = 0
        while True:
            try:
                await step()
                failures = 0
                await asyncio.sleep(interval)
            except Exception as e:  # noqa: BLE001 - the loop must outlive any one failure
                failures += 1
                expected = isinstance(e, (rest.ClientError, status.StatusError, OSError))
                log.warning("node %s: %s update failed (%d in a row): %s", self.config.node_name,
                            what, failures, e, exc_info=not expected and failures == 1)
                await asyncio.sleep(min(0.2 * 2 ** min(failures, 10), interval))

    # --- lease ---

    async def renew_lease(self) -> dict:
        """Renew (creating it if needed) kube-node-lease/<node>; returns the Lease.
        A conflict (someone else wrote it) or a deletion is re-read and retried."""
        for attempt in range(5):
            try:
                return await self._renew_once()
            except status.StatusError as e:
                self.lease = None
                if e.code not in (404, 409) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def _renew_once(self) -> dict:
        name = self.config.node_name
        if self.lease is None:
            try:
                self.lease = await self.client.get(LEASES, name, LEASE_NAMESPACE)
            except status.StatusError as e:
                if e.code != 404:
                    raise
                self.lease = await self.client.create(LEASES, await self._new_lease())
                return self.lease
        spec = dict(self.lease.get("spec") or {}, holderIdentity=name,
                    leaseDurationSeconds=self.config.lease_duration_seconds, renewTime=_micro_now())
        body = dict(self.lease, spec=spec)
        if not body["metadata"].get("ownerReferences"):
            body["metadata"] = dict(body["metadata"], ownerReferences=(await self._new_lease())
                                    ["metadata"]["ownerReferences"])
        self.lease = await self.client.update(LEASES, body)
        return self.lease

    async def _new_lease(self) -> dict:
        name = self.config.node_name
        node = await self.client.get(NODES, name)
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": self.config.lease_duration_seconds,
                         "renewTime": _micro_now()}}

    # --- status ---

    async def pressure(self) -> dict[str, bool]:
        """Current pressure conditions, each held for the transition period after
        its threshold was last crossed."""
        node_stats = await self.stats.node()
        separate = await asyncio.to_thread(
            lambda: os.stat(self.runtime.data_dir).st_dev != os.stat(self.config.root_dir).st_dev)
        now = time.monotonic()
        out = {}
        for kind, crossed in observed_pressure(node_stats, separate).items():
            if crossed:
                self._pressure_seen[kind] = now
            seen = self._pressure_seen.get(kind)
            out[kind] = seen is not None and now - seen < PRESSURE_TRANSITION_PERIOD
        return out

    async def update_status(self) -> dict:
        """Post the node's status (a strategic merge patch of nodes/status)."""
        if self.node is None:
            self.node = await self.client.get(NODES, self.config.node_name)
        previous = (self.node.get("status") or {}).get("conditions")
        body = await node_status(self.config, self.runtime, addresses=self.addresses_fn(),
                                 pressure=await self.pressure(), ready_errors=self.ready_fn(),
                                 previous=previous)
        try:
            self.node = await self.client.patch(NODES, self.config.node_name, {"status": body},
                                                subresource="status", patch_type="strategic")
        except status.StatusError:
            self.node = None
            raise
        if self.recorder is not None:
            record_condition_events(self.recorder, self.config.node_name, self.reported, body["conditions"])
        self.reported = body["conditions"]
        return self.node
