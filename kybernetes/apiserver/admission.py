"""Admission: the plugins every write passes after authorization (mutating,
then validating), as kube-apiserver's default chain orders them.

NamespaceLifecycle keeps objects out of missing and terminating namespaces
and the system namespaces from being deleted; ServiceAccount gives pods
their service account and its token volume; DefaultTolerationSeconds adds
the not-ready and unreachable tolerations; Priority resolves priority
classes. Plugins see the request's ``Attributes`` and change ``obj`` in
place (mutating) or raise a ``StatusError`` (either phase).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from kybernetes.api import registry, status

IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Attributes:
    operation: str  # CREATE, UPDATE, DELETE, CONNECT
    resource: registry.Resource
    subresource: str
    namespace: str
    name: str
    obj: dict | None
    old: dict | None
    user: UserInfo
    dry_run: bool = False


class Plugin(Protocol):
    async def admit(self, attrs: Attributes) -> None: ...

    async def validate(self, attrs: Attributes) -> None: ...


NamespaceGetter = Callable[[str], Awaitable[dict | None]]


class NamespaceLifecycle:
    def __init__(self, get_namespace: NamespaceGetter):
        self.get_namespace = get_namespace

    async def admit(self, attrs: Attributes) -> None:
        r = attrs.resource
        if attrs.operation == "DELETE" and r.group == "" and r.plural == "namespaces" \
                and attrs.name in IMMORTAL_NAMESPACES:
            raise status.forbidden("namespaces", "", attrs.name, "this namespace may not be deleted")
        if attrs.operation != "CREATE" or not r.namespaced or not attrs.namespace:
            return
        if attrs.subresource:  # pods/binding and friends act on existing objects
            return
        ns = await self.get_namespace(attrs.namespace)
        if ns is None:
            raise status.not_found("namespaces", "", attrs.namespace)
        if ns.get("status", {}).get("phase") == "Terminating" or ns["metadata"].get("deletionTimestamp"):
            raise status.forbidden(
                r.plural, r.group, attrs.name,
                f"unable to create new content in namespace {attrs.namespace} because it is being "
                f"terminated")

    async def validate(self, attrs: Attributes) -> None:
        return None


def _is_pod_create(attrs: Attributes) -> bool:
    r = attrs.resource
    return (attrs.operation == "CREATE" and r.group == "" and r.plural == "pods"
            and not attrs.subresource and attrs.obj is not None)


class ServiceAccount:
    """Pods run as a service account (``default`` unless named) and get its
    token as a projected volume, as upstream's ServiceAccount plugin does."""

    def __init__(self, rand: random.Random | None = None):
        self.rand = rand or random.Random()

    async def admit(self, attrs: Attributes) -> None:
        if not _is_pod_create(attrs):
            return
        spec = attrs.obj.setdefault("spec", {})  # type: ignore[union-attr]
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        if spec.get("automountServiceAccountToken") is False:
            return
        volumes = spec.setdefault("volumes", [])
        mount_path = "/var/run/secrets/kubernetes.io/serviceaccount"
        containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
        if any(m.get("mountPath") == mount_path for c in containers for m in c.get("volumeMounts") or []):
            return
        suffix = "".join(self.rand.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        name = f"kube-api-access-{suffix}"
        volumes.append({
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
            },
        })
        for c in containers:
            c.setdefault("volumeMounts", []).append(
                {"name": name, "readOnly": True, "mountPath": mount_path})

    async def validate(self, attrs: Attributes) -> None:
        return None


class DefaultTolerationSeconds:
    def __init__(self, not_ready_seconds: int = 300, unreachable_seconds: int = 300):
        self.not_ready = not_ready_seconds
        self.unreachable = unreachable_seconds

    async def admit(self, attrs: Attributes) -> None:
        if not _is_pod_create(attrs):
            return
        spec = attrs.obj.setdefault("spec", {})  # type: ignore[union-attr]
        tolerations = spec.get("tolerations") or []
        for key, seconds in (("node.kubernetes.io/not-ready", self.not_ready),
                             ("node.kubernetes.io/unreachable", self.unreachable)):
            if any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "")
                   or (not t.get("key") and t.get("operator") == "Exists") for t in tolerations):
                continue
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})
        spec["tolerations"] = tolerations

    async def validate(self, attrs: Attributes) -> None:
        return None


class Priority:
    """Resolve ``priorityClassName`` to ``priority`` (0 when unnamed and no
    global default), as upstream's Priority plugin does."""

    def __init__(self, get_priority_class: Callable[[str], Awaitable[dict | None]]):
        self.get = get_priority_class

    async def admit(self, attrs: Attributes) -> None:
        if not _is_pod_create(attrs):
            return
        spec = attrs.obj.setdefault("spec", {})  # type: ignore[union-attr]
        name = spec.get("priorityClassName")
        if not name:
            spec.setdefault("priority", 0)
            return
        if name in ("system-cluster-critical", "system-node-critical"):
            value = 2000000000 if name == "system-cluster-critical" else 2000001000
            spec["priority"] = value
            spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
            return
        pc = await self.get(name)
        if pc is None:
            raise status.forbidden("pods", "", attrs.name,
                                   f"no PriorityClass with name {name} was found")
        spec["priority"] = pc.get("value", 0)
        spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))

    async def validate(self, attrs: Attributes) -> None:
        return None


class Chain:
    def __init__(self, plugins: list[Plugin]):
        self.plugins = plugins

    async def admit(self, attrs: Attributes) -> None:
        for plugin in self.plugins:
            await plugin.admit(attrs)

    async def validate(self, attrs: Attributes) -> None:
        for plugin in self.plugins:
            await plugin.validate(attrs)

