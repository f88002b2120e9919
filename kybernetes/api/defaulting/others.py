"""Defaults of the remaining groups: discovery, networking, RBAC, scheduling, storage, autoscaling.

Mirrors their ``SetDefaults_*``: EndpointSlice ports (name "", protocol TCP),
NetworkPolicy policyTypes and port protocols, RBAC roleRef and subject API
groups, PriorityClass preemption policy, StorageClass reclaim policy and
binding mode, and HorizontalPodAutoscaler minReplicas, default CPU metric and
scaling behavior (autoscaling/v2).
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaulting.core import status
from kybernetes.api.defaulting.pods import dict_at, dict_field, dicts_at, missing

RBAC_GROUP = "rbac.authorization.k8s.io"
DEFAULT_CPU_UTILIZATION = 80
SCALE_UP_RULES = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                  "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                               {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN_RULES = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def default_endpoint_slice(es: dict[str, Any]) -> None:
    for port in dicts_at(es, "ports"):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def default_network_policy(np_: dict[str, Any]) -> None:
    spec = np_.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"]
        if spec.get("egress"):
            spec["policyTypes"].append("Egress")
    for direction in ("ingress", "egress"):
        for rule in dicts_at(spec, direction):
            for port in dicts_at(rule, "ports"):
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"


def default_ingress(ing: dict[str, Any]) -> None:
    dict_field(status(ing), "loadBalancer")


def default_binding(binding: dict[str, Any]) -> None:
    ref = binding.get("roleRef")
    if isinstance(ref, dict) and missing(ref, "apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in dicts_at(binding, "subjects"):
        if missing(subject, "apiGroup"):
            kind = subject.get("kind")
            if kind == "ServiceAccount":
                subject["apiGroup"] = ""
            elif kind in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP


def default_priority_class(pc: dict[str, Any]) -> None:
    if pc.get("preemptionPolicy") is None:
        pc["preemptionPolicy"] = "PreemptLowerPriority"


def default_storage_class(sc: dict[str, Any]) -> None:
    if sc.get("reclaimPolicy") is None:
        sc["reclaimPolicy"] = "Delete"
    if sc.get("volumeBindingMode") is None:
        sc["volumeBindingMode"] = "Immediate"


def _rules(rules: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(rules, dict):
        return copy.deepcopy(defaults)
    for key, value in defaults.items():
        if rules.get(key) is None:
            rules[key] = copy.deepcopy(value)
    return rules


def default_hpa(hpa: dict[str, Any]) -> None:
    spec = hpa.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if hpa.get("apiVersion") == "autoscaling/v1":
        return
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = dict_at(spec, "behavior")
    if behavior is not None:
        behavior["scaleUp"] = _rules(behavior.get("scaleUp"), SCALE_UP_RULES)
        behavior["scaleDown"] = _rules(behavior.get("scaleDown"), SCALE_DOWN_RULES)

