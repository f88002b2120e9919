"""The kubelet: one node's agent, composed (kubelet.go's Run, thin).

``Kubelet(config, client).run()`` makes the container runtime and the node's
network (its node host: a network namespace with an address on the cluster
bridge), registers the Node and waits for its podCIDR, starts the HTTPS
server (``server``, when the config has its TLS files) and the node
status/lease loops (``node_status``), watches the pods bound to the node (fieldSelector
spec.nodeName) and runs one worker per pod (``pod_workers`` + ``podsync``).

A relister (the kubelet's PLEG) lists the runtime's containers every second
and wakes the worker of any pod whose containers changed state; workers read
the same listing, shared between syncs that ask at the same time.

Cancelling ``run`` stops the kubelet, not its containers: a new Kubelet on
the same data dir re-adopts them (same ids, same restart counts), and at
start removes what belongs to pods no longer bound here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re

from kybernetes.api import registry
from kybernetes.client import events, informer, rest
from kybernetes.kubelet import (containerspec, node_status, pod_workers, podcontainers, podsync, probes,
                                server, stats)
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.network import addressing, cluster, naming, sockets
from kybernetes.network.nodehost import NodeHost
from kybernetes.runtime import containers, records, sandboxes

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")
SERVICES = registry.lookup("", "v1", "services")
RELIST_PERIOD = 1.0
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
START_SLOTS = 4  # pods whose sandbox and containers are being made at once


class Kubelet:
    def __init__(self, config: KubeletConfig, client: rest.Client) -> None:
        self.config = config
        self.client = client
        self.runtime = containers.Runtime(config.runtime_dir, cgroup_parent=config.cgroup,
                                          log_max_size=config.log_max_size,
                                          log_max_files=config.log_max_files,
                                          hidden_host_paths=[config.agent_dir])
        plan = addressing.AddressPlan(prefix=config.network_prefix, node_network=config.node_network,
                                      cluster_cidr=config.cluster_cidr, service_cidr=config.service_cidr)
        self.network = cluster.ClusterNetwork(plan, config.network_state_root or naming.STATE_ROOT)
        self.node_host: NodeHost | None = None
        self.pod_network = None
        self.ready = asyncio.Event()
        self.recorder = events.EventRecorder(client, "kubelet", config.node_name)
        self.probes = probes.ProbeManager(self.runtime, on_change=self._wake,
                                          on_failure=self._probe_failed)
        self.start_slots = asyncio.Semaphore(START_SLOTS)
        self.podsync = podsync.PodSync(self)
        self.workers = pod_workers.PodWorkers(self.podsync.sync, resync=config.sync_frequency)
        self.pod_informer: informer.Informer | None = None
        self.service_informer: informer.Informer | None = None
        self.server = None
        self._relist_task: asyncio.Task | None = None
        self._relist_started = 0.0
        self._snapshot: dict[str, tuple[str, int | None]] = {}
        self._registered_conditions: list[dict] | None = None

    # -- composition -------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.recorder.run(), name="kubelet-events")
                await self._register()
                pod_cidr = await self._wait_for_pod_cidr()
                self.node_host = await self.network.add_node_host(self.config.node_name, pod_cidr)
                self.pod_network = self.network.pod_network(self.node_host)
                await self._start_server()
                self._start_node_status(tg)
                self.pod_informer = informer.Informer(
                    self.client, PODS, field_selector=f"spec.nodeName={self.config.node_name}")
                self.pod_informer.add_event_handler(self.workers.update,
                                                    lambda old, new: self.workers.update(new),
                                                    self.workers.remove)
                self.service_informer = informer.Informer(self.client, SERVICES)
                tg.create_task(self.service_informer.run(), name="kubelet-services")
                tg.create_task(self.pod_informer.run(), name="kubelet-pods")
                await self.pod_informer.has_synced.wait()
                await self._clean_orphans()
                self.ready.set()
                tg.create_task(self._relist_loop(), name="kubelet-pleg")
        finally:
            await self.workers.stop()
            await self.probes.stop()
            if self.server is not None:
                with contextlib.suppress(Exception):
                    await self.server.stop()

    async def _register(self) -> None:
        name = self.config.node_name
        self.recorder.event(node_status.node_ref(name), "Normal", "Starting", "Starting kubelet.")
        node = await node_status.register(self.client, self.config, addresses=None, runtime=self.runtime)
        self._registered_conditions = (node.get("status") or {}).get("conditions") or []
        node_status.record_condition_events(self.recorder, name, None, self._registered_conditions)

    async def _wait_for_pod_cidr(self) -> str:
        return await node_status.wait_for_pod_cidr(self.client, self.config.node_name)

    def _addresses(self) -> list[dict]:
        out = []
        if self.node_host is not None:
            out.append({"type": "InternalIP", "address": str(self.node_host.address.ip)})
        out.append({"type": "Hostname", "address": self.config.node_name})
        return out

    def _start_node_status(self, tg: asyncio.TaskGroup) -> None:
        reporter = node_status.NodeStatusReporter(self.client, self.config, self.runtime,
                                                  addresses_fn=self._addresses, pods_fn=self.pods,
                                                  recorder=self.recorder,
                                                  reported=self._registered_conditions)
        tg.create_task(reporter.run(), name="kubelet-node-status")

    async def _start_server(self) -> None:
        if not (self.config.tls_cert and self.config.tls_key and self.config.client_ca):
            return
        sock = await asyncio.to_thread(sockets.listen_in_netns, naming.netns_path(self.node_host.netns),
                                       str(self.node_host.address.ip), self.config.port)
        self.server = server.KubeletServer(self, cert=self.config.tls_cert, key=self.config.tls_key,
                                           client_ca=self.config.client_ca)
        await self.server.start(sock)

    # -- containers ----------------------------------------------------------------

    async def relist(self) -> list[records.ContainerStatus]:
        """The runtime's containers, from a listing that began after this call."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        while True:
            task = self._relist_task
            if task is not None and self._relist_started >= asked:
                return await asyncio.shield(task)
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)
                continue
            self._relist_started = loop.time()
            self._relist_task = loop.create_task(self.runtime.list())

    async def pod_containers(self, uid: str) -> list[records.ContainerStatus]:
        """One pod's containers and sandboxes, from a listing begun now: only theirs
        are read (a pod sync's; a full relist reads every container's state)."""
        return await self.runtime.list(label=(containerspec.POD_UID, uid))

    async def _relist_loop(self) -> None:
        """The PLEG: wake the worker of a pod whose containers changed."""
        while True:
            await asyncio.sleep(RELIST_PERIOD)
            try:
                found = await self.relist()
            except Exception as e:  # noqa: BLE001 - logged; next round
                log.warning("listing containers: %s", e)
                continue
            now = {c.id: (c.state, c.exit_code) for c in found}
            owner = {c.id: c.labels.get(containerspec.POD_UID) for c in found}
            changed = {owner[cid] for cid in now if self._snapshot.get(cid) != now[cid]}
            changed |= {owner.get(cid) for cid in self._snapshot if cid not in now}
            self._snapshot = now
            for uid in changed:
                if uid:
                    self.workers.wake(uid)

    async def _clean_orphans(self) -> None:
        """Containers, addresses and pod dirs of pods no longer bound here (deleted while we were away)."""
        bound = {p["metadata"]["uid"] for p in self.pod_informer.store.list()}
        orphans: dict[str, dict] = {}
        for c in await self.relist():
            uid = c.labels.get(containerspec.POD_UID)
            if uid and uid not in bound:
                orphans.setdefault(uid, {"metadata": {
                    "uid": uid, "name": c.labels.get(containerspec.POD_NAME, ""),
                    "namespace": c.labels.get(containerspec.POD_NAMESPACE, "")}})
        for uid in await self.pod_network.pods():
            if uid not in bound:
                orphans.setdefault(uid, {"metadata": {"uid": uid}})
        if os.path.isdir(self.config.pods_dir):
            for uid in os.listdir(self.config.pods_dir):
                if uid not in bound and _UID.match(uid):
                    orphans.setdefault(uid, {"metadata": {"uid": uid}})
        for uid, pod in orphans.items():
            log.info("cleaning up pod %s, no longer bound to this node", uid)
            self.workers.remove(pod)

    def _wake(self, uid: str) -> None:
        self.workers.wake(uid)

    def _probe_failed(self, pod: dict, container: dict, kind: str, message: str) -> None:
        self.recorder.event(podcontainers.container_ref(pod, container["name"]), "Warning", "Unhealthy",
                            f"{kind.capitalize()} probe failed: {message}".strip())

    # -- what others ask ---------------------------------------------------------------

    def host_ip(self) -> str:
        return str(self.node_host.address.ip) if self.node_host is not None else "127.0.0.1"

    def services(self) -> list[dict]:
        return self.service_informer.store.list() if self.service_informer is not None else []

    def pods(self) -> list[dict]:
        return self.pod_informer.store.list() if self.pod_informer is not None else []

    def _pod(self, namespace: str, name: str) -> dict:
        pod = self.pod_informer.store.get_by(namespace, name) if self.pod_informer else None
        if pod is None:
            raise LookupError(f'pod "{name}" not found on node {self.config.node_name}')
        return pod

    async def find_container(self, namespace: str, pod: str, container: str | None, *,
                             previous: bool = False):
        obj = self._pod(namespace, pod)
        spec_ = obj.get("spec") or {}
        specs = list(spec_.get("containers") or []) + list(spec_.get("initContainers") or [])
        if container is None:
            default = (obj["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
            names = [c["name"] for c in spec_.get("containers") or []]
            if default:
                container = default
            elif len(names) == 1:
                container = names[0]
            else:
                raise LookupError(f"a container name must be specified for pod {pod}, "
                                  f"choose one of: [{' '.join(names)}]")
        c_spec = next((c for c in specs if c["name"] == container), None)
        if c_spec is None:
            raise LookupError(f"container {container} is not valid for pod {pod}")
        uid = obj["metadata"]["uid"]
        _, by_name = containerspec.group([c for c in await self.relist()
                                    if c.labels.get(containerspec.POD_UID) == uid])
        items = by_name.get(container, [])
        index = 1 if previous else 0
        if len(items) <= index:
            if previous:
                raise LookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            raise LookupError(f'container "{container}" in pod "{pod}" is waiting to start: '
                              "ContainerCreating")
        found = items[index]
        return server.ContainerRef(container_id=found.id, container_name=container,
                                   log_path=found.log_path, pod=obj, tty=bool(c_spec.get("tty")),
                                   stdin=bool(c_spec.get("stdin")))

    async def pod_netns(self, namespace: str, pod: str) -> str:
        obj = self._pod(namespace, pod)
        if (obj.get("spec") or {}).get("hostNetwork"):
            return naming.netns_path(self.node_host.netns)
        net = await self.pod_network.lookup(obj["metadata"]["uid"])
        if net is None:
            raise LookupError(f'pod "{pod}" has no network yet')
        return net.netns_path

    async def stats_summary(self) -> dict:
        return await stats.summary(self.config, self.runtime, self.pods(), self.config.node_name)


__all__ = ["Kubelet", "sandboxes"]
