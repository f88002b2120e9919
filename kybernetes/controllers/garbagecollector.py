"""The garbage collector: objects whose owners are gone are deleted, as
kube-controller-manager's garbagecollector does with ownerReferences.

Informers on every served, listable, deletable resource (core and
events.k8s.io Events are ignored, as upstream) feed ``gc_graph.Graph``; the
handlers update the graph and queue the uids that need a look:

- an object referencing an owner the graph has not seen (or one seen in
  another namespace, or one being deleted in the foreground);
- the dependents of an object that disappeared, and its owners that are
  waiting for their dependents (foreground);
- an object being deleted with the ``orphan`` or ``foregroundDeletion``
  finalizer (and, for foreground, all its dependents).

``sync(uid)`` is attemptToDeleteItem and attemptToOrphan in one:

- ``orphan``: remove the owner's reference from every dependent, then the
  finalizer (the API server then removes the owner);
- ``foregroundDeletion``: while dependents with blockOwnerDeletion remain,
  queue them; then remove the finalizer;
- otherwise classify the object's ownerReferences with a quorum GET of each
  owner (uid must match; absences are cached): solid, dangling (gone) or
  waiting (foreground-deleting). With a solid owner, drop the dangling and
  waiting references; with none, delete the object (Foreground when an
  owner waits and the object has dependents of its own, else honouring its
  own orphan/foreground finalizer, else Background), preconditioned on its
  uid and resourceVersion.

Owner scope rules as upstream: a namespaced dependent's namespaced owner is
looked for in the dependent's namespace only (a cross-namespace reference is
dangling, with an ``OwnerRefInvalidNamespace`` warning); a cluster-scoped
dependent may not have a namespaced owner (warned, left alone).
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import controller, informer
from kybernetes.controllers.context import Context
from kybernetes.controllers.gc_graph import FOREGROUND, ORPHAN, AbsentOwners, Graph, Node, \
    node_of, owner_identity

log = logging.getLogger(__name__)

WORKERS = 20  # --concurrent-gc-syncs
IGNORED = {("", "events"), ("events.k8s.io", "events")}  # upstream's DefaultIgnoredResources
FINALIZER_RETRIES = 5


class InvalidOwnerScope(Exception):
    """A cluster-scoped object names a namespaced owner: it can never be resolved."""


def monitored_resources() -> list[registry.Resource]:
    return [r for r in registry.all_resources()
            if r.stored and r.stored_as is None and (r.group, r.plural) not in IGNORED
            and r.version == registry.preferred_version(r.group)
            and all(v in r.verbs for v in ("delete", "list", "watch"))]


def same_coordinates(ref: dict[str, Any], owner: Node) -> bool:
    """ownerReferenceMatchesCoordinates: uid, name, kind and API group (any version)."""
    group = (ref.get("apiVersion") or "").rpartition("/")[0]
    return (ref.get("uid") == owner.uid and ref.get("name") == owner.name
            and ref.get("kind") == owner.kind and group == owner.resource.group)


class GarbageCollector:
    name = "garbagecollector"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.recorder = ctx.recorder("garbage-collector-controller")
        self.graph = Graph()
        self.absent = AbsentOwners()
        self.queue = ctx.queue("garbage_collector_attempt_to_delete")
        self.informers: list[informer.Informer] = []
        for r in monitored_resources():
            inf = ctx.informers.informer(r)
            inf.add_event_handler(lambda obj, r=r: self._observe(r, obj),
                                  lambda old, new, r=r: self._observe(r, new),
                                  lambda obj, r=r: self._removed(obj))
            self.informers.append(inf)

    # --- graph builder: keep the graph, turn changes into uids ---

    def _observe(self, resource: registry.Resource, obj: dict) -> None:
        node = node_of(obj, resource)
        if not node.uid:
            return
        old = self.graph.observe(node)
        if old is not None:  # a reference removed or made non-blocking may unblock an owner
            for ref in old.owners:
                new_ref = node.owner_ref(ref.get("uid", ""))
                if new_ref is None or (ref.get("blockOwnerDeletion") and not new_ref.get("blockOwnerDeletion")):
                    owner = self.graph.get(ref.get("uid", ""))
                    if owner is not None and owner.deleting_dependents:
                        self.queue.add(owner.uid)
        if node.orphaning or (node.owners and not self._owners_solid(node)):
            self.queue.add(node.uid)
        if node.deleting_dependents:
            self.queue.add(node.uid)
            if old is None or not old.deleting_dependents:
                for dep in self.graph.dependents(node.uid):
                    self.queue.add(dep.uid)

    def _removed(self, obj: dict) -> None:
        node = self.graph.remove((obj.get("metadata") or {}).get("uid", ""))
        if node is None:
            return
        dependents = self.graph.dependents(node.uid)
        if dependents:
            self.absent.add((node.uid, node.api_version, node.kind, node.name, node.namespace))
        for dep in dependents:
            self.queue.add(dep.uid)
        for ref in node.owners:
            owner = self.graph.get(ref.get("uid", ""))
            if owner is not None and owner.deleting_dependents:
                self.queue.add(owner.uid)

    def _owners_solid(self, node: Node) -> bool:
        """Every owner observed, at the coordinates the reference names, in a scope it may
        be referenced from, and not waiting for its dependents: nothing to do."""
        for ref in node.owners:
            owner = self.graph.get(ref.get("uid", ""))
            if owner is None or owner.deleting_dependents or not same_coordinates(ref, owner):
                return False
            if owner.namespace and owner.namespace != node.namespace:
                return False
        return True

    # --- sync ---

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, WORKERS, self.name, shutdown=True)

    async def sync(self, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        if node.orphaning:
            await self._orphan_dependents(node)
            await self._remove_finalizer(node, ORPHAN)
            return
        if node.being_deleted and not node.deleting_dependents:
            return
        if not node.deleting_dependents and self._owners_solid(node):
            return
        latest = await self._get(node.resource, node.name, node.namespace, node.uid)
        if latest is None:
            return  # gone: the informer will say so
        meta = latest["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []):
            await self._process_deleting_dependents(node)
            return
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid")]
        if not refs:
            return
        try:
            solid, dangling, waiting = await self._classify(node, refs)
        except InvalidOwnerScope:
            return  # retrying cannot help
        if solid:
            if dangling or waiting:
                await self._patch_owner_refs(node, [{"$patch": "delete", "uid": r["uid"]}
                                                    for r in dangling + waiting])
            return
        dependents = self.graph.dependents(uid)
        if waiting and dependents:
            if any(dep.deleting_dependents for dep in dependents):
                # A possible cycle of foreground deletions: stop blocking our owners.
                await self._patch_owner_refs(node, [{"uid": r["uid"], "blockOwnerDeletion": False}
                                                    for r in refs if r.get("blockOwnerDeletion")])
            await self._delete(node, meta, "Foreground")
            return
        finalizers = meta.get("finalizers") or []
        policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers \
            else "Background"
        await self._delete(node, meta, policy)

    async def _classify(self, node: Node, refs: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
        """(solid, dangling, waitingForDependentsDeletion) owner references."""
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner = await self._owner(node, ref)
            if owner is None:
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and \
                    FOREGROUND in (owner["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _owner(self, node: Node, ref: dict) -> dict | None:
        """The owner a reference names (quorum read), or None when it is verified absent."""
        if owner_identity(ref, "") in self.absent or owner_identity(ref, node.namespace) in self.absent:
            return None
        res = registry.by_api_version(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            raise ValueError(f"unable to map ownerReference {ref.get('apiVersion')}/{ref.get('kind')} "
                             "to a served resource")
        if res.namespaced and not node.namespace:
            self._invalid_namespace(node, ref)
            raise InvalidOwnerScope(str(node))
        namespace = node.namespace if res.namespaced else ""
        seen = self.graph.get(ref["uid"])
        if res.namespaced and seen is not None and seen.namespace != namespace:
            self._invalid_namespace(node, ref)
        owner = await self._get(res, ref.get("name", ""), namespace, ref["uid"])
        if owner is None:
            self.absent.add(owner_identity(ref, namespace))
        return owner

    def _invalid_namespace(self, node: Node, ref: dict) -> None:
        ident = (f"[{ref.get('apiVersion')}/{ref.get('kind')}, namespace: {node.namespace}, "
                 f"name: {ref.get('name')}, uid: {ref.get('uid')}]")
        self.recorder.event(node.reference(), "Warning", "OwnerRefInvalidNamespace",
                            f'ownerRef {ident} does not exist in namespace "{node.namespace}"')

    async def _process_deleting_dependents(self, node: Node) -> None:
        blocking = self.graph.blocking_dependents(node.uid)
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(dep.uid)

    async def _orphan_dependents(self, owner: Node) -> None:
        for dep in self.graph.dependents(owner.uid):
            await self._patch_owner_refs(dep, [{"$patch": "delete", "uid": owner.uid}])

    # --- writes ---

    async def _get(self, res: registry.Resource, name: str, namespace: str, uid: str) -> dict | None:
        try:
            obj = await self.client.get(res, name, namespace or None)
        except status.StatusError as e:
            if e.code == 404:
                return None
            raise
        return obj if obj["metadata"].get("uid") == uid else None

    async def _delete(self, node: Node, meta: dict, policy: str) -> None:
        log.info("garbage collector deleting %s (propagationPolicy=%s)", node, policy)
        try:
            await self.client.delete(node.resource, node.name, node.namespace or None,
                                     propagation_policy=policy,
                                     preconditions={"uid": node.uid,
                                                    "resourceVersion": meta["resourceVersion"]})
        except status.StatusError as e:
            if e.code != 404:
                raise  # a conflict: the object changed; look again

    async def _patch_owner_refs(self, node: Node, refs: list[dict]) -> None:
        # The uid makes the patch fail rather than touch a re-created namesake.
        body = {"metadata": {"ownerReferences": refs, "uid": node.uid}}
        try:
            await self.client.patch(node.resource, node.name, body, namespace=node.namespace or None,
                                    patch_type="strategic")
        except status.StatusError as e:
            if e.code != 404:
                raise

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        for attempt in range(FINALIZER_RETRIES):
            latest = await self._get(node.resource, node.name, node.namespace, node.uid)
            if latest is None:
                return
            finalizers = latest["metadata"].get("finalizers") or []
            if finalizer not in finalizers:
                return
            rest = [f for f in finalizers if f != finalizer]
            body = {"metadata": {"resourceVersion": latest["metadata"]["resourceVersion"],
                                 "finalizers": rest or None}}
            try:
                await self.client.patch(node.resource, node.name, body,
                                        namespace=node.namespace or None, patch_type="merge")
                return
            except status.StatusError as e:
                if e.code == 404:
                    return
                if e.code != 409 or attempt == FINALIZER_RETRIES - 1:
                    raise
