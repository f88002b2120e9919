"""Hollow nodes: simulated kubelets for testing and measuring the control plane.

THIS IS A SIMULATION, in the spirit of kwok and kubemark's hollow nodes: no
container runs and no packet is sent. ``HollowNodes(client, count=N).run()``
plays N kubelets from one process:

- registers Nodes ``<prefix><i>`` (annotation ``hollow.kybernetes.io/simulated``;
  labels kubernetes.io/hostname, os linux, arch, instance-type ``hollow``),
  with capacity = allocatable (cpu, memory, pods, ephemeral-storage), Ready
  and no pressure, a loopback InternalIP ``127.1.x.y`` (nothing listens
  there: a proxied request fails locally, never leaves the machine) and
  nodeInfo kubeletVersion ``v1.32.4-hollow``, runtime ``hollow://1.0``;
- renews each node's Lease in kube-node-lease every ``lease_renew_interval``
  (10 s, as the kubelet), renewals staggered evenly over the interval and
  written by a pool of their own (pod writes cannot starve them), so
  thousands of nodes never burst. Renewals are paced to at most
  ``max_renewals_per_second`` (200): beyond 2,000 nodes the interval
  stretches (5,000 nodes: 24 s), never past 60% of the 40 s lease, so the
  node lifecycle controller's 50 s grace still holds; node status is
  re-posted every ``status_interval`` (5 min, nodeStatusReportFrequency),
  and at once whenever a live node is seen not Ready (the node lifecycle
  controller marks it Unknown if a renewal came late);
- runs pods bound to its nodes (one pod informer for all of them): sets them
  Running through ``pods/status`` with an IP from the node's
  ``spec.podCIDR`` (else ``10.244.<index % 256>.0/24``), hostIP, ready
  started containers (``containerID hollow://<uid>-<name>``) and the
  conditions a kubelet sets; completes deletions (DELETE, grace 0, uid
  precondition) as a kubelet does once containers are gone;
- ``hollow.kybernetes.io/succeed-after: "2s"`` (a Go duration) on a pod with
  restartPolicy Never or OnFailure makes it Succeeded that long after it
  started (exit code 0, reason Completed); ``hollow.kybernetes.io/fail-after``
  makes a restartPolicy Never pod Failed (exit code 1, reason Error).

``stop(name)`` silences one node (no more Lease renewals or pod updates:
a lost node); cancelling ``run`` silences them all.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import controller, informer, rest, workqueue

log = logging.getLogger(__name__)

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
LEASE_NS = "kube-node-lease"
SIMULATED = "hollow.kybernetes.io/simulated"
SUCCEED_AFTER = "hollow.kybernetes.io/succeed-after"
FAIL_AFTER = "hollow.kybernetes.io/fail-after"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds (``"1m30s"``, ``"2s"``, ``"500ms"``)."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return total


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: str | None) -> datetime | None:
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if s else None
    except ValueError:
        return None


class HollowNodes:
    def __init__(self, client: rest.Client, *, count: int, name_prefix: str = "hollow-",
                 cpu: str = "4", memory: str = "16Gi", pods: int = 110,
                 ephemeral_storage: str = "100Gi", start_index: int = 0,
                 labels: dict[str, str] | None = None, taints: list[dict] | None = None,
                 extended_resources: dict[str, str] | None = None,
                 lease_renew_interval: float = 10.0, lease_duration_seconds: int = 40,
                 max_renewals_per_second: float = 200.0,
                 status_interval: float = 300.0, max_concurrent_writes: int = 16,
                 pod_workers: int = 16, clock: clocks.Clock | None = None):
        self.client = client
        self.prefix = name_prefix
        self.index = {f"{name_prefix}{i}": i for i in range(start_index, start_index + count)}
        self.names = list(self.index)
        self.resources = {"cpu": cpu, "memory": memory, "pods": str(pods),
                          "ephemeral-storage": ephemeral_storage, **(extended_resources or {})}
        self.labels, self.taints = labels or {}, taints or []
        self.renew_interval = min(max(lease_renew_interval, count / max_renewals_per_second),
                                  max(lease_renew_interval, 0.6 * lease_duration_seconds))
        self.lease_duration = lease_duration_seconds
        self.status_interval = status_interval
        self.pod_workers = pod_workers
        self.clock = clock or clocks.RealClock()
        self.ready = asyncio.Event()              # every node registered once
        self._alive = set(self.names)
        self._writes = asyncio.Semaphore(max_concurrent_writes)
        self._lease_writes = asyncio.Semaphore(max_concurrent_writes)
        self._uids: dict[str, str] = {}
        self._leases: dict[str, dict] = {}
        self._ips: dict[str, set[str]] = {}       # node -> pod IPs in use
        self._pod_ip: dict[str, tuple[str, str]] = {}  # pod key -> (node, ip)
        self._nodes: informer.Informer | None = None
        self._pods: informer.Informer | None = None
        self._queue = workqueue.WorkQueue("hollow-pods", clock=self.clock)
        self._node_queue = workqueue.WorkQueue("hollow-node-status", clock=self.clock)

    # --- public ---

    def stop(self, name: str) -> None:
        """Silence one node: its Lease goes stale and its pods are left as they are."""
        self._alive.discard(name)

    def node_ip(self, name: str) -> str:
        i = self.index[name] + 1
        return f"127.1.{i // 250}.{i % 250 + 1}"

    async def run(self) -> None:
        self._nodes = informer.Informer(self.client, NODES)
        self._pods = informer.Informer(self.client, PODS)
        self._pods.add_event_handler(self._on_pod, lambda old, new: self._on_pod(new), self._on_pod_gone)
        self._nodes.add_event_handler(self._on_node, lambda old, new: self._on_node(new))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._nodes.run())
                await self._register_all()
                self.ready.set()
                tg.create_task(self._renew_leases())
                tg.create_task(self._post_statuses())
                tg.create_task(self._pods.run())
                tg.create_task(controller.run_workers(self._queue, self._sync_pod, self.pod_workers,
                                                      "hollow-pods"))
                tg.create_task(controller.run_workers(self._node_queue, self._sync_node, 4,
                                                      "hollow-node-status"))
        finally:
            self._alive.clear()

    # --- nodes ---

    def _node(self, name: str) -> dict[str, Any]:
        now = _stamp(self.clock.now())
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "hollow",
                  **self.labels}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels,
                             "annotations": {SIMULATED: "true", "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"taints": list(self.taints)} if self.taints else {},
                "status": self._node_status(name, now)}

    def _node_status(self, name: str, now: str) -> dict[str, Any]:
        def cond(type_: str, status_: str, reason: str, message: str) -> dict:
            return {"type": type_, "status": status_, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": now}
        return {
            "capacity": dict(self.resources), "allocatable": dict(self.resources),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status (hollow node)")],
            "addresses": [{"type": "InternalIP", "address": self.node_ip(name)},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": f"hollow-{name}", "systemUUID": f"hollow-{name}",
                         "bootID": f"hollow-{name}", "kernelVersion": "hollow",
                         "osImage": "kybernetes hollow node (simulated)",
                         "containerRuntimeVersion": "hollow://1.0",
                         "kubeletVersion": "v1.32.4-hollow", "kubeProxyVersion": "v1.32.4-hollow",
                         "operatingSystem": "linux", "architecture": "amd64"},
        }

    async def _write(self, coro_fn, *args, **kw):
        async with self._writes:
            return await coro_fn(*args, **kw)

    async def _register_all(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for name in self.names:
                tg.create_task(self._register(name))

    async def _register(self, name: str) -> None:
        delay = 0.5
        while True:
            try:
                try:
                    node = await self._write(self.client.create, NODES, self._node(name))
                except status.StatusError as e:
                    if e.code != 409:
                        raise
                    # Already registered (a restart): refresh its status, as the kubelet does.
                    body = {"status": self._node_status(name, _stamp(self.clock.now()))}
                    node = await self._write(self.client.patch, NODES, name, body, subresource="status")
                self._uids[name] = node["metadata"]["uid"]
                await self._renew(name)
                return
            except (status.StatusError, rest.ClientError) as e:
                log.warning("registering hollow node %s failed: %s; retrying", name, e)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _renew(self, name: str) -> None:
        """Renew (or create) the node's Lease, as the kubelet's lease controller."""
        now = _micro(self.clock.now())
        lease = self._leases.get(name)
        try:
            if lease is not None:
                body = dict(lease, spec=dict(lease["spec"], renewTime=now, holderIdentity=name))
                async with self._lease_writes:
                    self._leases[name] = await self.client.update(LEASES, body)
                return
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": LEASE_NS, "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": name, "uid": self._uids[name]}]},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": self.lease_duration,
                             "renewTime": now}}
            async with self._lease_writes:
                self._leases[name] = await self.client.create(LEASES, body)
        except status.StatusError as e:
            if e.code not in (404, 409):
                raise
            self._leases.pop(name, None)
            if e.code == 409:  # stale or already there: read it and try again next round
                try:
                    self._leases[name] = await self.client.get(LEASES, name, LEASE_NS)
                except status.StatusError:
                    pass

    async def _renew_leases(self) -> None:
        """Renew every node's Lease each interval, staggered evenly across it. A bounded
        number of renewals is in flight: a slow server delays renewals instead of
        piling them up."""
        start = self.clock.monotonic()
        n = len(self.names)
        due = [(start + self.renew_interval * i / n, name) for i, name in enumerate(self.names)]
        heapq.heapify(due)
        slots = asyncio.Semaphore(32)
        tasks: set[asyncio.Task] = set()
        while due:
            when, name = heapq.heappop(due)
            await self.clock.sleep(when - self.clock.monotonic())
            if name not in self._alive:
                continue
            await slots.acquire()
            heapq.heappush(due, (max(when + self.renew_interval, self.clock.monotonic()), name))
            task = asyncio.create_task(self._renew_logged(name))
            tasks.add(task)
            task.add_done_callback(lambda t: (tasks.discard(t), slots.release()))

    async def _renew_logged(self, name: str) -> None:
        try:
            await self._renew(name)
        except (status.StatusError, rest.ClientError) as e:
            log.info("renewing lease of hollow node %s failed: %s", name, e)

    async def _post_statuses(self) -> None:
        """Queue each node's status (heartbeat) every status_interval, staggered."""
        while True:
            per_node = self.status_interval / max(len(self.names), 1)
            for name in list(self.names):
                await self.clock.sleep(per_node)
                self._node_queue.add(name)

    def _on_node(self, node: dict) -> None:
        """A node of ours that is not Ready (the node lifecycle controller marked it
        Unknown while its Lease was late): post Ready again, as the kubelet's next
        status update would."""
        name = node["metadata"]["name"]
        if name in self._alive and not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or ()):
            self._node_queue.add(name)

    async def _sync_node(self, name: str) -> None:
        if name not in self._alive:
            return
        body = {"status": {"conditions": self._node_status(name, _stamp(self.clock.now()))["conditions"]}}
        await self._write(self.client.patch, NODES, name, body, subresource="status",
                          patch_type="strategic")

    # --- pods ---

    def _ours(self, pod: dict) -> str | None:
        node = (pod.get("spec") or {}).get("nodeName")
        return node if node in self._alive else None

    def _on_pod(self, pod: dict) -> None:
        node = self._ours(pod)
        if node is None:
            return
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        ip = (pod.get("status") or {}).get("podIP")
        if ip and key not in self._pod_ip and not (pod.get("spec") or {}).get("hostNetwork"):
            self._pod_ip[key] = (node, ip)
            self._ips.setdefault(node, set()).add(ip)
        self._queue.add(key)

    def _on_pod_gone(self, pod: dict) -> None:
        meta = pod.get("metadata") or {}
        entry = self._pod_ip.pop(f"{meta.get('namespace')}/{meta.get('name')}", None)
        if entry is not None:
            self._ips.get(entry[0], set()).discard(entry[1])

    def _allocate_ip(self, node: str, key: str) -> str:
        if key in self._pod_ip:
            return self._pod_ip[key][1]
        obj = self._nodes.store.get(node) if self._nodes else None
        cidr = ((obj or {}).get("spec") or {}).get("podCIDR")
        net = ipaddress.ip_network(cidr or f"10.244.{self.index[node] % 256}.0/24", strict=False)
        used = self._ips.setdefault(node, set())
        for host in net.hosts():
            ip = str(host)
            if ip != str(net.network_address + 1) and ip not in used:
                used.add(ip)
                self._pod_ip[key] = (node, ip)
                return ip
        raise RuntimeError(f"no free pod IP on {node} ({net})")

    async def _sync_pod(self, key: str) -> None:
        pod = self._pods.store.get(key)
        if pod is None or self._ours(pod) is None:
            return
        meta, st = pod["metadata"], pod.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp"):
            try:
                await self._write(self.client.delete, PODS, name, ns, grace_period_seconds=0,
                                  preconditions={"uid": meta["uid"]})
            except status.StatusError as e:
                if e.code not in (404, 409):
                    raise
            return
        phase = st.get("phase")
        if phase in ("Succeeded", "Failed"):
            return
        if phase != "Running":
            await self._write(self.client.patch, PODS, name, {"status": self._running(pod)},
                              namespace=ns, subresource="status")
            return
        finish = self._finish_due(key, pod)
        if finish is not None:
            await self._finish(pod, finish)

    def _finish_due(self, key: str, pod: dict) -> bool | None:
        """True/False when the pod's succeed-after/fail-after time has come; else None
        (and the pod is looked at again when it will have)."""
        annotations = pod["metadata"].get("annotations") or {}
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for annotation, allowed in ((SUCCEED_AFTER, ("Never", "OnFailure")), (FAIL_AFTER, ("Never",))):
            if annotation not in annotations or policy not in allowed:
                continue
            started = _parse_time((pod.get("status") or {}).get("startTime")) or self.clock.now()
            try:
                after = parse_duration(annotations[annotation])
            except ValueError:
                log.warning("pod %s: bad %s annotation %r", key, annotation, annotations[annotation])
                return None
            remaining = (started + timedelta(seconds=after) - self.clock.now()).total_seconds()
            if remaining > 0:
                self._queue.add_after(key, remaining)
                return None
            return annotation == SUCCEED_AFTER
        return None

    async def _finish(self, pod: dict, succeeded: bool) -> None:
        meta = pod["metadata"]
        now = _stamp(self.clock.now())
        st = dict(pod.get("status") or {})
        code, reason = (0, "Completed") if succeeded else (1, "Error")
        st["phase"] = "Succeeded" if succeeded else "Failed"
        st["containerStatuses"] = [
            dict(cs, ready=False, started=False, state={"terminated": {
                "exitCode": code, "reason": reason, "containerID": cs.get("containerID"),
                "startedAt": (cs.get("state", {}).get("running") or {}).get("startedAt", now),
                "finishedAt": now}}) for cs in st.get("containerStatuses") or ()]
        st["conditions"] = [dict(c, status="False", reason="PodCompleted", lastTransitionTime=now)
                            if c["type"] in ("Ready", "ContainersReady") else c
                            for c in st.get("conditions") or ()]
        await self._write(self.client.patch, PODS, meta["name"], {"status": st},
                          namespace=meta["namespace"], subresource="status")

    def _running(self, pod: dict) -> dict[str, Any]:
        """The status a kubelet reports once every container started and is ready."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node = spec["nodeName"]
        now = _stamp(self.clock.now())
        host_ip = self.node_ip(node)
        key = f"{meta['namespace']}/{meta['name']}"
        ip = host_ip if spec.get("hostNetwork") else self._allocate_ip(node, key)
        old = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or ()}

        def cond(type_: str) -> dict:
            c = old.get(type_)
            if c and c.get("status") == "True":
                return c
            return {"type": type_, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}

        def running(c: dict) -> dict:
            image = c.get("image", "")
            return {"name": c["name"], "ready": True, "started": True, "restartCount": 0,
                    "image": image, "imageID": f"hollow://{image}",
                    "containerID": f"hollow://{meta['uid']}-{c['name']}",
                    "state": {"running": {"startedAt": now}}, "lastState": {}}

        def completed(c: dict) -> dict:
            image = c.get("image", "")
            return {"name": c["name"], "ready": True, "started": False, "restartCount": 0,
                    "image": image, "imageID": f"hollow://{image}",
                    "containerID": f"hollow://{meta['uid']}-{c['name']}",
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                             "startedAt": now, "finishedAt": now}}, "lastState": {}}

        start = (pod.get("status") or {}).get("startTime") or now
        st = {"phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
              "podIP": ip, "podIPs": [{"ip": ip}], "startTime": start,
              "conditions": [cond(t) for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                               "ContainersReady", "PodScheduled")],
              "containerStatuses": [running(c) for c in spec.get("containers") or ()]}
        if spec.get("initContainers"):
            st["initContainerStatuses"] = [running(c) if c.get("restartPolicy") == "Always"
                                           else completed(c) for c in spec["initContainers"]]
        return st
