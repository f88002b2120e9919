"""Job accounting that needs no I/O: finished pods, conditions, completion
indexes and the pod-failure back-off (``job_controller.go``,
``indexed_job_utils.go``, ``backoff_utils.go``).

Jobs count pods with the ``batch.kubernetes.io/job-tracking`` finalizer, as
upstream since 1.26: a finished pod still holding the finalizer is "new"; the
controller records its UID in ``status.uncountedTerminatedPods``, removes the
finalizer, then moves the UID into ``succeeded``/``failed``. So a pod is
counted exactly once even if its object is deleted meanwhile. A pod that is
being deleted before it succeeded counts as failed (podReplacementPolicy
TerminatingOrFailed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kybernetes.controllers import podcontrol, podutil

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
UNKNOWN_INDEX = -1

Obj = dict[str, Any]


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (podcontrol.meta(pod).get("finalizers") or [])


def spec(job: Obj) -> Obj:
    return job.get("spec") or {}


def is_indexed(job: Obj) -> bool:
    return spec(job).get("completionMode") == "Indexed"


def completions(job: Obj) -> int | None:
    value = spec(job).get("completions")
    return None if value is None else int(value)


def only_replace_failed(job: Obj) -> bool:
    return spec(job).get("podReplacementPolicy") == "Failed" or spec(job).get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    if podutil.phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return podcontrol.is_being_deleted(pod) and podutil.phase(pod) != "Succeeded"


def count_terminating(pods: list[Obj]) -> int:
    return sum(1 for p in pods if podcontrol.is_being_deleted(p) and not podutil.is_pod_terminal(p))


def completion_index(pod: Obj) -> int:
    value = (podcontrol.meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    try:
        return int(value) if value is not None and int(value) >= 0 else UNKNOWN_INDEX
    except ValueError:
        return UNKNOWN_INDEX


def valid_index(job: Obj, pod: Obj) -> bool:
    ix = completion_index(pod)
    return ix != UNKNOWN_INDEX and ix < (completions(job) or 0)


# --- conditions ---

def find_condition(job: Obj, type_: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def condition_true(job: Obj, type_: str) -> bool:
    c = find_condition(job, type_)
    return c is not None and c.get("status") == "True"


def is_finished(job: Obj) -> bool:
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def new_condition(type_: str, reason: str, message: str, now: str, status_: str = "True") -> Obj:
    return {"type": type_, "status": status_, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def ensure_condition(job: Obj, type_: str, status_: str, reason: str, message: str, now: str) -> bool:
    """ensureJobConditionStatus, in place; True when the list changed."""
    conditions = job.setdefault("status", {}).get("conditions") or []
    for i, c in enumerate(conditions):
        if c.get("type") == type_:
            if (c.get("status"), c.get("reason", ""), c.get("message", "")) != (status_, reason, message):
                conditions[i] = new_condition(type_, reason, message, now, status_)
                return True
            return False
    if status_ != "False":
        job["status"]["conditions"] = [*conditions, new_condition(type_, reason, message, now, status_)]
        return True
    return False


# --- completion indexes ---

def parse_indexes(text: str | None, limit: int) -> set[int]:
    """``1,3-5`` -> {1, 3, 4, 5}, dropping indexes >= limit."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            continue
        out.update(i for i in range(first, min(last, limit - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    parts, run = [], []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


def succeeded_indexes(job: Obj, pods: list[Obj]) -> tuple[set[int], set[int]]:
    """calculateSucceededIndexes: (recorded in status, recorded plus newly succeeded)."""
    limit = completions(job) or 0
    prev = parse_indexes((job.get("status") or {}).get("completedIndexes"), limit)
    new = {completion_index(p) for p in pods
           if podutil.phase(p) == "Succeeded" and has_finalizer(p) and valid_index(job, p)}
    return prev, prev | new


def first_pending_indexes(job: Obj, active: list[Obj], succeeded: set[int], count: int) -> list[int]:
    taken = succeeded | {completion_index(p) for p in active}
    out = []
    for i in range(completions(job) or 0):
        if len(out) >= count:
            break
        if i not in taken:
            out.append(i)
    return out


def surplus_indexed(job: Obj, active: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """appendDuplicatedIndexPodsForRemoval: (pods with invalid or repeated
    indexes, the rest); of repeated ones the most advanced pod is kept."""
    remove, keep_by_index = [], {}
    for pod in sorted(active, key=podutil.active_pods_key):
        if not valid_index(job, pod):
            remove.append(pod)
            continue
        ix = completion_index(pod)
        if ix in keep_by_index:
            remove.append(keep_by_index[ix])
        keep_by_index[ix] = pod
    return remove, list(keep_by_index.values())


def add_index_env(template_spec: Obj) -> None:
    """addCompletionIndexEnvVariables: JOB_COMPLETION_INDEX from the annotation."""
    env_var = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
    for key in ("initContainers", "containers"):
        for c in template_spec.get(key) or []:
            env = c.setdefault("env", [])
            if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                env.append(dict(env_var))


# --- pod-failure back-off (backoff_utils.go) ---

def finished_time(pod: Obj) -> datetime:
    st = pod.get("status") or {}
    finished = [podcontrol.parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
                for c in st.get("containerStatuses") or []]
    finished = [t for t in finished if t is not None]
    if finished:
        return max(finished)
    ready = podutil.ready_condition(pod)
    if ready and ready.get("status") == "False" and podcontrol.parse_time(ready.get("lastTransitionTime")):
        return podcontrol.parse_time(ready["lastTransitionTime"])
    m = podcontrol.meta(pod)
    for value in (m.get("deletionTimestamp"), m.get("creationTimestamp")):
        if podcontrol.parse_time(value):
            return podcontrol.parse_time(value)
    return datetime.fromtimestamp(0).astimezone()


class BackoffRecord:
    """Failures since the last success and when the last one happened."""

    def __init__(self, failures: int = 0, last_failure: datetime | None = None):
        self.failures, self.last_failure = failures, last_failure

    def next(self, succeeded: list[Obj], failed: list[Obj]) -> BackoffRecord:
        """newBackoffRecord: this record after the newly finished pods."""
        failed_times = sorted(finished_time(p) for p in failed)
        if not succeeded:
            if not failed_times:
                return self
            return BackoffRecord(self.failures + len(failed_times), failed_times[-1])
        last_success = max(finished_time(p) for p in succeeded)
        after = [t for t in failed_times if t > last_success]
        return BackoffRecord(len(after), after[-1] if after else None)

    def remaining(self, now: datetime, base: float, cap: float) -> float:
        if not self.failures or self.last_failure is None:
            return 0.0
        delay = min(base * 2 ** (self.failures - 1), cap)
        elapsed = (now - self.last_failure) / timedelta(seconds=1)
        return max(0.0, delay - elapsed)
