"""One pass of the Job controller over one job (``syncJob`` and ``manageJob``
in ``job_controller.go``; the status half is ``job_status``).

``JobSync`` holds what upstream keeps in ``syncJobCtx``: the job copy being
written, its pods, the active ones, counters and the condition the job is
heading for. Status is written with PUT on ``jobs/status``; every write
returns the job the next one builds on.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kybernetes.api import labels, status
from kybernetes.client import indexer
from kybernetes.controllers import job_status, podcontrol, podutil
from kybernetes.controllers import job_tracking as jt

if TYPE_CHECKING:
    from kybernetes.controllers.job import JobController

JOBS = job_status.JOBS
remove_finalizer = job_status.remove_finalizer
MAX_PER_SYNC = 500
Obj = dict[str, Any]


def selector(job: Obj) -> labels.Selector:
    try:
        return labels.from_label_selector(jt.spec(job).get("selector"))
    except labels.SelectorError:
        return labels.nothing()


def ttl_remaining(job: Obj, ttl: int, now: datetime) -> float | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            finished = podcontrol.parse_time(c.get("lastTransitionTime"))
            return None if finished is None else ttl - (now - finished).total_seconds()
    return None


class JobSync(job_status.StatusTracking):
    def __init__(self, jc: JobController, key: str, job: Obj):
        self.jc, self.client, self.key, self.job = jc, jc.client, key, job
        self.now = jc.clock.now()
        self.now_str = podcontrol.format_time(self.now)

    @property
    def status(self) -> Obj:
        return self.job.setdefault("status", {})

    async def run(self) -> None:
        job, st = self.job, self.status
        original = copy.deepcopy(st)
        uncounted = st.setdefault("uncountedTerminatedPods", {})
        satisfied = self.jc.expectations.satisfied(self.key)
        self.pods = await self._claim()
        self.active = [p for p in self.pods if podutil.is_pod_active(p)]
        self.ready = sum(1 for p in self.active if podutil.is_pod_ready(p))
        self.terminating = jt.count_terminating(self.pods)
        self.expected_rm = set(self.jc.finalizer_expectations.get(self.key, set()))
        unc_succ, unc_fail = set(uncounted.get("succeeded") or []), set(uncounted.get("failed") or [])
        new_succ = self._new_finished(unc_succ, lambda p: podutil.phase(p) == "Succeeded")
        new_fail = self._new_finished(unc_fail, lambda p: jt.is_pod_failed(p, job))
        self.succeeded = st.get("succeeded", 0) + len(new_succ) + len(unc_succ)
        failed = st.get("failed", 0) + len(new_fail) + len(unc_fail)
        suspended = bool(jt.spec(job).get("suspend"))
        if not st.get("startTime") and not suspended:
            st["startTime"] = self.now_str
        self.backoff = self.jc.backoff.get(self.key, jt.BackoffRecord()).next(new_succ, new_fail)

        finished = jt.find_condition(job, "SuccessCriteriaMet")
        finished = finished if finished and finished.get("status") == "True" else None
        if finished is None and jt.condition_true(job, "FailureTarget"):
            target = jt.find_condition(job, "FailureTarget")
            finished = jt.new_condition("Failed", target.get("reason", ""), target.get("message", ""),
                                        self.now_str)
        if finished is None:
            backoff_limit = int(jt.spec(job).get("backoffLimit", 6))
            deadline = jt.spec(job).get("activeDeadlineSeconds")
            elapsed = (self.now - podcontrol.parse_time(st["startTime"])).total_seconds() \
                if st.get("startTime") else 0.0
            if failed > backoff_limit or self._past_backoff_limit_on_failure(backoff_limit):
                finished = jt.new_condition("FailureTarget", "BackoffLimitExceeded",
                                            "Job has reached the specified backoff limit", self.now_str)
            elif deadline is not None and not suspended and elapsed >= int(deadline):
                finished = jt.new_condition("FailureTarget", "DeadlineExceeded",
                                            "Job was active longer than specified deadline", self.now_str)
            elif deadline is not None and not suspended:
                self.jc.queue.add_after(self.key, int(deadline) - elapsed)
        self.prev_indexes, self.indexes = set(), set()
        if jt.is_indexed(job):
            self.prev_indexes, self.indexes = jt.succeeded_indexes(job, self.pods)
            self.succeeded = len(self.indexes)

        active, suspend_changed, manage_error = len(self.active), False, None
        if finished is not None:
            deleted_ready, deleted, manage_error = await self._delete(self.active, remove_finalizers=False)
            if deleted != active or not satisfied:
                finished = None  # pods may still appear or hold finalizers: finish later
            active -= deleted
            self.terminating += deleted
            self.ready -= deleted_ready
        else:
            managed = satisfied and not podcontrol.meta(job).get("deletionTimestamp")
            if managed:
                active, manage_error = await self._manage()
            completions = jt.completions(job)
            if self.succeeded >= (completions if completions is not None else 1) and active == 0:
                finished = jt.new_condition("SuccessCriteriaMet", "", "", self.now_str)
            elif managed:
                if suspended:
                    suspend_changed = jt.ensure_condition(job, "Suspended", "True", "JobSuspended",
                                                          "Job suspended", self.now_str)
                    if suspend_changed:
                        self.jc.recorder.event(job, "Normal", "Suspended", "Job suspended")
                else:
                    suspend_changed = jt.ensure_condition(job, "Suspended", "False", "JobResumed",
                                                          "Job resumed", self.now_str)
                    if suspend_changed:
                        self.jc.recorder.event(job, "Normal", "Resumed", "Job resumed")
                        st["startTime"] = self.now_str
        st["active"], st["ready"], st["terminating"] = active, self.ready, self.terminating
        needs_flush = suspend_changed or any(original.get(k) != st[k] for k in ("active", "ready",
                                                                                  "terminating"))
        needs_flush = needs_flush or original.get("startTime") != st.get("startTime")
        await self._track(finished, needs_flush, unc_succ, unc_fail)
        if manage_error is not None:
            raise manage_error

    # --- pods ---

    async def _claim(self) -> list[Obj]:
        job = self.job
        ns_pods = self.jc.pods.store.by_index(indexer.NAMESPACE_INDEX, podcontrol.meta(job)["namespace"])
        before = {podcontrol.meta(p).get("uid") for p in ns_pods if podcontrol.is_controlled_by(p, job)}
        manager = podcontrol.ControllerRefManager(self.client, podcontrol.PODS, job, selector(job),
                                                  "batch/v1", "Job")
        pods = await manager.claim(ns_pods)
        out = []
        for pod in pods:
            if podcontrol.meta(pod).get("uid") not in before and not jt.has_finalizer(pod):
                # Adopted: upstream adds the tracking finalizer in the adoption patch.
                m = podcontrol.meta(pod)
                await self.client.patch(podcontrol.PODS, m["name"], {"metadata": {"finalizers": [
                    *(m.get("finalizers") or []), jt.TRACKING_FINALIZER]}}, namespace=m["namespace"])
                pod = copy.deepcopy(pod)
                pod["metadata"].setdefault("finalizers", []).append(jt.TRACKING_FINALIZER)
            out.append(pod)
        return out

    def _new_finished(self, uncounted: set[str], accept: Any) -> list[Obj]:
        """getValidPodsWithFilter: finished pods still holding the finalizer, not yet counted."""
        out = []
        for p in self.pods:
            uid = podcontrol.meta(p).get("uid")
            if not jt.has_finalizer(p) or uid in uncounted or uid in self.expected_rm:
                continue
            if jt.is_indexed(self.job) and not jt.valid_index(self.job, p):
                continue
            if accept(p):
                out.append(p)
        return out

    def _past_backoff_limit_on_failure(self, limit: int) -> bool:
        if ((jt.spec(self.job).get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
            return False
        total = 0
        for p in self.pods:
            if podutil.phase(p) in ("Running", "Pending"):
                st = p.get("status") or {}
                total += sum(c.get("restartCount", 0) for c in (st.get("initContainerStatuses") or []) +
                             (st.get("containerStatuses") or []))
        return total > 0 if limit == 0 else total >= limit

    async def _delete(self, pods: list[Obj], remove_finalizers: bool) -> tuple[int, int, Exception | None]:
        """deleteActivePods / deleteJobPods: (ready deleted, deleted, first error)."""
        async def one(pod: Obj) -> bool:
            m = podcontrol.meta(pod)
            try:
                if remove_finalizers and jt.has_finalizer(pod):
                    await remove_finalizer(self.client, pod)
                await self.client.delete(podcontrol.PODS, m["name"], m["namespace"])
            except status.StatusError as e:
                if remove_finalizers:
                    self.jc.expectations.deletion_observed(self.key)
                if e.code != 404:
                    raise
            return podutil.is_pod_ready(pod)

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        return sum(1 for r in results if r is True), len(pods) - len(errors), errors[0] if errors else None

    async def _manage(self) -> tuple[int, Exception | None]:
        """manageJob: delete surplus pods or create missing ones; returns (active, error)."""
        job, active = self.job, len(self.active)
        spec = jt.spec(job)
        if spec.get("suspend"):
            return await self._remove(self.active, active)
        parallelism = int(spec.get("parallelism", 1))
        completions = jt.completions(job)
        if completions is None:
            want = active if self.succeeded > 0 else parallelism
        else:
            want = max(0, min(completions - self.succeeded, parallelism))
        to_remove, rest_ = ([], self.active)
        if jt.is_indexed(job):
            to_remove, rest_ = jt.surplus_indexed(job, self.active)
        excess = max(0, active - want) - len(to_remove)
        if excess > 0:
            to_remove += sorted(rest_, key=podutil.active_pods_key)[:excess]
        if to_remove:
            return await self._remove(to_remove[:MAX_PER_SYNC], active)
        diff = want - (self.terminating if jt.only_replace_failed(job) else 0) - active
        if diff <= 0:
            return active, None
        base, cap = self.jc.pod_failure_backoff
        remaining = self.backoff.remaining(self.now, base, cap)
        if remaining > 0:
            self.jc.queue.add_after(self.key, remaining)
            return active, None
        diff = min(diff, MAX_PER_SYNC)
        indexes: list[int] = []
        if jt.is_indexed(job):
            indexes = jt.first_pending_indexes(job, self.active, self.indexes, diff)
            diff = len(indexes)
        return active + await self._create(diff, indexes), None

    async def _remove(self, pods: list[Obj], active: int) -> tuple[int, Exception | None]:
        self.jc.expectations.set(self.key, 0, len(pods))
        removed_ready, removed, error = await self._delete(pods, remove_finalizers=True)
        self.terminating += removed
        self.ready -= removed_ready
        return active - removed, error

    async def _create(self, count: int, indexes: list[int]) -> int:
        job = self.job
        name, ns = podcontrol.meta(job)["name"], podcontrol.meta(job)["namespace"]
        self.jc.expectations.expect_creations(self.key, count)
        template = copy.deepcopy(jt.spec(job).get("template") or {})
        if jt.is_indexed(job):
            jt.add_index_env(template.setdefault("spec", {}))
        tmeta = template.setdefault("metadata", {})
        if jt.TRACKING_FINALIZER not in (tmeta.get("finalizers") or []):
            tmeta["finalizers"] = [*(tmeta.get("finalizers") or []), jt.TRACKING_FINALIZER]
        ref = podcontrol.controller_ref(job, "batch/v1", "Job")

        async def create(ix: int | None) -> None:
            pod_template, generate = template, None
            if ix is not None:
                pod_template = copy.deepcopy(template)
                pod_template["metadata"].setdefault("annotations", {})[jt.COMPLETION_INDEX] = str(ix)
                pod_template["metadata"].setdefault("labels", {})[jt.COMPLETION_INDEX] = str(ix)
                pod_template["spec"]["hostname"] = f"{name}-{ix}"
                generate = f"{name}-{ix}-"
            try:
                await self.jc.pod_control.create_pod(ns, pod_template, job, ref, generate_name=generate)
            except status.StatusError as e:
                # Every create fails in a terminating namespace: nothing to do about it.
                if not podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                    raise

        # Each call takes the next index (none when NonIndexed), in order, when its batch starts it.
        pending = iter(indexes or [None] * count)
        done, error = await podcontrol.slow_start_batch(count, 1, lambda: create(next(pending)))
        if done < count:
            # Failed or never attempted: the informer will not observe these.
            self.jc.expectations.lower(self.key, count - done, 0)
        if error is not None:
            raise error
        return done
