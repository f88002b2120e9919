"""Job status tracking (``trackJobStatusAndRemoveFinalizers`` and
``flushUncountedAndRemoveFinalizers`` in ``job_controller.go``).

Finished pods still holding the tracking finalizer are first recorded in
``status.uncountedTerminatedPods`` (written before anything else), then
their finalizers are removed, then their UIDs move into the
``succeeded``/``failed`` counters; so a pod is counted once even if this
controller dies half-way. The interim conditions (``SuccessCriteriaMet``,
``FailureTarget``) are written with the first flush; ``Complete``/``Failed``
only once nothing is uncounted and no pod is terminating.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import rest
from kybernetes.controllers import job_tracking as jt
from kybernetes.controllers import podcontrol, podutil

JOBS = registry.lookup("batch", "v1", "jobs")
MAX_UNCOUNTED = 500
Obj = dict[str, Any]


async def remove_finalizer(client: rest.Client, pod: Obj) -> None:
    m = podcontrol.meta(pod)
    body = {"metadata": {"$deleteFromPrimitiveList/finalizers": [jt.TRACKING_FINALIZER]}}
    try:
        await client.patch(podcontrol.PODS, m["name"], body, namespace=m.get("namespace"),
                           patch_type="strategic")
    except status.StatusError as e:
        if e.code != 404:
            raise


class StatusTracking:
    """The status half of ``JobSync`` (which provides the attributes used here)."""

    async def _track(self, finished: Obj | None, needs_flush: bool, unc_succ: set[str],
                     unc_fail: set[str]) -> None:
        job = self.job
        indexed = jt.is_indexed(job)
        with_finalizer = {podcontrol.meta(p)["uid"] for p in self.pods
                          if jt.has_finalizer(p) and podcontrol.meta(p)["uid"] not in self.expected_rm}
        needs_flush |= _clean_uncounted(self.status, with_finalizer)
        uncounted = self.status["uncountedTerminatedPods"]
        to_remove, new_indexes, reached_max = [], set(), False
        deleting = bool(podcontrol.meta(job).get("deletionTimestamp"))
        for pod in sorted(self.pods, key=jt.completion_index) if indexed else self.pods:
            uid = podcontrol.meta(pod)["uid"]
            if not jt.has_finalizer(pod) or uid in self.expected_rm:
                continue
            failed = jt.is_pod_failed(pod, job)
            if not (deleting or finished is not None or podutil.phase(pod) == "Succeeded" or failed):
                continue
            to_remove.append(pod)
            if podutil.phase(pod) == "Succeeded" and uid not in unc_fail:
                if indexed:
                    ix = jt.completion_index(pod)
                    if jt.valid_index(job, pod) and ix not in self.prev_indexes:
                        new_indexes.add(ix)
                        needs_flush = True
                elif uid not in (uncounted.get("succeeded") or []):
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_flush = True
            elif failed or (finished is not None and finished["type"] != "SuccessCriteriaMet"):
                if uid not in (uncounted.get("failed") or []) and (not indexed or jt.valid_index(job, pod)):
                    uncounted.setdefault("failed", []).append(uid)
                    needs_flush = True
            if len(new_indexes) + len(uncounted.get("succeeded") or []) + \
                    len(uncounted.get("failed") or []) >= MAX_UNCOUNTED:
                reached_max = True
                break
        if indexed:
            text = jt.format_indexes(self.indexes | new_indexes)
            needs_flush |= text != self.status.get("completedIndexes", "")
            self.status["completedIndexes"] = text
            self.status["succeeded"] = len(self.indexes | new_indexes)
        if finished is not None and finished["type"] == "FailureTarget":
            self.status.setdefault("conditions", []).append(finished)
            needs_flush = True
            finished = jt.new_condition("Failed", finished["reason"], finished["message"], self.now_str)
        if finished is not None and finished["type"] == "SuccessCriteriaMet":
            if not jt.condition_true(job, "SuccessCriteriaMet"):
                self.status.setdefault("conditions", []).append(finished)
                needs_flush = True
            finished = jt.new_condition("Complete", finished["reason"], finished["message"], self.now_str)
        if needs_flush:
            await self._write()
            self.jc.backoff[self.key] = self.backoff
            needs_flush = False
        error = None
        if to_remove:
            expected = self.jc.finalizer_expectations.setdefault(self.key, set())
            expected.update(podcontrol.meta(p)["uid"] for p in to_remove)
            results = await asyncio.gather(*(remove_finalizer(self.client, p) for p in to_remove),
                                           return_exceptions=True)
            for pod, result in zip(to_remove, results):
                if isinstance(result, Exception):
                    expected.discard(podcontrol.meta(pod)["uid"])
                    error = error or result
                else:
                    with_finalizer.discard(podcontrol.meta(pod)["uid"])
        needs_flush |= _clean_uncounted(self.status, with_finalizer)
        if error is not None:
            if needs_flush:
                await self._write()
            raise error
        done = not reached_max and self._enact(finished)
        if needs_flush or done:
            await self._write()
            if done:
                self._record_finished(finished)

    def _enact(self, finished: Obj | None) -> bool:
        if finished is None:
            return False
        uncounted = self.status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or self.terminating > 0:
            return False
        jt.ensure_condition(self.job, finished["type"], "True", finished["reason"], finished["message"],
                            self.now_str)
        if finished["type"] == "Complete":
            self.status["completionTime"] = finished["lastTransitionTime"]
        return True

    def _record_finished(self, finished: Obj) -> None:
        job = self.job
        if finished["type"] == "Complete":
            completions = jt.completions(job)
            if completions is not None and self.status.get("succeeded", 0) > completions:
                self.jc.recorder.event(job, "Warning", "TooManySucceededPods",
                                       "Too many succeeded pods running after completion count reached")
            self.jc.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            self.jc.recorder.event(job, "Warning", finished["reason"], finished["message"])

    async def _write(self) -> None:
        self.job = await self.client.update(JOBS, self.job, subresource="status")
        self.job.setdefault("status", {}).setdefault("uncountedTerminatedPods", {})


def _clean_uncounted(st: Obj, with_finalizer: set[str]) -> bool:
    """cleanUncountedPodsWithoutFinalizers: move UIDs whose finalizer is gone into the counters."""
    uncounted = st.setdefault("uncountedTerminatedPods", {})
    changed = False
    for field, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        uids = uncounted.get(field) or []
        keep = [u for u in uids if u in with_finalizer]
        if len(keep) != len(uids):
            st[counter] = st.get(counter, 0) + len(uids) - len(keep)
            changed = True
        if keep:
            uncounted[field] = keep
        else:
            uncounted.pop(field, None)
    return changed
