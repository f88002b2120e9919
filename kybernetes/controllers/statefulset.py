"""The StatefulSet controller: ordered, named pods with stable claims.

As ``stateful_set_control.go``: ``sync(key)`` claims the set's pods and
revisions, finds the current and update ControllerRevisions (creating the
update one when the template changed), then walks ordinals. Pods
``<set>-0 … <set>-(N-1)`` are created (claims first) where missing and
recreated when failed or succeeded; with podManagementPolicy OrderedReady
(monotonic) the walk stops at the first pod not yet Running, Ready and
available, and scale-down deletes the highest ordinal first, one at a time,
only while all others are healthy; Parallel acts on all at once. Then
RollingUpdate deletes, from the highest ordinal down to the partition, the
first pod not at the update revision, waiting for each replacement to be
available; OnDelete leaves that to the user. Status (replicas, ready,
current, updated, available, revisions, collisionCount) is written for
``kubectl rollout status sts/x``.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import labels, registry, status
from kybernetes.client import controller, indexer
from kybernetes.controllers import history, podcontrol, podutil, status_writing
from kybernetes.controllers import statefulset_pods as sp
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

STATEFULSETS = registry.lookup("apps", "v1", "statefulsets")
Obj = dict


class StatefulSetController:
    name = "statefulset"

    def __init__(self, ctx: Context):
        self.ctx, self.client, self.clock = ctx, ctx.client, ctx.clock
        self.queue = ctx.queue("statefulset")
        self.recorder = ctx.recorder("statefulset-controller")
        self.sets = ctx.informer("apps", "v1", "statefulsets")
        self.pods = ctx.informer("", "v1", "pods")
        self.pvcs = ctx.informer("", "v1", "persistentvolumeclaims")
        self.revisions = ctx.informer("apps", "v1", "controllerrevisions")
        self.sets.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._pod_changed, self._pod_updated, self._pod_changed)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    def _enqueue(self, sts: Obj) -> None:
        self.queue.add(indexer.key_of(sts))

    def _pod_changed(self, pod: Obj) -> None:
        key = podcontrol.owner_key(pod, "StatefulSet")
        if key is not None:
            self.queue.add(key)
            return
        ns = podcontrol.meta(pod).get("namespace", "")
        for sts in self.sets.store.by_index(indexer.NAMESPACE_INDEX, ns):
            if _selector(sts).matches(podcontrol.meta(pod).get("labels")):
                self._enqueue(sts)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if podcontrol.meta(old).get("resourceVersion") == podcontrol.meta(new).get("resourceVersion"):
            return
        old_key = podcontrol.owner_key(old, "StatefulSet")
        if old_key is not None and old_key != podcontrol.owner_key(new, "StatefulSet"):
            self.queue.add(old_key)
        self._pod_changed(new)

    # --- sync ---

    async def sync(self, key: str) -> None:
        sts = self.sets.store.get(key)
        if sts is None:
            return
        try:
            selector = labels.from_label_selector((sts.get("spec") or {}).get("selector"))
        except labels.SelectorError as e:
            self.recorder.event(sts, "Warning", "InvalidSelector", f"Error parsing selector: {e}")
            return
        ns = podcontrol.meta(sts)["namespace"]
        ref = podcontrol.controller_ref(sts, "apps/v1", "StatefulSet")
        revisions = await history.claimed(self.client, self.revisions.store, sts, ref, selector)
        manager = podcontrol.ControllerRefManager(self.client, podcontrol.PODS, sts, selector,
                                                  "apps/v1", "StatefulSet")
        pods = await manager.claim(self.pods.store.by_index(indexer.NAMESPACE_INDEX, ns),
                                   accept=lambda p: sp.is_member_of(sts, p))
        sts = copy.deepcopy(sts)
        current, update, collision = await self._revisions(sts, ref, revisions)
        try:
            new_status = await self._update(sts, current, update, collision, pods)
        finally:
            await self._truncate_history(sts, pods, revisions, current, update)
        await self._write_status(sts, new_status)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and new_status["readyReplicas"] != new_status["availableReplicas"]:
            self.queue.add_after(key, min_ready)

    async def _revisions(self, sts: Obj, ref: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """getStatefulSetRevisions: (current, update, collisionCount)."""
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        data = history.template_patch(sts)
        number = history.next_revision(revisions)
        equal = [r for r in revisions if (r.get("data") or {}) == data]
        if equal and (revisions[-1].get("data") or {}) == data:
            update = revisions[-1]
        elif equal:
            update = await history.set_revision_number(self.client, equal[-1], number)
        else:
            update, collision = await history.create_with_probe(self.client, sts, ref, number, collision)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if podcontrol.meta(r).get("name") == current_name), update)
        return current, update, collision

    async def _update(self, sts: Obj, current: Obj, update: Obj, collision: int, pods: list[Obj]) -> Obj:
        """updateStatefulSet: one pass of creations, deletions and updates; the status it leaves."""
        spec = sts.get("spec") or {}
        cur_name, upd_name = podcontrol.meta(current)["name"], podcontrol.meta(update)["name"]
        current_set, update_set = history.apply_revision(sts, current), history.apply_revision(sts, update)
        min_ready, now = int(spec.get("minReadySeconds") or 0), self.clock.now()
        st: Obj = {"observedGeneration": podcontrol.meta(sts).get("generation", 0),
                   "currentRevision": cur_name, "updateRevision": upd_name, "collisionCount": collision,
                   **sp.replica_status(pods, min_ready, now, cur_name, upd_name)}
        start, count = sp.start_ordinal(sts), sp.replicas(sts)
        replicas: list[Obj | None] = [None] * count
        condemned = []
        for pod in pods:
            if sp.in_range(sts, pod):
                replicas[sp.ordinal(pod) - start] = pod
            elif sp.ordinal(pod) >= 0:
                condemned.append(pod)
        for i in range(count):
            if replicas[i] is None:
                replicas[i] = sp.versioned_pod(current_set, update_set, cur_name, upd_name, start + i)
        condemned.sort(key=sp.ordinal, reverse=True)
        unhealthy = [p for p in replicas + condemned[::-1] if sp.is_unavailable(p, min_ready, now)]
        first_unhealthy = unhealthy[0] if unhealthy else None

        def finish() -> Obj:
            st.update(sp.replica_status(replicas + condemned, min_ready, now, cur_name, upd_name))
            return st

        if podcontrol.meta(sts).get("deletionTimestamp"):
            return st
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        for pod in replicas:
            if await self._process_replica(sts, pod, monotonic, min_ready, now) and monotonic:
                return finish()
        for pod in condemned:
            if await self._process_condemned(sts, pod, first_unhealthy, monotonic, min_ready, now) \
                    and monotonic:
                return finish()
        finish()
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "OnDelete":
            return st
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if sp.revision_of(pod) != upd_name and not podcontrol.is_being_deleted(pod):
                await self._delete_pod(sts, pod)
                st["currentReplicas"] -= 1
                return st
            if sp.is_unavailable(pod, min_ready, now):
                return st
        return st

    async def _process_replica(self, sts: Obj, pod: Obj, monotonic: bool, min_ready: int, now) -> bool:
        """processReplica: True when the monotonic walk must stop here."""
        if podutil.phase(pod) in ("Failed", "Succeeded"):
            if not podcontrol.is_being_deleted(pod):
                await self._delete_pod(sts, pod)
            return True
        if not sp.is_created(pod):
            await self._create_pod(sts, pod)
            return True
        if podutil.phase(pod) == "Pending":
            await self._create_claims(sts, pod)
        if podcontrol.is_being_deleted(pod) or not sp.is_running_and_available(pod, min_ready, now):
            return True
        if not sp.identity_matches(sts, pod):
            m = podcontrol.meta(pod)
            n = sp.ordinal(pod)
            await self.client.patch(podcontrol.PODS, m["name"], {"metadata": {"labels": {
                sp.POD_NAME_LABEL: m["name"], sp.POD_INDEX_LABEL: str(n)}}}, namespace=m["namespace"])
        return False

    async def _process_condemned(self, sts: Obj, pod: Obj, first_unhealthy: Obj | None, monotonic: bool,
                                 min_ready: int, now) -> bool:
        if podcontrol.is_being_deleted(pod):
            return monotonic
        if monotonic and pod is not first_unhealthy and \
                not sp.is_running_and_available(pod, min_ready, now):
            return True
        await self._delete_pod(sts, pod)
        return True

    # --- pod and claim writes (stateful_pod_control.go) ---

    async def _create_claims(self, sts: Obj, pod: Obj) -> None:
        for pvc in sp.claims(sts, sp.ordinal(pod)).values():
            m = pvc["metadata"]
            existing = self.pvcs.store.get_by(m["namespace"], m["name"])
            if existing is not None:
                if podcontrol.meta(existing).get("deletionTimestamp"):
                    raise RuntimeError(f"pvc {m['name']} is being deleted")
                continue
            try:
                await self.client.create(sp.PVCS, pvc)
            except status.StatusError as e:
                if e.code == 409 and e.reason == "AlreadyExists":
                    continue
                self._event(sts, "Warning", "FailedCreate",
                            f"create Claim {m['name']} for Pod {podcontrol.meta(pod)['name']} in StatefulSet "
                            f"{podcontrol.meta(sts)['name']} failed error: {e}")
                raise
            self._event(sts, "Normal", "SuccessfulCreate",
                        f"create Claim {m['name']} Pod {podcontrol.meta(pod)['name']} in StatefulSet "
                        f"{podcontrol.meta(sts)['name']} success")

    async def _create_pod(self, sts: Obj, pod: Obj) -> None:
        await self._create_claims(sts, pod)
        name, set_name = podcontrol.meta(pod)["name"], podcontrol.meta(sts)["name"]
        try:
            await self.client.create(podcontrol.PODS, pod)
        except status.StatusError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                raise  # the cache is behind: retry once it has caught up
            self._event(sts, "Warning", "FailedCreate",
                        f"create Pod {name} in StatefulSet {set_name} failed error: {e}")
            raise
        self._event(sts, "Normal", "SuccessfulCreate",
                    f"create Pod {name} in StatefulSet {set_name} successful")

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        m, set_name = podcontrol.meta(pod), podcontrol.meta(sts)["name"]
        try:
            await self.client.delete(podcontrol.PODS, m["name"], m["namespace"])
        except status.StatusError as e:
            if e.code == 404:
                return
            self._event(sts, "Warning", "FailedDelete",
                        f"delete Pod {m['name']} in StatefulSet {set_name} failed error: {e}")
            raise
        self._event(sts, "Normal", "SuccessfulDelete",
                    f"delete Pod {m['name']} in StatefulSet {set_name} successful")

    def _event(self, sts: Obj, type_: str, reason: str, message: str) -> None:
        self.recorder.event(sts, type_, reason, message)

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: Obj,
                                update: Obj) -> None:
        live = {podcontrol.meta(current)["name"], podcontrol.meta(update)["name"]} | \
            {sp.revision_of(p) for p in pods}
        old = [r for r in revisions if podcontrol.meta(r)["name"] not in live]
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        if limit < 0 or len(old) <= limit:
            return
        for rev in old[:len(old) - limit]:
            await history.delete(self.client, rev)

    async def _write_status(self, sts: Obj, new: Obj) -> None:
        """updateStatefulSetStatus: complete a finished rolling update, write if changed."""
        strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and new["updatedReplicas"] == new["replicas"] \
                and new["readyReplicas"] == new["replicas"]:
            new["currentReplicas"] = new["updatedReplicas"]
            new["currentRevision"] = new["updateRevision"]
        old = sts.get("status") or {}
        if old.get("observedGeneration", 0) >= new["observedGeneration"] and \
                all(old.get(k, 0 if isinstance(v, int) else "") == v for k, v in new.items()):
            return
        await status_writing.update_status(self.client, STATEFULSETS, sts,
                                           lambda obj: {**(obj.get("status") or {}), **new},
                                           attempts=3, conflicts_only=True)


def _selector(sts: Obj) -> labels.Selector:
    try:
        return labels.from_label_selector((sts.get("spec") or {}).get("selector"))
    except labels.SelectorError:
        return labels.nothing()
