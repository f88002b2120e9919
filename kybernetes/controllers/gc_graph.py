"""The garbage collector's dependency graph: every object that has metadata, by uid.

The role of the GraphBuilder's ``uidToNode`` in kube-controller-manager's
garbage collector. A ``Node`` is what the collector needs to know of one
object (its coordinates, ownerReferences, finalizers, whether it is being
deleted); ``Graph`` keeps nodes by uid and, for each owner uid, the uids of
the objects that reference it. Owners that were never observed have no
node; the collector asks the API server about them (upstream keeps
"virtual" nodes for them instead). Pure data: no I/O, no locks (one event
loop owns it).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import registry

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass
class Node:
    uid: str
    api_version: str
    kind: str
    namespace: str
    name: str
    resource: registry.Resource
    owners: list[dict[str, Any]] = field(default_factory=list)
    finalizers: tuple[str, ...] = ()
    being_deleted: bool = False

    @property
    def deleting_dependents(self) -> bool:
        """Foreground deletion in progress: deletionTimestamp and the foregroundDeletion finalizer."""
        return self.being_deleted and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        return self.being_deleted and ORPHAN in self.finalizers

    def owner_ref(self, owner_uid: str) -> dict[str, Any] | None:
        return next((r for r in self.owners if r.get("uid") == owner_uid), None)

    def reference(self) -> dict[str, Any]:
        """An ObjectReference (for events)."""
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, name: {self.name}, "
                f"uid: {self.uid}]")


def node_of(obj: dict[str, Any], resource: registry.Resource) -> Node:
    meta = obj.get("metadata") or {}
    return Node(uid=meta.get("uid", ""), api_version=resource.api_version, kind=resource.kind,
                namespace=meta.get("namespace", "") if resource.namespaced else "",
                name=meta.get("name", ""), resource=resource,
                owners=list(meta.get("ownerReferences") or []),
                finalizers=tuple(meta.get("finalizers") or ()),
                being_deleted=bool(meta.get("deletionTimestamp")))


def owner_identity(ref: dict[str, Any], namespace: str) -> tuple[str, str, str, str, str]:
    """An owner's coordinates as the absent-owner cache keys them (objectReference)."""
    return (ref.get("uid", ""), ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""),
            namespace)


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def observe(self, node: Node) -> Node | None:
        """Insert or replace a node; returns the node it replaced."""
        old = self.nodes.get(node.uid)
        self.nodes[node.uid] = node
        old_owners = {r.get("uid") for r in old.owners} if old else set()
        new_owners = {r.get("uid") for r in node.owners}
        for uid in old_owners - new_owners:
            self._unlink(uid, node.uid)
        for uid in new_owners - old_owners:
            self._dependents.setdefault(uid, set()).add(node.uid)
        return old

    def remove(self, uid: str) -> Node | None:
        node = self.nodes.pop(uid, None)
        if node is not None:
            for ref in node.owners:
                self._unlink(ref.get("uid", ""), uid)
        return node

    def _unlink(self, owner_uid: str, dependent_uid: str) -> None:
        deps = self._dependents.get(owner_uid)
        if deps is not None:
            deps.discard(dependent_uid)
            if not deps:
                del self._dependents[owner_uid]

    def dependents(self, owner_uid: str) -> list[Node]:
        """Observed objects whose ownerReferences name ``owner_uid``."""
        return [self.nodes[u] for u in self._dependents.get(owner_uid, ()) if u in self.nodes]

    def blocking_dependents(self, owner_uid: str) -> list[Node]:
        """Dependents whose reference to the owner has blockOwnerDeletion: foreground
        deletion of the owner waits for these."""
        out = []
        for dep in self.dependents(owner_uid):
            ref = dep.owner_ref(owner_uid)
            if ref is not None and ref.get("blockOwnerDeletion"):
                out.append(dep)
        return out


class AbsentOwners:
    """An LRU set of owner identities verified absent (upstream's absentOwnerCache, 500)."""

    def __init__(self, size: int = 500):
        self.size = size
        self._items: OrderedDict[tuple, None] = OrderedDict()

    def add(self, key: tuple) -> None:
        self._items[key] = None
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        if key in self._items:
            self._items.move_to_end(key)  # type: ignore[arg-type]
            return True
        return False
