"""A deployment's status and conditions, as upstream's sync.go calculateStatus
and deployment_util.go: counts summed over its replica sets, the Available
condition, and the Progressing condition's tests (complete, progressing,
timed out).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kybernetes.controllers import deployment_replicasets as rsutil
from kybernetes.controllers import deployment_util as util
from kybernetes.controllers import podcontrol


def new_condition(type_: str, status_: str, reason: str, message: str, now: datetime) -> dict:
    t = podcontrol.format_time(now)
    return {"type": type_, "status": status_, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def get_condition(status_: dict, type_: str) -> dict | None:
    return next((c for c in status_.get("conditions") or () if c.get("type") == type_), None)


def set_condition(status_: dict, cond: dict) -> None:
    """SetDeploymentCondition: unchanged if status and reason are the same; the transition
    time is kept when only the reason changes."""
    current = get_condition(status_, cond["type"])
    if current is not None and current.get("status") == cond["status"] and \
            current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status_, cond["type"])
    status_.setdefault("conditions", []).append(cond)


def remove_condition(status_: dict, type_: str) -> None:
    conds = [c for c in status_.get("conditions") or () if c.get("type") != type_]
    if conds:
        status_["conditions"] = conds
    else:
        status_.pop("conditions", None)


def has_progress_deadline(d: dict) -> bool:
    value = util.spec(d).get("progressDeadlineSeconds")
    return value is not None and value != util.MAX_INT32


def calculate_status(all_rss: list[dict | None], new: dict | None, d: dict, now: datetime) -> dict:
    """The deployment's status from its replica sets, with the Available condition."""
    available = rsutil.available_total(all_rss)
    old = d.get("status") or {}
    status_: dict[str, Any] = {
        "observedGeneration": podcontrol.meta(d).get("generation", 0),
        "replicas": rsutil.status_sum(all_rss, "replicas"),
        "updatedReplicas": rsutil.status_sum([new], "replicas"),
        "readyReplicas": rsutil.status_sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(rsutil.spec_total(all_rss) - available, 0),
        "collisionCount": old.get("collisionCount"),
        "conditions": [dict(c) for c in old.get("conditions") or ()],
    }
    if available >= util.replicas(d) - util.max_unavailable(d):
        cond = new_condition("Available", "True", util.MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition("Available", "False", util.MIN_UNAVAILABLE,
                             "Deployment does not have minimum availability.", now)
    set_condition(status_, cond)
    return compact_status(status_)


def compact_status(status_: dict) -> dict:
    """The status as apps/v1 serialises it: zero counts and empty fields omitted."""
    return {k: v for k, v in status_.items() if v not in (None, 0, [], {})}


def deployment_complete(d: dict, st: dict) -> bool:
    n = util.replicas(d)
    return st.get("updatedReplicas", 0) == n and st.get("replicas", 0) == n and \
        st.get("availableReplicas", 0) == n and \
        st.get("observedGeneration", 0) >= podcontrol.meta(d).get("generation", 0)


def deployment_progressing(d: dict, st: dict) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = st.get("replicas", 0) - st.get("updatedReplicas", 0)
    return st.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old or \
        st.get("readyReplicas", 0) > old.get("readyReplicas", 0) or \
        st.get("availableReplicas", 0) > old.get("availableReplicas", 0)


def deployment_timed_out(d: dict, st: dict, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(st, "Progressing")
    if cond is None or cond.get("reason") == util.NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == util.TIMED_OUT:
        return True
    since = podcontrol.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + timedelta(seconds=util.spec(d)["progressDeadlineSeconds"]) < now
