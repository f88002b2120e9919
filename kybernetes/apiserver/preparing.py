"""Metadata the server owns, set on every create and update (k8s rest.BeforeCreate/BeforeUpdate).

uid, creationTimestamp, generation, and what a client may not set or change
(deletionTimestamp on create, uid and creationTimestamp on update), plus the
split between a resource and its status subresource: a write to the main
resource keeps the stored status, a write to ``/status`` keeps everything
but the status.
"""

from __future__ import annotations

import copy
import time
import uuid

# Kinds whose strategy keeps metadata.generation (bumped on spec changes).
GENERATION_KINDS = {
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("", "ReplicationController"), ("batch", "Job"), ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"), ("policy", "PodDisruptionBudget"),
    ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "NetworkPolicy"),
    ("", "Pod"),
}

# Kinds whose status a create may not set (their strategies reset it).
STATUS_RESET_KINDS = {
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("", "ReplicationController"), ("batch", "Job"), ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"), ("policy", "PodDisruptionBudget"),
    ("networking.k8s.io", "Ingress"), ("", "Service"), ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"), ("", "Namespace"), ("", "ResourceQuota"),
    ("apiregistration.k8s.io", "APIService"),
}

# The status a create starts from, where it is not empty: Go serializes these
# int32 fields without omitempty, so a fresh object reads back with zeros,
# and clients with typed models (the Python client) require them.
ZERO_STATUS = {
    ("apps", "ReplicaSet"): {"replicas": 0},
    ("apps", "StatefulSet"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "DaemonSet"): {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 0, "numberReady": 0},
    ("", "ReplicationController"): {"replicas": 0},
    ("autoscaling", "HorizontalPodAutoscaler"): {"desiredReplicas": 0},
    ("policy", "PodDisruptionBudget"): {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                        "expectedPods": 0},
}

# Kinds whose status strategy also resets metadata.labels (k8s deploymentStatusStrategy).
STATUS_KEEPS_LABELS = {("apps", "Deployment")}

# Fields outside metadata and status whose change is not a spec change.
_NOT_SPEC = {"metadata", "status", "apiVersion", "kind"}


_last_stamp: tuple[int, str] = (0, "")


def now() -> str:
    """The current time as metav1.Time writes it (whole seconds, UTC); the
    string is made once per second, as every write asks for it."""
    global _last_stamp
    second = int(time.time())
    if _last_stamp[0] != second:
        _last_stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _last_stamp[1]


def new_uid() -> str:
    return str(uuid.uuid4())


def spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


def prepare_for_create(group: str, kind: str, obj: dict, *, timestamp: str) -> None:
    meta = obj["metadata"]
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = timestamp
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
        meta.pop(field, None)
    if (group, kind) in GENERATION_KINDS:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if (group, kind) in STATUS_RESET_KINDS:
        obj["status"] = dict(ZERO_STATUS.get((group, kind), {}))


def prepare_for_update(group: str, kind: str, new: dict, old: dict, *, subresource: str,
                       has_status: bool) -> dict:
    """The object to store for an update of ``old`` by ``new``; returns it."""
    old_meta = old.get("metadata", {})
    if subresource == "status":
        out = copy.copy(old)
        out["metadata"] = dict(old_meta)
        if "status" in new:
            out["status"] = new["status"]
        else:
            out.pop("status", None)
        # A status write may still move labels and annotations, as pods/status
        # does; deployments/status keeps the labels (its strategy resets them).
        fields = ("annotations",) if (group, kind) in STATUS_KEEPS_LABELS else ("labels", "annotations")
        for field in fields:
            value = new.get("metadata", {}).get(field)
            if value is not None:
                out["metadata"][field] = value
        new_meta_fields = new.get("metadata", {})
        if "managedFields" in new_meta_fields:
            out["metadata"]["managedFields"] = new_meta_fields["managedFields"]
        return out
    meta = new.setdefault("metadata", {})
    # k8s rest.BeforeUpdate: the stored uid only when the request gives none
    # (a different one fails validation as immutable); timestamps and grace
    # period always as stored.
    if not meta.get("uid") and "uid" in old_meta:
        meta["uid"] = old_meta["uid"]
    for field in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    meta.pop("selfLink", None)
    if has_status:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if (group, kind) in GENERATION_KINDS:
        generation = old_meta.get("generation", 1)
        if spec_of(new) != spec_of(old):
            generation += 1
        meta["generation"] = generation
    else:
        meta.pop("generation", None)
    return new


def unchanged(new: dict, old: dict) -> bool:
    """True when an update would store exactly what is stored (a no-op write,
    which kube-apiserver answers without a new resourceVersion)."""
    def strip(obj: dict) -> dict:
        meta = {k: v for k, v in obj.get("metadata", {}).items()
                if k not in ("resourceVersion", "managedFields")}
        return {**obj, "metadata": meta}
    return strip(new) == strip(old)
