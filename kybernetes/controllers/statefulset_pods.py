"""A StatefulSet's pods and claims: stable identities (``stateful_set_utils.go``).

Pod ``<set>-<ordinal>`` has hostname ``<set>-<ordinal>``, subdomain
``spec.serviceName``, the labels ``statefulset.kubernetes.io/pod-name`` and
``apps.kubernetes.io/pod-index``, and the ``controller-revision-hash`` label
naming the ControllerRevision it was made from. Each volumeClaimTemplate
``<claim>`` becomes the PVC ``<claim>-<set>-<ordinal>`` and a volume of that
name in the pod. A pod object without ``status.phase`` stands for one not
created yet, as upstream's ``isCreated``.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from kybernetes.api import registry
from kybernetes.controllers import history, podcontrol, podutil

PVCS = registry.lookup("", "v1", "persistentvolumeclaims")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")

Obj = dict[str, Any]


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    m = _ORDINAL.match(podcontrol.meta(pod).get("name", ""))
    if not m:
        return "", -1
    return m.group(1), int(m.group(2))


def ordinal(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == podcontrol.meta(sts).get("name")


def start_ordinal(sts: Obj) -> int:
    return int((((sts.get("spec") or {}).get("ordinals")) or {}).get("start") or 0)


def replicas(sts: Obj) -> int:
    value = (sts.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def in_range(sts: Obj, pod: Obj) -> bool:
    o = ordinal(pod)
    return start_ordinal(sts) <= o < start_ordinal(sts) + replicas(sts)


def pod_name(sts: Obj, n: int) -> str:
    return f"{podcontrol.meta(sts)['name']}-{n}"


def claim_name(sts: Obj, claim: Obj, n: int) -> str:
    return f"{podcontrol.meta(claim).get('name', '')}-{podcontrol.meta(sts)['name']}-{n}"


def claims(sts: Obj, n: int) -> dict[str, Obj]:
    """getPersistentVolumeClaims: template name -> the PVC for ordinal ``n``."""
    sel_labels = (((sts.get("spec") or {}).get("selector")) or {}).get("matchLabels") or {}
    out = {}
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        tm = podcontrol.meta(template)
        pvc_labels = {**(tm.get("labels") or {}), **sel_labels}
        pvc_meta: Obj = {"name": claim_name(sts, template, n),
                         "namespace": podcontrol.meta(sts).get("namespace"),
                         "labels": pvc_labels}
        if tm.get("annotations"):
            pvc_meta["annotations"] = dict(tm["annotations"])
        out[tm.get("name", "")] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                   "metadata": pvc_meta, "spec": copy.deepcopy(template.get("spec") or {})}
    return out


def _set_identity(sts: Obj, pod: Obj, n: int) -> None:
    m = pod["metadata"]
    m["name"] = pod_name(sts, n)
    m["namespace"] = podcontrol.meta(sts).get("namespace")
    pod_labels = m.setdefault("labels", {})
    pod_labels[POD_NAME_LABEL] = m["name"]
    pod_labels[POD_INDEX_LABEL] = str(n)


def _set_storage(sts: Obj, pod: Obj, n: int) -> None:
    wanted = claims(sts, n)
    volumes = [{"name": name, "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}}
               for name, pvc in wanted.items()]
    spec = pod.setdefault("spec", {})
    volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in wanted]
    if volumes:
        spec["volumes"] = volumes


def new_pod(sts: Obj, n: int, revision: str) -> Obj:
    """newStatefulSetPod plus its revision label: not created yet (no status)."""
    ref = podcontrol.controller_ref(sts, "apps/v1", "StatefulSet")
    pod = podcontrol.pod_from_template((sts.get("spec") or {}).get("template") or {}, sts, ref)
    pod["metadata"].pop("generateName", None)
    _set_identity(sts, pod, n)
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service
    _set_storage(sts, pod, n)
    pod["metadata"]["labels"][history.REVISION_LABEL] = revision
    return pod


def versioned_pod(current_set: Obj, update_set: Obj, current_rev: str, update_rev: str, n: int) -> Obj:
    """newVersionedStatefulSetPod: ordinals below the partition stay at the current revision."""
    strategy = (current_set.get("spec") or {}).get("updateStrategy") or {}
    ru = strategy.get("rollingUpdate")
    current_replicas = int((current_set.get("status") or {}).get("currentReplicas") or 0)
    if (strategy.get("type", "RollingUpdate") == "RollingUpdate" and ru is None and n < current_replicas) \
            or (ru is not None and n < int(ru.get("partition") or 0)):
        return new_pod(current_set, n, current_rev)
    return new_pod(update_set, n, update_rev)


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, n = parent_and_ordinal(pod)
    pod_labels = podcontrol.meta(pod).get("labels") or {}
    return (n >= 0 and parent == podcontrol.meta(sts).get("name")
            and podcontrol.meta(pod).get("namespace") == podcontrol.meta(sts).get("namespace")
            and pod_labels.get(POD_NAME_LABEL) == podcontrol.meta(pod).get("name")
            and pod_labels.get(POD_INDEX_LABEL) == str(n))


def revision_of(pod: Obj) -> str:
    return (podcontrol.meta(pod).get("labels") or {}).get(history.REVISION_LABEL, "")


def is_created(pod: Obj) -> bool:
    return podutil.phase(pod) != ""


def is_running_and_ready(pod: Obj) -> bool:
    return podutil.phase(pod) == "Running" and podutil.is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready: int, now: datetime) -> bool:
    return podutil.phase(pod) == "Running" and podutil.is_pod_available(pod, min_ready, now)


def is_unavailable(pod: Obj, min_ready: int, now: datetime) -> bool:
    return not is_running_and_available(pod, min_ready, now) or podcontrol.is_being_deleted(pod)


def replica_status(pods: list[Obj], min_ready: int, now: datetime, current: str, update: str) -> Obj:
    """computeReplicaStatus over the pods (created ones only)."""
    st = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                        "updatedReplicas"), 0)
    for pod in pods:
        if not is_created(pod):
            continue
        st["replicas"] += 1
        if is_running_and_ready(pod):
            st["readyReplicas"] += 1
            if is_running_and_available(pod, min_ready, now):
                st["availableReplicas"] += 1
        if not podcontrol.is_being_deleted(pod):
            rev = revision_of(pod)
            st["currentReplicas"] += rev == current
            st["updatedReplicas"] += rev == update
    return st
