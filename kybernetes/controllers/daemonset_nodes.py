"""Which nodes a DaemonSet's pod belongs on: the scheduler predicates the
DaemonSet controller runs itself (``NodeShouldRunDaemonPod`` in
``daemon_controller.go`` and ``daemon/util/daemonset_util.go``).

A daemon pod is the template plus the tolerations the controller always adds
(not-ready and unreachable NoExecute without tolerationSeconds; disk-,
memory- and pid-pressure and unschedulable NoSchedule; network-unavailable
for hostNetwork pods). A node is eligible when the template's nodeName (if
any) is the node, its nodeSelector and required node affinity match, and
every NoSchedule/NoExecute taint is tolerated. A pod already on a node may
stay while every NoExecute taint is tolerated.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.controllers import podutil

Obj = dict[str, Any]

DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                       "effect": "NoSchedule"}


def add_daemon_tolerations(spec: Obj) -> None:
    """AddOrUpdateDaemonPodTolerations, in place on a pod spec."""
    wanted = list(DEFAULT_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(NETWORK_UNAVAILABLE)
    tolerations = list(spec.get("tolerations") or [])
    for tol in wanted:
        # AddOrUpdateTolerationInPodSpec: one with the same key, operator and effect is replaced.
        same = [i for i, t in enumerate(tolerations)
                if t.get("key") == tol["key"] and t.get("effect") == tol["effect"]
                and t.get("operator", "Equal") == tol["operator"]]
        if same:
            tolerations[same[0]] = dict(tol)
        else:
            tolerations.append(dict(tol))
    spec["tolerations"] = tolerations


def daemon_pod_spec(ds: Obj) -> Obj:
    """The spec a daemon pod of ``ds`` gets (template plus default tolerations)."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    add_daemon_tolerations(spec)
    return spec


def untolerated(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> Obj | None:
    """FindMatchingUntoleratedTaint among taints with one of ``effects``."""
    for taint in taints:
        if taint.get("effect") not in effects:
            continue
        if not any(podutil.tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _requirement_matches(req: Obj, values: dict[str, str]) -> bool:
    key, op, wanted = req.get("key", ""), req.get("operator", ""), req.get("values") or []
    present = key in values
    value = values.get(key)
    if op == "In":
        return present and value in wanted
    if op == "NotIn":
        return not present or value not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, limit = int(value), int(wanted[0])
        except (TypeError, ValueError):
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: its expressions and fields ANDed; an empty term matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    node_labels = (node.get("metadata") or {}).get("labels") or {}
    node_fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return (all(_requirement_matches(r, node_labels) for r in exprs)
            and all(_requirement_matches(r, node_fields) for r in fields))


def affinity_matches(spec: Obj, node: Obj) -> bool:
    """nodeaffinity.GetRequiredNodeAffinity(pod).Match(node): nodeSelector and
    required node affinity terms (ORed)."""
    node_labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if node_labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def should_run(node: Obj, ds: Obj, spec: Obj | None = None) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (shouldRun, shouldContinueRunning)."""
    spec = spec if spec is not None else daemon_pod_spec(ds)
    name = (node.get("metadata") or {}).get("name", "")
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not affinity_matches(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if untolerated(taints, tolerations, ("NoExecute", "NoSchedule")) is not None:
        return False, untolerated(taints, tolerations, ("NoExecute",)) is None
    return True, True


def with_node_affinity(spec: Obj, node_name: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: require ``metadata.name In [node]``
    (replacing other required terms), so the scheduler binds the pod there."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    required["nodeSelectorTerms"] = [term]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required


def target_node(pod: Obj) -> str | None:
    """GetTargetNodeName: spec.nodeName, else the node named by the affinity term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution")) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            if req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = req.get("values") or []
                return values[0] if len(values) == 1 else None
    return None
