"""Test helpers for the workload controllers' integration tests: a real ``kyb server``,
the controllers running in the test's event loop, and a simulated kubelet.

``FakeKubelet`` plays the node side through the API only, as a kubelet would:
it binds each new pod of a namespace to a node (``pods/binding``), then marks
it Running and Ready through ``pods/status``; a pod being deleted it removes
for good (a delete with grace period 0, the kubelet confirming termination).
``ready=False`` (or ``ready_if``, or ``keep_unready``) keeps pods from becoming
ready, as failing readiness probes would; ``delay`` makes pods take that long
to become ready.

``PodCounter`` watches a namespace's pods and keeps, per instant (per watch
event), how many are active (not terminating) and how many of those are
ready, so tests can assert bounds that must hold at every instant.

For unit tests, ``FakeClient`` and ``unit_context`` let ``sync`` run on caches
filled by hand, recording the writes it makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from datetime import datetime, timezone

from kybernetes.api import registry, status
from kybernetes.client import informer, kubeconfig, rest
from kybernetes.controllers import context, deployment, replicaset

PODS = registry.lookup("", "v1", "pods")
NAMESPACES = registry.lookup("", "v1", "namespaces")

# The server's own controller manager runs only what these tests do not: the controllers
# under test run in the test process instead. No scheduler: the fake kubelet binds pods.
SERVER_ARGS = ["--controllers", "namespace,serviceaccount", "--disable-scheduler"]


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def is_active(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(kubeconfig_path: str, component: str = "controllers-test") -> rest.Client:
    return rest.Client(kubeconfig.load(kubeconfig_path), component=component)


class Controllers:
    """The replicaset, replicationcontroller and deployment controllers with their own
    informers, running until ``stop`` (a fresh instance knows nothing of the last)."""

    def __init__(self, client: rest.Client, *, which: tuple[str, ...] = ("rs", "rc", "deploy"),
                 workers: int = 5):
        self.factory = informer.SharedInformerFactory(client)
        self.ctx = context.Context(client, self.factory, context.Settings(workers=workers))
        classes = {"rs": replicaset.ReplicaSetController, "rc": replicaset.ReplicationControllerController,
                   "deploy": deployment.DeploymentController}
        self.controllers = {name: classes[name](self.ctx) for name in which}
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> Controllers:
        self.factory.start()
        assert await self.factory.wait_for_sync(30)
        self.tasks = [asyncio.create_task(c.run()) for c in self.controllers.values()]
        return self

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.factory.shutdown()
        await self.ctx.close()


class FakeKubelet:
    def __init__(self, client: rest.Client, namespace: str, *, node: str = "fake-node",
                 ready: bool = True, delay: float = 0.0):
        self.client, self.namespace, self.node = client, namespace, node
        self.ready, self.delay = ready, delay
        self.informer = informer.Informer(client, PODS, namespace=namespace)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.informer.add_event_handler(self._add, lambda old, new: self._add(new), None)
        self._tasks: list[asyncio.Task] = []
        self._pending: set[str] = set()
        self.unready: set[str] = set()
        self.ready_if: Callable[[dict], bool] = lambda pod: True

    def _add(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if name not in self._pending:
            self._pending.add(name)
            self.queue.put_nowait(name)

    def active_pods(self) -> list[dict]:
        return [p for p in self.informer.store.list() if is_active(p)]

    def ready_pods(self) -> list[dict]:
        return [p for p in self.active_pods() if is_ready(p)]

    def keep_unready(self, name: str) -> None:
        """Make this pod (and keep it) not ready, as a failing readiness probe would."""
        self.unready.add(name)
        self._add(self.informer.store.get_by(self.namespace, name))

    def set_ready(self, ready: bool) -> None:
        """Start (or stop) marking pods ready; pods already seen are looked at again."""
        self.ready = ready
        for pod in self.informer.store.list():
            self._add(pod)

    async def start(self) -> FakeKubelet:
        self._tasks.append(asyncio.create_task(self.informer.run()))
        await asyncio.wait_for(self.informer.has_synced.wait(), 30)
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(4)]
        return self

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

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
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp"):
            await self.client.delete(PODS, name, self.namespace, grace_period_seconds=0)
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            await self.client.create(PODS, {"apiVersion": "v1", "kind": "Binding",
                                            "metadata": {"name": name},
                                            "target": {"kind": "Node", "name": self.node}},
                                     self.namespace, subresource="binding", name=name)
            return  # the update event brings the bound pod back
        st = pod.get("status") or {}
        want = self.ready and name not in self.unready and self.ready_if(pod)
        if st.get("phase") == "Running" and is_ready(pod) == want:
            return
        if want and self.delay:
            await asyncio.sleep(self.delay)
        t = now()
        flag = "True" if want else "False"
        conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                      {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                      {"type": "ContainersReady", "status": flag, "lastTransitionTime": t},
                      {"type": "Ready", "status": flag, "lastTransitionTime": t}]
        await self.client.patch(PODS, name, {"status": {"phase": "Running", "startTime": st.get("startTime") or t,
                                                        "conditions": conditions}},
                                namespace=self.namespace, subresource="status")


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


@contextlib.asynccontextmanager
async def running(*parts):
    """Start each part (``await part.start()``), stop them all on the way out."""
    started = []
    try:
        for part in parts:
            await part.start()
            started.append(part)
        yield parts
    finally:
        for part in reversed(started):
            await part.stop()


class FakeClient:
    """A stand-in for ``rest.Client`` in unit tests that call ``sync`` on pre-filled caches:
    it keeps the objects written through it, answers as the API server would (names from
    generateName, uids, resourceVersions), and records every write as (verb, plural, ...)."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.calls: list[tuple] = []
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def writes(self, verb: str, plural: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == verb and c[1] == plural]

    def put(self, plural: str, obj: dict) -> dict:
        m = obj["metadata"]
        self.objects[(plural, m.get("namespace", ""), m["name"])] = obj
        return obj

    async def get(self, res, name, namespace=None, **kw):
        obj = self.objects.get((res.plural, namespace or "", name))
        if obj is None:
            raise status.StatusError(status.status(404, "NotFound", f'{res.plural} "{name}" not found'))
        return copy.deepcopy(obj)

    async def create(self, res, obj, namespace=None, **kw):
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        m.setdefault("namespace", namespace)
        if "name" not in m:
            m["name"] = f"{m.get('generateName', 'x-')}{self._next():05d}"
        m.update(uid=f"uid-{m['name']}", resourceVersion=str(self._next()),
                 creationTimestamp=now())
        if res.plural in ("replicasets", "deployments", "replicationcontrollers"):
            m["generation"] = 1
        self.calls.append(("create", res.plural, m["name"], obj))
        return self.put(res.plural, obj) if res.plural != "events" else obj

    async def update(self, res, obj, *, subresource=None, **kw):
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._next())
        self.calls.append(("update" if subresource is None else f"update/{subresource}", res.plural,
                           obj["metadata"]["name"], obj))
        return self.put(res.plural, obj)

    async def patch(self, res, name, body, *, namespace=None, **kw):
        self.calls.append(("patch", res.plural, name, body))
        obj = self.objects.get((res.plural, namespace or "", name), {"metadata": {"name": name}})
        return copy.deepcopy(obj)

    async def delete(self, res, name, namespace=None, **kw):
        self.calls.append(("delete", res.plural, name, None))
        self.objects.pop((res.plural, namespace or "", name), None)
        return {}


def unit_context(client: FakeClient, clock=None) -> context.Context:
    """A Context whose informers are never started: tests fill their stores by hand."""
    from kybernetes.client import clock as clocks
    return context.Context(client, informer.SharedInformerFactory(client),
                           context.Settings(), clock or clocks.FakeClock())
