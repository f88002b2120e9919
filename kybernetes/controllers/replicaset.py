"""The replica set and replication controller controllers (pkg/controller/replicaset).

One implementation serves both kinds, as upstream's: a ReplicationController
is a ReplicaSet with a map selector in core/v1. ``sync(key)`` keeps exactly
``spec.replicas`` active pods matching the selector: it claims pods (adopting
matching orphans, releasing its own that stopped matching), creates the
missing ones in slow-start batches (1, 2, 4, ...) or deletes the surplus in
upstream's deletion order, at most 500 per sync, and writes the status.
Expectations keep it from acting again while its own writes are in flight.
"""

from __future__ import annotations

import logging
from datetime import datetime

from kybernetes.api import labels, registry, status
from kybernetes.client import controller, indexer, rest
from kybernetes.controllers import expectations, podcontrol, podutil, status_writing
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH_SIZE = 1
CONTROLLER_UID_INDEX = "controllerUID"
_COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def controller_uid_index(obj: dict) -> list[str]:
    ref = podcontrol.controller_of(obj)
    return [ref["uid"]] if ref is not None and ref.get("uid") else []


def ensure_index(informer, name: str, fn) -> None:
    """Add an index unless a controller sharing the informer already did."""
    try:
        informer.add_indexers({name: fn})
    except ValueError:
        pass


# --- status (replica_set_utils.go) ---

def calculate_status(rs: dict, pods: list[dict], manage_error: Exception | None, now: datetime) -> dict:
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds", 0) or 0
    fully = sum(1 for p in pods if labels.matches_set(template_labels, podcontrol.meta(p).get("labels")))
    ready = [p for p in pods if podutil.is_pod_ready(p)]
    available = sum(1 for p in ready if podutil.is_pod_available(p, min_ready, now))
    old = rs.get("status") or {}
    conditions = [dict(c) for c in old.get("conditions") or ()]
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - spec.get("replicas", 1)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": "ReplicaFailure", "status": "True",
                           "lastTransitionTime": podcontrol.format_time(now), "reason": reason,
                           "message": str(manage_error)})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    new = {"replicas": len(pods), "fullyLabeledReplicas": fully, "readyReplicas": len(ready),
           "availableReplicas": available, "observedGeneration": old.get("observedGeneration", 0),
           "conditions": conditions}
    return {k: v for k, v in new.items() if v or k == "replicas"}


class ReplicaSetController:
    """apps/v1 ReplicaSets; ``ReplicationControllerController`` changes the kind only."""

    name = "replicaset"
    group, version, plural, kind = "apps", "v1", "replicasets", "ReplicaSet"
    component = "replicaset-controller"

    def __init__(self, ctx: Context, *, burst_replicas: int = BURST_REPLICAS):
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.burst_replicas = burst_replicas
        self.resource = registry.lookup(self.group, self.version, self.plural)
        self.api_version = f"{self.group}/{self.version}" if self.group else self.version
        self.expectations = expectations.ControllerExpectations(ctx.clock)
        self.queue = ctx.queue(self.name)
        self.recorder = ctx.recorder(self.component)
        self.pod_control = podcontrol.PodControl(self.client, self.recorder)
        self.rs_informer = ctx.informer(self.group, self.version, self.plural)
        ensure_index(self.rs_informer, CONTROLLER_UID_INDEX, controller_uid_index)
        self.pod_informer = ctx.informer("", "v1", "pods")
        self.rs_informer.add_event_handler(self._enqueue, self._update_rs,
                                           self._delete_rs)
        self.pod_informer.add_event_handler(self._add_pod, self._update_pod, self._delete_pod)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    def selector(self, rs: dict) -> labels.Selector:
        return labels.from_label_selector((rs.get("spec") or {}).get("selector"))

    # --- handlers: objects to keys ---

    def _enqueue(self, rs: dict) -> None:
        self.queue.add(indexer.key_of(rs))

    def _update_rs(self, old: dict, new: dict) -> None:
        if podcontrol.meta(old).get("uid") != podcontrol.meta(new).get("uid"):
            self._delete_rs(old)
        self._enqueue(new)

    def _delete_rs(self, rs: dict) -> None:
        key = indexer.key_of(rs)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: dict) -> dict | None:
        if ref.get("kind") != self.kind:
            return None
        rs = self.rs_informer.store.get_by(namespace, ref.get("name", ""))
        return rs if rs is not None and podcontrol.meta(rs).get("uid") == ref.get("uid") else None

    def _matching(self, pod: dict) -> list[dict]:
        """getPodReplicaSets: owners in the pod's namespace whose selector matches it."""
        m = podcontrol.meta(pod)
        out = []
        for rs in self.rs_informer.store.by_index(indexer.NAMESPACE_INDEX, m.get("namespace", "")):
            try:
                sel = self.selector(rs)
            except labels.SelectorError:
                continue
            if not sel.empty and sel.matches(m.get("labels") or {}):
                out.append(rs)
        return out

    def _add_pod(self, pod: dict) -> None:
        if podcontrol.is_being_deleted(pod):
            self._delete_pod(pod)  # seen first while already terminating: not a creation
            return
        ref = podcontrol.controller_of(pod)
        if ref is not None:
            rs = self._resolve(podcontrol.meta(pod).get("namespace", ""), ref)
            if rs is not None:
                key = indexer.key_of(rs)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for rs in self._matching(pod):
            self._enqueue(rs)

    def _update_pod(self, old: dict, cur: dict) -> None:
        om, cm = podcontrol.meta(old), podcontrol.meta(cur)
        if om.get("resourceVersion") == cm.get("resourceVersion"):
            return
        label_changed = om.get("labels") != cm.get("labels")
        if podcontrol.is_being_deleted(cur):
            self._delete_pod(cur)
            if label_changed:
                self._delete_pod(old)
            return
        cur_ref, old_ref = podcontrol.controller_of(cur), podcontrol.controller_of(old)
        ref_changed = cur_ref != old_ref
        ns = cm.get("namespace", "")
        if ref_changed and old_ref is not None:
            rs = self._resolve(ns, old_ref)
            if rs is not None:
                self._enqueue(rs)
        if cur_ref is not None:
            rs = self._resolve(ns, cur_ref)
            if rs is None:
                return
            self._enqueue(rs)
            min_ready = (rs.get("spec") or {}).get("minReadySeconds", 0) or 0
            if min_ready > 0 and not podutil.is_pod_ready(old) and podutil.is_pod_ready(cur):
                # Check availability once minReadySeconds have passed (plus a second of skew).
                self.queue.add_after(indexer.key_of(rs), min_ready + 1)
            return
        if label_changed or ref_changed:
            for rs in self._matching(cur):
                self._enqueue(rs)

    def _delete_pod(self, pod: dict) -> None:
        ref = podcontrol.controller_of(pod)
        if ref is None:
            return
        rs = self._resolve(podcontrol.meta(pod).get("namespace", ""), ref)
        if rs is None:
            return
        key = indexer.key_of(rs)
        self.expectations.deletion_observed(key, podutil.pod_key(pod))
        self.queue.add(key)

    # --- sync ---

    async def sync(self, key: str) -> None:
        namespace, name = indexer.split_key(key)
        rs = self.rs_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.selector(rs)
        except labels.SelectorError as e:
            log.error("%s %s has an invalid selector: %s", self.kind, key, e)
            return
        pods = [p for p in self.pod_informer.store.by_index(indexer.NAMESPACE_INDEX, namespace)
                if podutil.is_pod_active(p)]
        pods = await self._claim(rs, selector, pods)
        manage_error: Exception | None = None
        if needs_sync and not podcontrol.is_being_deleted(rs):
            try:
                await self.manage_replicas(pods, rs, key)
            except (status.StatusError, rest.ClientError, ValueError) as e:
                manage_error = e
        new_status = calculate_status(rs, pods, manage_error, self.clock.now())
        updated = await self._update_status(rs, new_status)
        spec = updated.get("spec") or {}
        st = updated.get("status") or {}
        replicas = spec.get("replicas", 1)
        if manage_error is None and spec.get("minReadySeconds", 0) > 0 and \
                st.get("readyReplicas", 0) == replicas and st.get("availableReplicas", 0) != replicas:
            self.queue.add_after(key, spec["minReadySeconds"])
        if manage_error is not None:
            raise manage_error

    async def _claim(self, rs: dict, selector: labels.Selector, pods: list[dict]) -> list[dict]:
        manager = podcontrol.ControllerRefManager(
            self.client, podcontrol.PODS, rs, selector, self.api_version, self.kind,
            podcontrol.recheck_deletion_timestamp(self.client, self.resource, rs, self.kind))
        return await manager.claim(pods)

    async def manage_replicas(self, pods: list[dict], rs: dict, key: str) -> None:
        """Create or delete pods so that ``len(pods)`` reaches ``spec.replicas``."""
        spec = rs.get("spec") or {}
        namespace = podcontrol.meta(rs)["namespace"]
        diff = len(pods) - spec.get("replicas", 1)
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            log.info("%s %s: too few replicas, need %d, creating %d", self.kind, key,
                     spec.get("replicas", 1), count)
            ref = podcontrol.controller_ref(rs, self.api_version, self.kind)

            async def create() -> None:
                try:
                    await self.pod_control.create_pod(namespace, spec.get("template") or {}, rs, ref)
                except status.StatusError as e:
                    # Every create fails in a terminating namespace: nothing to do about it.
                    if not podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                        raise
            successes, error = await podcontrol.slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create)
            for _ in range(count - successes):
                # Never attempted or failed: the informer will not observe these.
                self.expectations.creation_observed(key)
            if error is not None:
                raise error
        elif diff > 0:
            count = min(diff, self.burst_replicas)
            log.info("%s %s: too many replicas, need %d, deleting %d", self.kind, key,
                     spec.get("replicas", 1), count)
            victims = podutil.pods_to_delete(pods, self._related_pods(rs), count, self.clock.now())
            self.expectations.expect_deletions(key, [podutil.pod_key(p) for p in victims])

            async def delete(pod: dict) -> None:
                try:
                    await self.pod_control.delete_pod(namespace, podcontrol.meta(pod)["name"], rs)
                except (status.StatusError, rest.ClientError) as e:
                    self.expectations.deletion_observed(key, podutil.pod_key(pod))
                    if not (isinstance(e, status.StatusError) and e.code == 404):
                        raise
            errors = await podcontrol.gather_errors(delete(p) for p in victims)
            if errors:
                raise errors[0]

    def _related_pods(self, rs: dict) -> list[dict]:
        """getIndirectlyRelatedPods: pods of every replica set with the same controller."""
        ref = podcontrol.controller_of(rs)
        owners = self.rs_informer.store.by_index(CONTROLLER_UID_INDEX, ref["uid"]) if ref else [rs]
        seen, out = set(), []
        for owner in owners:
            try:
                sel = self.selector(owner)
            except labels.SelectorError:
                continue
            ns = podcontrol.meta(owner).get("namespace", "")
            for pod in self.pod_informer.store.by_index(indexer.NAMESPACE_INDEX, ns):
                uid = podcontrol.meta(pod).get("uid")
                if uid not in seen and sel.matches(podcontrol.meta(pod).get("labels") or {}):
                    seen.add(uid)
                    out.append(pod)
        return out

    async def _update_status(self, rs: dict, new_status: dict) -> dict:
        """updateReplicaSetStatus: write when anything changed, retrying once after a GET."""
        generation = podcontrol.meta(rs).get("generation", 0)
        old = rs.get("status") or {}
        if old.get("observedGeneration", 0) == generation and all(
                old.get(f, 0) == new_status.get(f, 0) for f in _COUNTS) and \
                (old.get("conditions") or []) == (new_status.get("conditions") or []):
            return rs
        # The generation we acted on, even if a retry reads a newer object.
        new_status = {**new_status, "observedGeneration": generation}
        new_status = {k: v for k, v in new_status.items() if v or k == "replicas"}
        return await status_writing.update_status(self.client, self.resource, rs, lambda _: new_status,
                                                  attempts=2, conflicts_only=False)


class ReplicationControllerController(ReplicaSetController):
    """core/v1 ReplicationControllers: the same logic with a map selector."""

    name = "replicationcontroller"
    group, version, plural, kind = "", "v1", "replicationcontrollers", "ReplicationController"
    component = "replication-controller"

    def selector(self, rc: dict) -> labels.Selector:
        wanted = (rc.get("spec") or {}).get("selector")
        # An empty selector must match nothing, never everything (validation forbids it).
        return labels.selector_from_set(wanted) if wanted else labels.nothing()
