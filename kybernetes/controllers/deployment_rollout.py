"""Rolling out a deployment's template, as upstream's rolling.go, recreate.go and
progress.go.

RollingUpdate grows the new replica set while the sum of all replica sets'
sizes stays within ``replicas + maxSurge``, and shrinks old ones while the
available pods stay at least ``replicas - maxUnavailable`` (unhealthy old
replicas go first). Recreate scales every old replica set to zero, waits
until none of their pods is left, then scales the new one up. After either,
the Progressing condition records progress, completion or a missed
progressDeadlineSeconds, and a deployment still in flight is requeued for
when its deadline would pass.

``DeploymentRollout`` is a mixin of ``deployment.DeploymentController``.
"""

from __future__ import annotations

import logging

from kybernetes.controllers import deployment_replicasets as rsutil
from kybernetes.controllers import deployment_status as dstatus
from kybernetes.controllers import deployment_util as util
from kybernetes.controllers.deployment_sync import DeploymentSync
from kybernetes.controllers.podcontrol import meta, parse_time

log = logging.getLogger(__name__)


def effective_available(rss: list[dict | None]) -> int:
    """Available pods the replica sets will keep: a replica set just scaled down may
    still report the pods it is deleting, so count no more than its size. (Upstream
    sums status.availableReplicas; this only differs while a status is stale, where
    it keeps maxUnavailable from being overrun.)"""
    return sum(min((rs.get("status") or {}).get("availableReplicas", 0), util.replicas(rs))
               for rs in rss if rs is not None)


class DeploymentRollout(DeploymentSync):
    # --- RollingUpdate (rolling.go) ---

    async def rollout_rolling(self, d: dict, rs_list: list[dict]) -> None:
        new, olds = await self.all_rss_and_sync_revision(d, rs_list, True)
        all_rss = olds + [new]
        if await self.reconcile_new_replica_set(all_rss, new, d, rs_list):
            return await self.sync_rollout_status(self._current(rs_list, all_rss), self._current(rs_list, [new])[0], d)
        olds = self._current(rs_list, olds)
        new = self._current(rs_list, [new])[0]
        if await self.reconcile_old_replica_sets(olds + [new], rsutil.filter_active(olds), new, d, rs_list):
            return await self.sync_rollout_status(self._current(rs_list, olds + [new]), new, d)
        if dstatus.deployment_complete(d, d.get("status") or {}):
            await self.cleanup(olds, d)
        await self.sync_rollout_status(olds + [new], new, d)

    @staticmethod
    def _current(rs_list: list[dict], rss: list[dict | None]) -> list[dict | None]:
        """The sync's latest version of each replica set."""
        by_uid = {meta(rs).get("uid"): rs for rs in rs_list}
        return [by_uid.get(meta(rs).get("uid"), rs) if rs is not None else None for rs in rss]

    async def reconcile_new_replica_set(self, all_rss: list[dict | None], new: dict, d: dict,
                                        rs_list: list[dict]) -> bool:
        desired = util.replicas(d)
        if util.replicas(new) == desired:
            return False
        if util.replicas(new) > desired:
            scaled, _ = await self.scale_replica_set(new, desired, d, rs_list, only_if_size_differs=True)
            return scaled
        count = rsutil.new_rs_new_replicas(d, all_rss, new)
        scaled, _ = await self.scale_replica_set(new, count, d, rs_list, only_if_size_differs=True)
        return scaled

    async def reconcile_old_replica_sets(self, all_rss: list[dict | None], olds: list[dict], new: dict,
                                         d: dict, rs_list: list[dict]) -> bool:
        if rsutil.spec_total(olds) == 0:
            return False
        min_available = util.replicas(d) - util.max_unavailable(d)
        new_unavailable = util.replicas(new) - (new.get("status") or {}).get("availableReplicas", 0)
        max_scaled_down = rsutil.spec_total(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        # Unhealthy replicas first: removing them costs no availability (kubernetes#16737).
        olds, cleaned = await self._cleanup_unhealthy(olds, d, max_scaled_down, rs_list)
        if cleaned < 0:
            return False
        scaled = await self._scale_down_old_for_rolling(olds + [new], olds, d, rs_list)
        return cleaned + scaled > 0

    async def _cleanup_unhealthy(self, olds: list[dict], d: dict, max_cleanup: int,
                                 rs_list: list[dict]) -> tuple[list[dict], int]:
        olds = sorted(olds, key=rsutil.by_creation)
        total = 0
        for i, rs in enumerate(olds):
            if total >= max_cleanup:
                break
            size = util.replicas(rs)
            available = (rs.get("status") or {}).get("availableReplicas", 0)
            if size == 0 or size == available:
                continue
            if size < available:
                # Its status predates its last scale-down; upstream refuses the (negative)
                # scale-down and scales nothing until the status catches up.
                log.info("deployment %s: replica set %s reports more available pods than its size",
                         meta(d)["name"], meta(rs)["name"])
                return olds, -1
            count = min(max_cleanup - total, size - available)
            _, olds[i] = await self.scale_replica_set(rs, size - count, d, rs_list, only_if_size_differs=True)
            total += count
        return olds, total

    async def _scale_down_old_for_rolling(self, all_rss: list[dict | None], olds: list[dict], d: dict,
                                          rs_list: list[dict]) -> int:
        min_available = util.replicas(d) - util.max_unavailable(d)
        available = effective_available(all_rss)
        if available <= min_available:
            return 0
        total, budget = 0, available - min_available
        for rs in sorted(olds, key=rsutil.by_creation):
            if total >= budget:
                break
            size = util.replicas(rs)
            if size == 0:
                continue
            count = min(size, budget - total)
            await self.scale_replica_set(rs, size - count, d, rs_list, only_if_size_differs=True)
            total += count
        return total

    # --- Recreate (recreate.go) ---

    async def rollout_recreate(self, d: dict, rs_list: list[dict], pod_map: dict[str, list[dict]]) -> None:
        # No new replica set yet: never scale up before everything old is gone.
        new, olds = await self.all_rss_and_sync_revision(d, rs_list, False)
        scaled = False
        for rs in rsutil.filter_active(olds):
            changed, _ = await self.scale_replica_set(rs, 0, d, rs_list, only_if_size_differs=True)
            scaled = scaled or changed
        olds = self._current(rs_list, olds)
        if scaled or self._old_pods_running(new, olds, pod_map):
            return await self.sync_rollout_status(olds + [new], new, d)
        if new is None:
            new, olds = await self.all_rss_and_sync_revision(d, rs_list, True)
        _, new = await self.scale_replica_set(new, util.replicas(d), d, rs_list, only_if_size_differs=True)
        if dstatus.deployment_complete(d, d.get("status") or {}):
            await self.cleanup(olds, d)
        await self.sync_rollout_status(olds + [new], new, d)

    @staticmethod
    def _old_pods_running(new: dict | None, olds: list[dict], pod_map: dict[str, list[dict]]) -> bool:
        if sum((rs.get("status") or {}).get("replicas", 0) for rs in olds) > 0:
            return True
        new_uid = meta(new).get("uid") if new is not None else None
        for uid, pods in pod_map.items():
            if uid == new_uid:
                continue
            if any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for p in pods):
                return True
        return False

    # --- progress (progress.go) ---

    async def sync_rollout_status(self, all_rss: list[dict | None], new: dict | None, d: dict) -> None:
        """syncRolloutStatus: the status plus the Progressing condition."""
        now = self.clock.now()
        new_status = dstatus.calculate_status(all_rss, new, d, now)
        if not dstatus.has_progress_deadline(d):
            dstatus.remove_condition(new_status, "Progressing")
        current = dstatus.get_condition(d.get("status") or {}, "Progressing")
        complete_before = new_status.get("replicas", 0) == new_status.get("updatedReplicas", 0) and \
            current is not None and current.get("reason") == util.NEW_RS_AVAILABLE
        name = meta(d)["name"]
        subject = f'ReplicaSet "{meta(new)["name"]}"' if new is not None else f'Deployment "{name}"'
        if dstatus.has_progress_deadline(d) and not complete_before:
            if dstatus.deployment_complete(d, new_status):
                dstatus.set_condition(new_status, dstatus.new_condition(
                    "Progressing", "True", util.NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now))
            elif dstatus.deployment_progressing(d, new_status):
                cond = dstatus.new_condition("Progressing", "True", util.REPLICA_SET_UPDATED,
                                          f"{subject} is progressing.", now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    dstatus.remove_condition(new_status, "Progressing")
                dstatus.set_condition(new_status, cond)
            elif dstatus.deployment_timed_out(d, new_status, now):
                dstatus.set_condition(new_status, dstatus.new_condition(
                    "Progressing", "False", util.TIMED_OUT, f"{subject} has timed out progressing.", now))
        failures = self._replica_failures(all_rss, new)
        if failures:
            dstatus.set_condition(new_status, failures[0])
        else:
            dstatus.remove_condition(new_status, "ReplicaFailure")
        new_status = dstatus.compact_status(new_status)
        if new_status == dstatus.compact_status(d.get("status") or {}):
            self._requeue_stuck(d, new_status)
            return
        d["status"] = new_status
        await self.update_status(d)

    @staticmethod
    def _replica_failures(all_rss: list[dict | None], new: dict | None) -> list[dict]:
        def conds(rss):
            return [{"type": c["type"], "status": c.get("status"),
                     "lastUpdateTime": c.get("lastTransitionTime"),
                     "lastTransitionTime": c.get("lastTransitionTime"),
                     "reason": c.get("reason"), "message": c.get("message")}
                    for rs in rss if rs is not None
                    for c in (rs.get("status") or {}).get("conditions") or ()
                    if c.get("type") == "ReplicaFailure"]
        return conds([new]) or conds(all_rss)

    def _requeue_stuck(self, d: dict, new_status: dict) -> None:
        """Check again when the progress deadline would pass (requeueStuckDeployment)."""
        current = dstatus.get_condition(d.get("status") or {}, "Progressing")
        if not dstatus.has_progress_deadline(d) or current is None:
            return
        if dstatus.deployment_complete(d, new_status) or current.get("reason") == util.TIMED_OUT:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        deadline = util.spec(d)["progressDeadlineSeconds"]
        after = (since - self.clock.now()).total_seconds() + deadline
        key = f"{meta(d)['namespace']}/{meta(d)['name']}"
        if after < 1:
            self.queue.add_rate_limited(key)
        else:
            self.queue.add_after(key, after + 1)
