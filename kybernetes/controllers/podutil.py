"""What the controllers read off a pod: its phase, whether it is active, ready or
available (``pkg/api/v1/pod/util.go``, ``controller.IsPodActive``), whether a
toleration tolerates a taint (daemon sets, taint eviction), and the two orders
in which controllers delete surplus pods (``controller_utils.go``):
``ActivePodsWithRanks`` for replica sets, ``ActivePods`` for jobs.

Pure functions of plain dicts; nothing here writes. Writing pods and claiming
them is ``podcontrol``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kybernetes.controllers import podcontrol

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# --- pod state ---

def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def is_pod_terminal(pod: dict) -> bool:
    """Succeeded or Failed: its containers will not run again."""
    return phase(pod) in ("Succeeded", "Failed")


def is_pod_active(pod: dict) -> bool:
    """Not terminal and not being deleted: it counts toward a controller's replicas."""
    return not is_pod_terminal(pod) and not podcontrol.is_being_deleted(pod)


def ready_condition(pod: dict) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c
    return None


def is_pod_ready(pod: dict) -> bool:
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def is_pod_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least minReadySeconds (strictly before now, as upstream)."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = podcontrol.parse_time(ready_condition(pod).get("lastTransitionTime"))
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def pod_key(pod: dict) -> str:
    return f"{podcontrol.meta(pod).get('namespace', '')}/{podcontrol.meta(pod)['name']}"


def tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint: whether one of a pod's tolerations tolerates a node's taint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def _ready_time(pod: dict) -> datetime | None:
    if is_pod_ready(pod):
        return podcontrol.parse_time(ready_condition(pod).get("lastTransitionTime"))
    return None


# --- ActivePods: the order a job deletes surplus pods in ---

def active_pods_key(pod: dict) -> tuple:
    """controller.ActivePods ordering: pods sorting first are deleted first
    (unscheduled, pending, not ready, ready for less time, more restarts, newer)."""
    cond = ready_condition(pod) or {}
    ready_since = cond.get("lastTransitionTime") or "" if is_pod_ready(pod) else ""
    created = podcontrol.meta(pod).get("creationTimestamp") or ""
    restarts = sum(c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or ())
    return (bool((pod.get("spec") or {}).get("nodeName")), _PHASE_ORDINAL.get(phase(pod), 3),
            is_pod_ready(pod), _Desc(ready_since), -restarts, _Desc(created))


@dataclass(frozen=True, order=False)
class _Desc:
    """Sorts strings (RFC 3339 timestamps) in reverse: newer first."""
    value: str

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value


# --- ActivePodsWithRanks: the order a replica set deletes surplus pods in ---

def deletion_cost(pod: dict) -> int:
    try:
        return int((podcontrol.meta(pod).get("annotations") or {}).get(POD_DELETION_COST, "0"))
    except ValueError:
        return 0


def _max_restarts(pod: dict) -> int:
    return max((c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _log_rank_diff(t1: datetime, t2: datetime, now: datetime) -> int:
    def rank(t: datetime) -> int:
        ns = (now - t).total_seconds() * 1e9
        return int(math.log2(ns)) if ns > 0 else -1
    return rank(t1) - rank(t2)


def _newer_first(t1: datetime | None, t2: datetime | None, u1: str, u2: str, now: datetime | None) -> bool | None:
    """Compare two times, zero first, then later first (on a log scale when ``now`` is set,
    uids breaking ties); None when equal."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:
        return t1 is None
    if now is None:
        return t1 > t2
    diff = _log_rank_diff(t1, t2, now)
    return u1 < u2 if diff == 0 else diff < 0


def pod_less(a: dict, b: dict, rank_a: int, rank_b: int, now: datetime | None) -> bool:
    """True when ``a`` should be deleted before ``b``: unassigned < assigned; Pending <
    Unknown < Running; not ready < ready; lower pod-deletion-cost; more pods of the same
    owners on its node; ready more recently; more restarts; created more recently."""
    na, nb = (a.get("spec") or {}).get("nodeName", ""), (b.get("spec") or {}).get("nodeName", "")
    if na != nb and (not na or not nb):
        return not na
    pa, pb = _PHASE_ORDINAL.get(phase(a), 0), _PHASE_ORDINAL.get(phase(b), 0)
    if pa != pb:
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return not ra
    ca, cb = deletion_cost(a), deletion_cost(b)
    if ca != cb:
        return ca < cb
    if rank_a != rank_b:
        return rank_a > rank_b
    ua, ub = podcontrol.meta(a).get("uid", ""), podcontrol.meta(b).get("uid", "")
    if ra and rb:
        newer = _newer_first(_ready_time(a), _ready_time(b), ua, ub, now)
        if newer is not None:
            return newer
    if _max_restarts(a) != _max_restarts(b):
        return _max_restarts(a) > _max_restarts(b)
    ta = podcontrol.parse_time(podcontrol.meta(a).get("creationTimestamp"))
    tb = podcontrol.parse_time(podcontrol.meta(b).get("creationTimestamp"))
    newer = _newer_first(ta, tb, ua, ub, now)
    return bool(newer)


def pods_to_delete(pods: list[dict], related: list[dict], diff: int, now: datetime | None) -> list[dict]:
    """getPodsToDelete: the ``diff`` pods to delete first, ranked by how many active
    related pods (of the same owner's replica sets) share their node."""
    if diff >= len(pods):
        return pods[:diff]
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName", "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(p, on_node.get((p.get("spec") or {}).get("nodeName", ""), 0)) for p in pods]

    def cmp(x, y) -> int:
        if pod_less(x[0], y[0], x[1], y[1], now):
            return -1
        return 1 if pod_less(y[0], x[0], y[1], x[1], now) else 0
    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked[:diff]]
