"""A kubelet simulation for the controllers' integration tests, and watchers of
what it makes of the pods.

``KubeletSim`` acts for a set of fake Nodes through the API only, as kubelets
and the scheduler would: it binds unbound pods of its namespace
(``pods/binding``) to the node their DaemonSet affinity names, else to its
nodes in turn; it then reports each bound pod as ``outcome(pod)`` says —
Running and Ready (the default), Running but not ready (``NotReady``, also for
the pods named in ``keep_unready``, as a failing readiness probe would),
Succeeded or Failed — with a pod IP from the node's 10.244.<n>.0/24 and
container statuses; ``delay`` makes pods take that long to become ready. A pod
being deleted is reported Failed (if it had not finished) and then removed for
good (grace period 0), as a kubelet confirms termination.

``PodCounter`` watches a namespace's pods and keeps, per instant (per watch
event), how many are active (not terminating) and how many of those are
ready, so tests can assert bounds that must hold at every instant.

Both run from ``start`` to ``stop``, or for an ``async with`` block.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, rest
from kybernetes.controllers import daemonset_nodes

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def is_active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


async def make_nodes(client: rest.Client, names: list[str], labels: dict[str, str] | None = None,
                     taints: list[dict] | None = None) -> None:
    for name in names:
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints} if taints else {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": now(),
                                       "lastTransitionTime": now()}]}})


async def pods_of(client: rest.Client, namespace: str, selector: str | None = None) -> list[dict]:
    return (await client.list(PODS, namespace, label_selector=selector)).get("items") or []


class OffsetClock(clocks.RealClock):
    """The real clock, moved ahead by ``advance``; sleepers wake when their time comes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        while (left := deadline - self.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))


class KubeletSim:
    def __init__(self, client: rest.Client, namespace: str, nodes: Sequence[str] = ("fake-node",), *,
                 outcome: Callable[[dict], str] | None = None, delay: float = 0.0):
        self.client, self.namespace, self.nodes = client, namespace, list(nodes)
        self.outcome = outcome or (lambda pod: "Running")
        self.delay = delay
        self.unready: set[str] = set()
        self.informer = informer.Informer(client, PODS, namespace=namespace)
        self.informer.add_event_handler(self._seen, lambda old, new: self._seen(new), None)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._deleted: set[str] = set()
        self._next_node = itertools.cycle(range(len(self.nodes)))
        self._ips = itertools.count(2)
        self._tasks: list[asyncio.Task] = []

    def _seen(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if name not in self._pending:
            self._pending.add(name)
            self.queue.put_nowait(name)

    def poke(self) -> None:
        """Look at every pod again (after ``outcome`` changed)."""
        for pod in self.informer.store.list():
            self._seen(pod)

    def keep_unready(self, name: str) -> None:
        """Make this pod (and keep it) not ready, as a failing readiness probe would."""
        self.unready.add(name)
        self._seen(self.informer.store.get_by(self.namespace, name))

    def active_pods(self) -> list[dict]:
        return [p for p in self.informer.store.list() if is_active(p)]

    def ready_pods(self) -> list[dict]:
        return [p for p in self.active_pods() if is_ready(p)]

    async def start(self) -> KubeletSim:
        self._tasks.append(asyncio.create_task(self.informer.run()))
        await asyncio.wait_for(self.informer.has_synced.wait(), 30)
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(4)]
        return self

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> KubeletSim:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            self._pending.discard(name)
            pod = self.informer.store.get_by(self.namespace, name)
            if pod is None:
                continue
            try:
                await self._handle(pod)
            except (status.StatusError, rest.ClientError):
                pass  # gone or changed meanwhile; its next event brings it back

    def _wanted(self, pod: dict) -> str:
        wanted = self.outcome(pod)
        return "NotReady" if wanted == "Running" and pod["metadata"]["name"] in self.unready else wanted

    async def _handle(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        st = pod.get("status") or {}
        name = meta["name"]
        if meta.get("deletionTimestamp"):
            if meta["uid"] in self._deleted:
                return
            if st.get("phase") not in ("Succeeded", "Failed"):
                await self._report(pod, "Failed")
            self._deleted.add(meta["uid"])
            await self.client.delete(PODS, name, self.namespace, grace_period_seconds=0)
            return
        if not spec.get("nodeName"):
            node = daemonset_nodes.target_node(pod) or self.nodes[next(self._next_node)]
            await self.client.create(PODS, {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                            "target": {"kind": "Node", "name": node}},
                                     self.namespace, subresource="binding", name=name)
            return  # the update event brings the bound pod back
        if st.get("phase") in ("Succeeded", "Failed"):
            return
        wanted = self._wanted(pod)
        ready = next((c.get("status") for c in st.get("conditions") or () if c.get("type") == "Ready"), None)
        if wanted in ("Running", "NotReady"):
            done = st.get("phase") == "Running" and ready == ("True" if wanted == "Running" else "False")
        else:
            done = st.get("phase") == wanted
        if done:
            return
        if wanted == "Running" and self.delay:
            await asyncio.sleep(self.delay)
        await self._report(pod, wanted)

    async def _report(self, pod: dict, outcome: str) -> None:
        """Write the pod's status as a kubelet would for ``outcome``."""
        meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        t = now()
        node = spec.get("nodeName") or self.nodes[0]
        index = self.nodes.index(node) if node in self.nodes else 0
        ip = st.get("podIP") or f"10.244.{index}.{next(self._ips) % 250 + 2}"
        phase = "Running" if outcome in ("Running", "NotReady") else outcome
        ready = "True" if outcome == "Running" else "False"
        if outcome in ("Succeeded", "Failed"):
            code = 0 if outcome == "Succeeded" else 1
            state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                    "startedAt": st.get("startTime") or t, "finishedAt": t}}
        else:
            state = {"running": {"startedAt": st.get("startTime") or t}}
        containers = [{"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "",
                       "ready": ready == "True", "restartCount": 0, "started": phase == "Running",
                       "state": state} for c in spec.get("containers") or []]
        new_status = {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": f"10.0.0.{index + 1}",
                      "startTime": st.get("startTime") or t, "containerStatuses": containers,
                      "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                                     {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                                     {"type": "ContainersReady", "status": ready, "lastTransitionTime": t},
                                     {"type": "Ready", "status": ready, "lastTransitionTime": t}]}
        await self.client.patch(PODS, meta["name"], {"status": new_status}, namespace=self.namespace,
                                subresource="status")


class PodCounter:
    """Per watch event: (active pods, ready active pods, their pod-template-hashes), from one
    watch of the namespace."""

    def __init__(self, client: rest.Client, namespace: str,
                 selector: Callable[[dict], bool] = lambda pod: True):
        self.client, self.namespace, self.selector = client, namespace, selector
        self.pods: dict[str, dict] = {}
        self.samples: list[tuple[int, int, frozenset]] = []
        self.max_active_per_owner: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        self._started = asyncio.Event()

    async def start(self) -> PodCounter:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._started.wait(), 10)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> PodCounter:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        listed = await self.client.list(PODS, self.namespace)
        for pod in listed.get("items") or ():
            self._apply("ADDED", pod)
        self._started.set()
        rv = listed["metadata"]["resourceVersion"]
        async for type_, pod in self.client.watch(PODS, self.namespace, resource_version=rv):
            if type_ in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(type_, pod)

    def _apply(self, type_: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if type_ == "DELETED" or not is_active(pod) or not self.selector(pod):
            self.pods.pop(name, None)
        else:
            self.pods[name] = pod
        active = list(self.pods.values())
        ready = sum(1 for p in active if is_ready(p))
        hashes = frozenset((p["metadata"].get("labels") or {}).get("pod-template-hash") for p in active)
        self.samples.append((len(active), ready, hashes))
        owners: dict[str, int] = {}
        for p in active:
            for ref in p["metadata"].get("ownerReferences") or ():
                owners[ref["name"]] = owners.get(ref["name"], 0) + 1
        for owner, n in owners.items():
            self.max_active_per_owner[owner] = max(self.max_active_per_owner.get(owner, 0), n)

    def ready_pods(self) -> list[dict]:
        return [p for p in self.pods.values() if is_ready(p)]
