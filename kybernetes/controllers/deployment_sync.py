"""The deployment controller's replica set work, as upstream's sync.go: find or
create the new replica set (with the pod-template-hash and the next revision),
scale replica sets (proportionally while a rollout is in flight), clean up old
revisions beyond revisionHistoryLimit, and write the deployment's status.

``DeploymentSync`` is a mixin of ``deployment.DeploymentController``. The
replica set lists it is given are the sync's own: a replica set it updates is
replaced in the list, so later steps of the same sync see the new version.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import registry, status
from kybernetes.client import events, rest
from kybernetes.client import clock as clocks
from kybernetes.controllers import deployment_replicasets as rsutil
from kybernetes.controllers import deployment_status as dstatus
from kybernetes.controllers import deployment_util as util
from kybernetes.controllers import podcontrol
from kybernetes.controllers.podcontrol import meta

log = logging.getLogger(__name__)

REPLICASETS = registry.lookup("apps", "v1", "replicasets")
DEPLOYMENTS = registry.lookup("apps", "v1", "deployments")


def _replace(rs_list: list[dict], rs: dict) -> None:
    uid = meta(rs).get("uid")
    for i, old in enumerate(rs_list):
        if meta(old).get("uid") == uid:
            rs_list[i] = rs


class DeploymentSync:
    client: rest.Client
    recorder: events.EventRecorder
    clock: clocks.Clock
    rs_informer: object

    async def update_status(self, d: dict) -> None:
        """PUT the deployment's status (and, as deployments/status allows, its annotations);
        ``d`` takes the new resourceVersion so the same sync can write again."""
        d["status"] = dstatus.compact_status(d.get("status") or {})
        updated = await self.client.update(DEPLOYMENTS, d, subresource="status")
        d["metadata"]["resourceVersion"] = meta(updated).get("resourceVersion")

    async def all_rss_and_sync_revision(self, d: dict, rs_list: list[dict],
                                        create: bool) -> tuple[dict | None, list[dict]]:
        """getAllReplicaSetsAndSyncRevision: (new replica set or None, all old ones)."""
        _, olds = rsutil.find_old_rss(d, rs_list)
        new = await self.new_replica_set(d, rs_list, olds, create)
        return new, olds

    async def new_replica_set(self, d: dict, rs_list: list[dict], olds: list[dict],
                              create: bool) -> dict | None:
        """getNewReplicaSet: the replica set running the deployment's template, its revision
        brought to max(old revisions) + 1; created (if ``create``) when there is none."""
        existing = rsutil.find_new_rs(d, rs_list)
        new_revision = str(util.max_revision(olds) + 1)
        now = self.clock.now()
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = util.set_new_rs_annotations(d, rs, new_revision, True)
            min_ready = util.spec(d).get("minReadySeconds", 0) or 0
            if changed or (util.spec(rs).get("minReadySeconds", 0) or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                rs = await self.client.update(REPLICASETS, rs)
                _replace(rs_list, rs)
                return rs
            needs_update = self._set_revision(d, util.annotations(rs).get(util.REVISION, ""))
            if dstatus.has_progress_deadline(d) and dstatus.get_condition(d.get("status") or {}, "Progressing") is None:
                dstatus.set_condition(d.setdefault("status", {}), dstatus.new_condition(
                    "Progressing", "True", util.FOUND_NEW_RS, f'Found new replica set "{meta(rs)["name"]}"', now))
                needs_update = True
            if needs_update:
                await self.update_status(d)
            return rs
        if not create:
            return None
        return await self._create_new_replica_set(d, rs_list, olds, new_revision)

    def _set_revision(self, d: dict, revision: str) -> bool:
        ann = d["metadata"].setdefault("annotations", {})
        if ann.get(util.REVISION) == revision:
            return False
        ann[util.REVISION] = revision
        return True

    async def _create_new_replica_set(self, d: dict, rs_list: list[dict], olds: list[dict],
                                      new_revision: str) -> dict:
        dm, spec = meta(d), util.spec(d)
        collision = (d.get("status") or {}).get("collisionCount")
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = util.compute_hash(template, collision)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), util.UNIQUE_LABEL_KEY: pod_hash}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), util.UNIQUE_LABEL_KEY: pod_hash}
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{dm['name']}-{pod_hash}", "namespace": dm["namespace"],
                           "ownerReferences": [podcontrol.controller_ref(d, "apps/v1", "Deployment")],
                           "labels": dict(tmeta["labels"])},
              "spec": {"replicas": 0, "selector": selector, "template": template}}
        if spec.get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = spec["minReadySeconds"]
        count = rsutil.new_rs_new_replicas(d, olds + [rs], rs)
        rs["spec"]["replicas"] = count
        util.set_new_rs_annotations(d, rs, new_revision, False)
        now = self.clock.now()
        already_exists = False
        try:
            created = await self.client.create(REPLICASETS, rs, dm["namespace"])
        except status.StatusError as e:
            if e.reason == "AlreadyExists":
                found = self.rs_informer.store.get_by(dm["namespace"], rs["metadata"]["name"])
                if found is None:
                    raise
                ref = podcontrol.controller_of(found)
                if ref is not None and ref.get("uid") == dm["uid"] and util.equal_ignore_hash(
                        spec.get("template") or {}, util.spec(found).get("template") or {}):
                    created, already_exists = found, True
                else:
                    # A hash collision: bump collisionCount; the next sync hashes differently.
                    d.setdefault("status", {})["collisionCount"] = (collision or 0) + 1
                    log.info("deployment %s/%s: hash collision, collisionCount now %d", dm["namespace"],
                             dm["name"], d["status"]["collisionCount"])
                    await self.update_status(d)
                    raise
            elif podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                raise
            else:
                msg = f'Failed to create new replica set "{rs["metadata"]["name"]}": {e}'
                if dstatus.has_progress_deadline(d):
                    dstatus.set_condition(d.setdefault("status", {}), dstatus.new_condition(
                        "Progressing", "False", util.FAILED_RS_CREATE, msg, now))
                    try:
                        await self.update_status(d)
                    except (status.StatusError, rest.ClientError):
                        pass
                self.recorder.event(d, "Warning", util.FAILED_RS_CREATE, msg)
                raise
        if not already_exists:
            rs_list.append(created)
            if count > 0:
                self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                    f"Scaled up replica set {meta(created)['name']} from 0 to {count}")
        needs_update = self._set_revision(d, new_revision)
        if not already_exists and dstatus.has_progress_deadline(d):
            dstatus.set_condition(d.setdefault("status", {}), dstatus.new_condition(
                "Progressing", "True", util.NEW_RS_CREATED,
                f'Created new replica set "{meta(created)["name"]}"', now))
            needs_update = True
        if needs_update:
            await self.update_status(d)
        return created

    # --- scaling ---

    async def scale_replica_set(self, rs: dict, new_scale: int, d: dict, rs_list: list[dict] | None = None,
                                *, only_if_size_differs: bool = False) -> tuple[bool, dict]:
        """scaleReplicaSet (scaleReplicaSetAndRecordEvent with ``only_if_size_differs``): set
        the size and the desired/max-replicas annotations; an event when the size changed."""
        old_scale = util.replicas(rs)
        if only_if_size_differs and old_scale == new_scale:
            return False, rs
        desired, most = util.replicas(d), util.replicas(d) + util.max_surge(d)
        size_changed = old_scale != new_scale
        if not size_changed and not util.replicas_annotations_need_update(rs, desired, most):
            return False, rs
        rs_copy = copy.deepcopy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        util.set_replicas_annotations(rs_copy, desired, most)
        updated = await self.client.update(REPLICASETS, rs_copy)
        if rs_list is not None:
            _replace(rs_list, updated)
        if size_changed:
            direction = "up" if old_scale < new_scale else "down"
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {meta(updated)['name']} "
                                f"from {old_scale} to {new_scale}")
        return size_changed, updated

    async def scale(self, d: dict, new: dict | None, olds: list[dict], rs_list: list[dict]) -> None:
        """scale: follow a change of spec.replicas; while several replica sets are active,
        spread the change over them in proportion to their sizes."""
        target = rsutil.find_active_or_latest(new, olds)
        if target is not None:
            if util.replicas(target) != util.replicas(d):
                await self.scale_replica_set(target, util.replicas(d), d, rs_list, only_if_size_differs=True)
            return
        if rsutil.is_saturated(d, new):
            for old in rsutil.filter_active(olds):
                await self.scale_replica_set(old, 0, d, rs_list, only_if_size_differs=True)
            return
        if not util.is_rolling_update(d):
            return
        active = rsutil.filter_active(olds + [new])
        allowed = util.replicas(d) + util.max_surge(d) if util.replicas(d) > 0 else 0
        to_add = allowed - rsutil.spec_total(active)
        if to_add > 0:
            active = rsutil.sort_by_size_newer(active)
        elif to_add < 0:
            active = rsutil.sort_by_size_older(active)
        added, sizes = 0, {}
        for rs in active:
            share = rsutil.proportion(rs, d, to_add, added) if to_add else 0
            sizes[meta(rs)["name"]] = util.replicas(rs) + share
            added += share
        for i, rs in enumerate(active):
            name = meta(rs)["name"]
            if i == 0 and to_add:
                # Leftovers go to the largest replica set.
                sizes[name] = max(sizes[name] + to_add - added, 0)
            await self.scale_replica_set(rs, sizes[name], d, rs_list)

    async def cleanup(self, olds: list[dict], d: dict) -> None:
        """cleanupDeployment: delete the oldest replica sets beyond revisionHistoryLimit,
        only those scaled to zero, settled and not already being deleted."""
        limit = util.spec(d).get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in olds if rs is not None and not podcontrol.is_being_deleted(rs)]
        diff = len(cleanable) - limit
        if diff <= 0:
            return
        for rs in sorted(cleanable, key=rsutil.by_revision)[:diff]:
            st, m = rs.get("status") or {}, meta(rs)
            if st.get("replicas", 0) != 0 or util.replicas(rs) != 0 or \
                    m.get("generation", 0) > st.get("observedGeneration", 0):
                continue
            log.info("deployment %s/%s: deleting old replica set %s", meta(d).get("namespace"),
                     meta(d)["name"], m["name"])
            try:
                await self.client.delete(REPLICASETS, m["name"], m["namespace"])
            except status.StatusError as e:
                if e.code != 404:
                    raise

    async def sync_deployment_status(self, all_rss: list[dict | None], new: dict | None, d: dict) -> None:
        """syncDeploymentStatus: write the computed status if it changed."""
        new_status = dstatus.calculate_status(all_rss, new, d, self.clock.now())
        if new_status == dstatus.compact_status(d.get("status") or {}):
            return
        d["status"] = new_status
        await self.update_status(d)
