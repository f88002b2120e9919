"""Shared fixtures and helpers for the controller tests.

Integration: ``api_server`` is a real ``kyb server`` (one per test module)
that runs no controllers of its own, so only the controllers a test starts
in its event loop (``running``) act; ``api_client`` is a client to it and
``namespace`` a fresh namespace. ``eventually`` polls for an outcome.

Unit: ``FakeClient`` records the requests a controller makes and answers
from a dict of objects; ``unit_context`` is a Context around it with a fake
clock, whose informers are never started: tests fill their caches with
``feed`` (which runs the event handlers, as a watch event would).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, kubeconfig, rest
from kybernetes.controllers.context import Context, Settings
from tests.e2e.cluster import Server, free_port

NAMESPACES = registry.lookup("", "v1", "namespaces")
API_ONLY = ["--disable-controller-manager", "--disable-scheduler"]


def start_server(tmp_path_factory, *args: str) -> Server:
    s = Server(str(tmp_path_factory.mktemp("kyb-controllers")), free_port(), args=[*API_ONLY, *args])
    s.start()
    return s


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    s = start_server(tmp_path_factory)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
async def api_client(api_server):
    async with rest.Client(kubeconfig.load(api_server.kubeconfig), component="controllers-test") as c:
        yield c


@pytest.fixture
async def namespace(api_client):
    name = f"t-{uuid.uuid4().hex[:8]}"
    await api_client.create(NAMESPACES, {"metadata": {"name": name}})
    yield name


@contextlib.asynccontextmanager
async def running(client: rest.Client, *classes: Callable[[Context], Any],
                  settings: Settings | None = None) -> AsyncIterator[list[Any]]:
    """Controllers built on shared informers, started as the controller manager does
    (informers synced first), stopped when the block ends."""
    factory = informer.SharedInformerFactory(client)
    ctx = Context(client, factory, settings or Settings())
    controllers = [cls(ctx) for cls in classes]
    factory.start()
    tasks: list[asyncio.Task] = []
    try:
        assert await factory.wait_for_sync(timeout=30)
        tasks = [asyncio.create_task(c.run(), name=f"test:{c.name}") for c in controllers]
        yield controllers
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await factory.shutdown()
        await ctx.close()


async def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
        except (AssertionError, status.StatusError) as e:
            last_error = e
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last error: {last_error})")
        await asyncio.sleep(interval)


async def gone(client: rest.Client, res: registry.Resource, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(res, name, namespace)
    except status.StatusError as e:
        if e.code == 404:
            return True
        raise
    return False


# --- unit-test doubles ---

class FakeClient:
    """Answers like the API server from ``objects`` ((plural, namespace, name) -> object) and
    records every call in ``calls`` as (verb, plural, namespace, name, detail)."""

    def __init__(self, ca: bytes | None = b"-----BEGIN CERTIFICATE-----\nfake\n"):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.calls: list[tuple[str, str, str, str, Any]] = []
        self.config = kubeconfig.Config(server="https://fake", ca_data=ca)
        self.fail: dict[str, status.StatusError] = {}  # verb -> error to raise once
        self._rv = itertools.count(100)

    def put(self, res: registry.Resource, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(res.plural, meta.get("namespace", "") if res.namespaced else "", meta["name"])] = obj
        return obj

    def _record(self, verb: str, res: registry.Resource, namespace: str | None, name: str,
                detail: Any = None) -> None:
        self.calls.append((verb, res.plural, namespace or "", name, detail))
        if verb in self.fail:
            raise self.fail.pop(verb)

    def verbs(self, verb: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == verb]

    def _not_found(self, res: registry.Resource, name: str) -> status.StatusError:
        return status.not_found(res.plural, res.group, name)

    async def get(self, res, name, namespace=None, **kw):
        self._record("get", res, namespace, name)
        obj = self.objects.get((res.plural, namespace or "", name))
        if obj is None:
            raise self._not_found(res, name)
        return copy.deepcopy(obj)

    async def list(self, res, namespace=None, **kw):
        self._record("list", res, namespace, "")
        return {"items": [copy.deepcopy(o) for (p, ns, _), o in self.objects.items()
                          if p == res.plural and (not namespace or ns == namespace)]}

    async def create(self, res, obj, namespace=None, **kw):
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})
        if res.namespaced:
            obj["metadata"]["namespace"] = namespace or obj["metadata"].get("namespace")
        self._record("create", res, obj["metadata"].get("namespace"), obj["metadata"]["name"], obj)
        return self.put(res, obj)

    async def update(self, res, obj, *, subresource=None, **kw):
        meta = obj["metadata"]
        self._record("update" if not subresource else f"update/{subresource}", res,
                     meta.get("namespace"), meta["name"], copy.deepcopy(obj))
        return self.put(res, obj)

    async def patch(self, res, name, body, *, namespace=None, patch_type="merge", subresource=None, **kw):
        self._record("patch" if not subresource else f"patch/{subresource}", res, namespace, name,
                     (patch_type, copy.deepcopy(body)))
        obj = self.objects.get((res.plural, namespace or "", name))
        if obj is None:
            raise self._not_found(res, name)
        return copy.deepcopy(obj)

    async def delete(self, res, name, namespace=None, **kw):
        self._record("delete", res, namespace, name, kw)
        if self.objects.pop((res.plural, namespace or "", name), None) is None:
            raise self._not_found(res, name)
        return {}

    async def delete_collection(self, res, namespace=None, **kw):
        self._record("deletecollection", res, namespace, "", kw)
        return {}


def unit_context(client: FakeClient | None = None, **settings: Any) -> Context:
    client = client or FakeClient()
    clock = clocks.FakeClock()
    factory = informer.SharedInformerFactory(client, clock=clock)  # type: ignore[arg-type]
    return Context(client, factory, Settings(**settings), clock)  # type: ignore[arg-type]


def feed(inf: informer.Informer, *objs: dict, event: str = "ADDED") -> None:
    """Deliver objects to an informer's cache and handlers as watch events would."""
    for obj in objs:
        obj = copy.deepcopy(obj)
        obj.setdefault("kind", inf.resource.kind)
        obj.setdefault("apiVersion", inf.resource.api_version)
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        obj["metadata"].setdefault("resourceVersion", "1")
        inf._on_event(event, obj)


def drain(queue) -> list:
    """Everything queued right now (without marking it processing)."""
    return list(queue._queue)
