"""A kubelet simulation and fixtures for the workload and endpoints controllers' tests.

``KubeletSim`` acts for a set of fake Nodes through the API only, as
kubelets and the scheduler would: it binds unbound pods of its namespace
(``pods/binding``) to the node their DaemonSet affinity names, else to its
nodes in turn; it then reports each bound pod as ``outcome(pod)`` says —
Running and Ready (the default), Running but not ready, Succeeded or Failed
— with a pod IP from the node's 10.244.<n>.0/24 and container statuses. A
pod being deleted is reported Failed (if it had not finished) and then
removed for good (grace period 0), as a kubelet confirms termination.

``Controllers`` runs chosen controller classes in the test's event loop
with informers of their own; ``sim_server``/``sim_client``/``sim_namespace``
are the fixtures (one ``kyb server`` per test module).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, kubeconfig, rest
from kybernetes.controllers import context
from kybernetes.controllers import daemonset_nodes
from tests.e2e.cluster import Server, free_port

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
NAMESPACES = registry.lookup("", "v1", "namespaces")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory):
    # Only the controllers under test act: kyb server's own controller manager and
    # scheduler stay off (the simulation binds pods itself).
    s = Server(str(tmp_path_factory.mktemp("kyb-sim")), free_port(),
               args=["--disable-controller-manager", "--disable-scheduler"])
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def sim_client(sim_server):
    async with rest.Client(kubeconfig.load(sim_server.kubeconfig), component="controllers-test") as c:
        yield c


@pytest.fixture
async def sim_namespace(sim_client):
    name = f"t-{uuid.uuid4().hex[:8]}"
    await sim_client.create(NAMESPACES, {"metadata": {"name": name}})
    yield name


async def make_nodes(client: rest.Client, names: list[str], labels: dict[str, str] | None = None,
                     taints: list[dict] | None = None) -> None:
    for name in names:
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints} if taints else {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": now(),
                                       "lastTransitionTime": now()}]}})


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


class Controllers:
    """Controller classes with informers of their own, running until ``stop``."""

    def __init__(self, client: rest.Client, classes: list[type], *, clock: clocks.Clock | None = None,
                 workers: int = 2):
        self.factory = informer.SharedInformerFactory(client)
        self.ctx = context.Context(client, self.factory, context.Settings(workers=workers),
                                   clock or clocks.RealClock())
        self.controllers = [cls(self.ctx) for cls in classes]
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> Controllers:
        self.factory.start()
        assert await self.factory.wait_for_sync(30)
        self.tasks = [asyncio.create_task(c.run()) for c in self.controllers]
        return self

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.factory.shutdown()
        await self.ctx.close()

    async def __aenter__(self) -> Controllers:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class KubeletSim:
    def __init__(self, client: rest.Client, namespace: str, nodes: list[str],
                 outcome: Callable[[dict], str] | None = None):
        self.client, self.namespace, self.nodes = client, namespace, list(nodes)
        self.outcome = outcome or (lambda pod: "Running")
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
            return
        if st.get("phase") in ("Succeeded", "Failed"):
            return
        wanted = self.outcome(pod)
        ready = next((c.get("status") for c in st.get("conditions") or () if c.get("type") == "Ready"), None)
        if wanted in ("Running", "NotReady"):
            done = st.get("phase") == "Running" and ready == ("True" if wanted == "Running" else "False")
        else:
            done = st.get("phase") == wanted
        if done:
            return
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


async def eventually(check: Callable[[], object], timeout: float = 30.0, interval: float = 0.1):
    """Await until ``check()`` (sync or async) returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


async def pods_of(client: rest.Client, namespace: str, selector: str | None = None) -> list[dict]:
    return (await client.list(PODS, namespace, label_selector=selector)).get("items") or []


class RecordingClient:
    """Stands in for ``rest.Client`` in unit tests that call ``sync`` on pre-filled
    caches: it records every write and answers as the API server would (names from
    generateName, uids, resourceVersions), reading objects back from ``objects``."""

    def __init__(self) -> None:
        self.actions: list[tuple] = []
        self.objects: dict[tuple, dict] = {}
        self._n = itertools.count(1000)

    def _stamp(self, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        if not m.get("name") and m.get("generateName"):
            m["name"] = f"{m['generateName']}{next(self._n)}"
        m.setdefault("uid", f"uid-{next(self._n)}")
        m["resourceVersion"] = str(next(self._n))
        return obj

    def writes(self, verb: str, plural: str | None = None) -> list[tuple]:
        return [a for a in self.actions if a[0] == verb and (plural is None or a[1] == plural)]

    async def create(self, res, obj, namespace=None, **kw):
        obj = self._stamp(obj)
        if kw.get("subresource") is None:
            ns = namespace or obj["metadata"].get("namespace")
            self.objects[(res.plural, ns, obj["metadata"]["name"])] = obj
        self.actions.append(("create", res.plural, obj, kw.get("subresource")))
        return copy.deepcopy(obj)

    async def update(self, res, obj, **kw):
        obj = self._stamp(obj)
        self.actions.append(("update", res.plural, obj, kw.get("subresource")))
        return copy.deepcopy(obj)

    async def patch(self, res, name, body, **kw):
        self.actions.append(("patch", res.plural, name, body, kw.get("subresource")))
        return {}

    async def delete(self, res, name, namespace=None, **kw):
        self.actions.append(("delete", res.plural, name, kw))
        return {}

    async def get(self, res, name, namespace=None, **kw):
        obj = self.objects.get((res.plural, namespace, name))
        if obj is None:
            raise status.StatusError(status.status(404, "NotFound", f'{res.plural} "{name}" not found'))
        return copy.deepcopy(obj)

    async def list(self, res, namespace=None, **kw):
        return {"items": [copy.deepcopy(o) for (p, ns, _), o in self.objects.items()
                          if p == res.plural and (namespace is None or ns == namespace)],
                "metadata": {"resourceVersion": "1"}}


def unit_context(client: RecordingClient, clock: clocks.Clock | None = None) -> context.Context:
    """A Context whose informers are never started: tests fill their stores directly."""
    return context.Context(client, informer.SharedInformerFactory(client), context.Settings(),
                           clock or clocks.FakeClock())
