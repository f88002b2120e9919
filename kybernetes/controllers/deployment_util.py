"""What the deployment controller computes without I/O, as upstream's
pkg/controller/deployment/util/deployment_util.go: the pod-template-hash,
maxSurge/maxUnavailable, revisions and their annotations. Replica set
arithmetic is in ``deployment_replicasets``, conditions and the status in
``deployment_status``.

Deployments and replica sets are plain dicts; functions that change one say
so and are only given copies.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.controllers import history, podcontrol

UNIQUE_LABEL_KEY = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Annotations never copied from a deployment onto its replica sets.
ANNOTATIONS_TO_SKIP = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                       DEPRECATED_ROLLBACK_TO}
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000
MAX_INT32 = 2**31 - 1

# Condition reasons.
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def replicas(obj: dict) -> int:
    """spec.replicas (defaulted to 1, as the API server would)."""
    value = spec(obj).get("replicas")
    return 1 if value is None else value


def annotations(obj: dict) -> dict:
    return podcontrol.meta(obj).get("annotations") or {}


# --- hashing and template equality ---

def _compact(value: Any) -> Any:
    """Drop null, empty-map and empty-list fields: Go's semantic equality treats a nil
    and an empty map or slice alike, and JSON may carry either."""
    if isinstance(value, dict):
        out = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def compute_hash(template: dict, collision_count: int | None) -> str:
    """controller.ComputeHash (``history.template_hash``) over the template with null and
    empty fields dropped: a template read back with ``{}`` where none was written hashes alike."""
    return history.template_hash(_compact(template), collision_count)


def _without_hash(template: dict) -> dict:
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop(UNIQUE_LABEL_KEY, None)
    return _compact(t)


def equal_ignore_hash(t1: dict, t2: dict) -> bool:
    """EqualIgnoreHash: the templates are equal once pod-template-hash labels are removed."""
    return _without_hash(t1) == _without_hash(t2)


# --- maxSurge and maxUnavailable ---

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent ("25%" of total, rounded up or down)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    pct = int(value[:-1])
    return -(-pct * total // 100) if round_up else pct * total // 100


def is_rolling_update(d: dict) -> bool:
    return (spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """Surge rounds up, unavailable down; both zero means one may be unavailable."""
    surge = scaled_value(max_surge if max_surge is not None else 0, desired, True)
    unavailable = scaled_value(max_unavailable if max_unavailable is not None else 0, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: dict) -> dict:
    return (spec(d).get("strategy") or {}).get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}


def max_surge(d: dict) -> int:
    if not is_rolling_update(d):
        return 0
    r = _rolling(d)
    return resolve_fenceposts(r.get("maxSurge"), r.get("maxUnavailable"), replicas(d))[0]


def max_unavailable(d: dict) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    r = _rolling(d)
    unavailable = resolve_fenceposts(r.get("maxSurge"), r.get("maxUnavailable"), replicas(d))[1]
    return min(unavailable, replicas(d))


# --- revisions and annotations ---

def revision(obj: dict) -> int:
    """The revision annotation as a number (0 when absent; ValueError when malformed)."""
    value = annotations(obj).get(REVISION)
    return 0 if value is None else int(value)


def max_revision(rss: list[dict]) -> int:
    best = 0
    for rs in rss:
        try:
            best = max(best, revision(rs))
        except ValueError:
            continue
    return best


def set_replicas_annotations(rs: dict, desired: int, max_replicas: int) -> bool:
    """Record desired-replicas and max-replicas on ``rs`` (changed in place); True if changed."""
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: dict, desired: int, max_replicas: int) -> bool:
    ann = annotations(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def desired_replicas_annotation(rs: dict) -> int | None:
    try:
        return int(annotations(rs)[DESIRED_REPLICAS])
    except (KeyError, ValueError):
        return None


def set_new_rs_annotations(d: dict, rs: dict, new_revision: str, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations on ``rs`` (a copy, changed in place): the deployment's
    annotations, the revision (never lowered; an older one goes to revision-history, as
    on a rollback), and for a new replica set the replicas annotations."""
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for k, v in annotations(d).items():
        if k not in ANNOTATIONS_TO_SKIP and ann.get(k) != v:
            ann[k] = v
            changed = True
    old_revision = ann.get(REVISION)
    try:
        old_int = int(old_revision) if old_revision else 0
        new_int = int(new_revision)
    except ValueError:
        return False
    if old_int < new_int:
        ann[REVISION] = new_revision
        changed = True
        if old_revision is not None:
            history = ann.get(REVISION_HISTORY, "")
            olds = history.split(",") if history else []
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > MAX_REV_HISTORY_LENGTH_IN_CHARS and start < len(olds):
                total -= len(olds[start]) + 1
                start += 1
            if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS:
                ann[REVISION_HISTORY] = ",".join(olds[start:] + [old_revision])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed
