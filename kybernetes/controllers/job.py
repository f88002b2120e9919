"""The Job controller: run pods until enough succeed, or give up.

As ``job_controller.go`` (1.32): ``sync(key)`` claims the job's pods (adding
the tracking finalizer to adopted ones), counts newly finished pods through
``status.uncountedTerminatedPods`` and finalizer removal (``job_tracking``),
keeps ``min(parallelism, completions - succeeded)`` pods active (NonIndexed:
``<job>-<random>``; Indexed: the lowest pending completion indexes, pods
``<job>-<index>-<random>`` with hostname ``<job>-<index>``), re-creating
failed ones after an exponential back-off (10 s doubling to 10 min).

Terminal states go in two steps, as with 1.32's default feature gates: the
interim condition (``SuccessCriteriaMet`` when completions are reached;
``FailureTarget`` with reason BackoffLimitExceeded or DeadlineExceeded) is
written first and active pods are deleted; ``Complete`` (with
completionTime) or ``Failed`` follows once no pod is terminating and every
pod is counted. ``ttlSecondsAfterFinished`` is enforced here too (the
ttl-after-finished controller's job: delete with Foreground propagation
and a UID precondition). Finalizers of pods whose job is gone are removed
through ``orphan:<ns>/<pod>`` keys on the same queue.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import status
from kybernetes.client import controller, indexer
from kybernetes.controllers import expectations, job_syncing, podcontrol
from kybernetes.controllers import job_tracking as jt
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

JOBS = job_syncing.JOBS
ORPHAN = "orphan:"
Obj = dict


class JobController:
    name = "job"
    sync_batch_period = 1.0              # syncJobBatchPeriod: pod events coalesce for this long
    pod_failure_backoff = (10.0, 600.0)  # DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff

    def __init__(self, ctx: Context):
        self.ctx, self.client, self.clock = ctx, ctx.client, ctx.clock
        self.queue = ctx.queue("job")
        self.recorder = ctx.recorder("job-controller")
        self.expectations = expectations.ControllerExpectations(ctx.clock)
        self.pod_control = podcontrol.PodControl(self.client, self.recorder)
        self.finalizer_expectations: dict[str, set[str]] = {}
        self.backoff: dict[str, jt.BackoffRecord] = {}
        self.jobs = ctx.informer("batch", "v1", "jobs")
        self.pods = ctx.informer("", "v1", "pods")
        self.jobs.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._job_deleted)
        self.pods.add_event_handler(self._pod_added, self._pod_updated,
                                    lambda pod: self._pod_deleted(pod, final=True))

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    # --- handlers ---

    def _enqueue(self, job: Obj) -> None:
        self.queue.add(indexer.key_of(job))

    def _job_deleted(self, job: Obj) -> None:
        self._enqueue(job)
        uid = podcontrol.meta(job).get("uid")
        ns = podcontrol.meta(job).get("namespace", "")
        for pod in self.pods.store.by_index(indexer.NAMESPACE_INDEX, ns):
            if (podcontrol.controller_of(pod) or {}).get("uid") == uid and jt.has_finalizer(pod):
                self.queue.add(ORPHAN + indexer.key_of(pod))

    def _job_of(self, pod: Obj) -> Obj | None:
        ref = podcontrol.controller_of(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        job = self.jobs.store.get_by(podcontrol.meta(pod).get("namespace"), ref.get("name", ""))
        return job if job is not None and podcontrol.meta(job).get("uid") == ref.get("uid") else None

    def _batched(self, job: Obj) -> None:
        self.queue.add_after(indexer.key_of(job), self.sync_batch_period)

    def _orphan_or_matching(self, pod: Obj) -> None:
        if jt.has_finalizer(pod):
            self.queue.add(ORPHAN + indexer.key_of(pod))
        if podcontrol.controller_of(pod) is None:
            ns = podcontrol.meta(pod).get("namespace", "")
            for job in self.jobs.store.by_index(indexer.NAMESPACE_INDEX, ns):
                if job_syncing.selector(job).matches(podcontrol.meta(pod).get("labels")):
                    self._batched(job)

    def _pod_added(self, pod: Obj) -> None:
        if podcontrol.is_being_deleted(pod):
            self._pod_deleted(pod, final=False)
            return
        job = self._job_of(pod)
        if job is None:
            self._orphan_or_matching(pod)
            return
        self.expectations.creation_observed(indexer.key_of(job))
        self._batched(job)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if podcontrol.meta(old).get("resourceVersion") == podcontrol.meta(new).get("resourceVersion"):
            return
        if podcontrol.is_being_deleted(new):
            self._pod_deleted(new, final=False)
            return
        old_ref, new_ref = podcontrol.controller_of(old), podcontrol.controller_of(new)
        if old_ref != new_ref and old_ref is not None:
            old_job = self._job_of(old)
            if old_job is not None:
                self._finalizer_observed(old_job, new)
                self._batched(old_job)
        job = self._job_of(new)
        if job is None:
            self._orphan_or_matching(new)
            return
        self._finalizer_observed(job, new)
        self._batched(job)

    def _pod_deleted(self, pod: Obj, final: bool) -> None:
        job = self._job_of(pod)
        if job is None:
            if jt.has_finalizer(pod) and not final:
                self.queue.add(ORPHAN + indexer.key_of(pod))
            return
        key = indexer.key_of(job)
        self.expectations.deletion_observed(key)
        if final or not jt.has_finalizer(pod):
            self.finalizer_expectations.get(key, set()).discard(podcontrol.meta(pod).get("uid"))
        self._batched(job)

    def _finalizer_observed(self, job: Obj, pod: Obj) -> None:
        if not jt.has_finalizer(pod):
            uid = podcontrol.meta(pod).get("uid")
            self.finalizer_expectations.get(indexer.key_of(job), set()).discard(uid)

    # --- sync ---

    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN):
            await self._sync_orphan(key[len(ORPHAN):])
            return
        shared = self.jobs.store.get(key)
        if shared is None:
            self.expectations.delete(key)
            self.finalizer_expectations.pop(key, None)
            self.backoff.pop(key, None)
            return
        managed_by = jt.spec(shared).get("managedBy")
        if managed_by and managed_by != "kubernetes.io/job-controller":
            return
        job = copy.deepcopy(shared)
        if jt.is_finished(job):
            self.backoff.pop(key, None)
            await self._expire(key, job)
            return
        mode = jt.spec(job).get("completionMode")
        if mode not in (None, "NonIndexed", "Indexed"):
            self.recorder.event(job, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return
        await job_syncing.JobSync(self, key, job).run()

    async def _sync_orphan(self, pod_key: str) -> None:
        """Remove the tracking finalizer from a pod no live, unfinished Job controls."""
        pod = self.pods.store.get(pod_key)
        if pod is None or not jt.has_finalizer(pod):
            return
        job = self._job_of(pod)
        if job is not None and not jt.is_finished(job):
            return
        await job_syncing.remove_finalizer(self.client, pod)

    async def _expire(self, key: str, job: Obj) -> None:
        """ttlafterfinished: delete a finished job once its TTL has passed."""
        ttl = jt.spec(job).get("ttlSecondsAfterFinished")
        if ttl is None or podcontrol.meta(job).get("deletionTimestamp"):
            return
        remaining = job_syncing.ttl_remaining(job, int(ttl), self.clock.now())
        if remaining is None:
            return
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        m = podcontrol.meta(job)
        try:
            fresh = await self.client.get(JOBS, m["name"], m["namespace"])
        except status.StatusError as e:
            if e.code == 404:
                return
            raise
        fresh_ttl = jt.spec(fresh).get("ttlSecondsAfterFinished")
        if fresh_ttl is None or not jt.is_finished(fresh) or podcontrol.meta(fresh).get("deletionTimestamp"):
            return
        left = job_syncing.ttl_remaining(fresh, int(fresh_ttl), self.clock.now())
        if left is None or left > 0:
            self.queue.add_after(key, left or 0)
            return
        try:
            await self.client.delete(JOBS, m["name"], m["namespace"], propagation_policy="Foreground",
                                     preconditions={"uid": podcontrol.meta(fresh)["uid"]})
        except status.StatusError as e:
            if e.code not in (404, 409):
                raise
