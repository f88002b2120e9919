"""Unit-test doubles for the controllers: tests call ``sync(key)`` on caches filled
by hand and assert the requests it made.

``unit_context`` is a Context with a fake clock whose informers are never
started; ``feed`` fills an informer's cache (running its event handlers, as a
watch event would).

The fake clients answer as the API server would, from the objects written
through them, and record each request; they differ in how a request is recorded,
which is what the tests of each controller family assert on:

- ``FakeClient``: every call, as (verb, plural, namespace, name, detail); a
  verb's error can be injected once (``fail``).
- ``RecordingClient`` (jobs, cron jobs, endpoints): the writes, as (verb,
  plural, object or name, ...) with their subresource.
- ``WorkloadClient`` (replica sets, deployments): the writes, as (verb, plural,
  name, body); names from generateName are numbered, workloads get generation 1.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import datetime, timezone
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, kubeconfig
from kybernetes.controllers.context import Context, Settings


def unit_context(client: Any = None, clock: clocks.Clock | None = None, **settings: Any) -> Context:
    """A Context around ``client`` (a new ``FakeClient`` if none) with a fake clock and
    ``settings``; its informers are never started: tests fill their caches with ``feed``."""
    client = client or FakeClient()
    clock = clock or clocks.FakeClock()
    factory = informer.SharedInformerFactory(client, clock=clock)
    return Context(client, factory, Settings(**settings), clock)


def feed(inf: informer.Informer, *objs: dict, event: str = "ADDED") -> None:
    """Deliver objects to an informer's cache and handlers as watch events would."""
    for obj in objs:
        obj = copy.deepcopy(obj)
        obj.setdefault("kind", inf.resource.kind)
        obj.setdefault("apiVersion", inf.resource.api_version)
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        obj["metadata"].setdefault("resourceVersion", "1")
        inf._on_event(event, obj)


def not_found(res: registry.Resource, name: str) -> status.StatusError:
    return status.not_found(res.plural, res.group, name)


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

    async def get(self, res, name, namespace=None, **kw):
        self._record("get", res, namespace, name)
        obj = self.objects.get((res.plural, namespace or "", name))
        if obj is None:
            raise not_found(res, name)
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
            raise not_found(res, name)
        return copy.deepcopy(obj)

    async def delete(self, res, name, namespace=None, **kw):
        self._record("delete", res, namespace, name, kw)
        if self.objects.pop((res.plural, namespace or "", name), None) is None:
            raise not_found(res, name)
        return {}

    async def delete_collection(self, res, namespace=None, **kw):
        self._record("deletecollection", res, namespace, "", kw)
        return {}


class RecordingClient:
    """Records every write in ``actions`` and answers as the API server would (names from
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
            raise not_found(res, name)
        return copy.deepcopy(obj)

    async def list(self, res, namespace=None, **kw):
        return {"items": [copy.deepcopy(o) for (p, ns, _), o in self.objects.items()
                          if p == res.plural and (namespace is None or ns == namespace)],
                "metadata": {"resourceVersion": "1"}}


class WorkloadClient:
    """Keeps the objects written through it and records every write in ``calls`` as
    (verb, plural, name, object or body)."""

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
            raise not_found(res, name)
        return copy.deepcopy(obj)

    async def create(self, res, obj, namespace=None, **kw):
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        m.setdefault("namespace", namespace)
        if "name" not in m:
            m["name"] = f"{m.get('generateName', 'x-')}{self._next():05d}"
        m.update(uid=f"uid-{m['name']}", resourceVersion=str(self._next()),
                 creationTimestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
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
