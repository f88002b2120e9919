"""Defaults of the other core/v1 kinds: Services, Namespaces, Secrets, Nodes, Endpoints, volumes, quotas.

Mirrors core/v1 ``SetDefaults_*``. What kube-apiserver assigns outside
defaulting is left to the API server: a Service's cluster IPs, IP families and
ipFamilyPolicy (service REST storage), node ports, and a Namespace's
``spec.finalizers: ["kubernetes"]`` (namespace strategy PrepareForCreate).
A Namespace's ``status.phase: Active`` *is* a default (SetDefaults_NamespaceStatus).
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.defaulting.pods import (
    default_pod_template, default_pvc_spec, default_volume_sources, dict_at, dict_field, dicts_at, missing,
    round_resource_list,
)

CLIENT_IP_TIMEOUT = 10800


def status(obj: dict[str, Any]) -> dict[str, Any]:
    """The status struct, which Go always serializes (as {} when empty)."""
    return dict_field(obj, "status")


def default_service(svc: dict[str, Any]) -> None:
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if missing(spec, "sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    if spec["sessionAffinity"] == "ClientIP":
        client = dict_at(dict_at(spec, "sessionAffinityConfig") or {}, "clientIP")
        if client is None or client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_TIMEOUT}}
    if missing(spec, "type"):
        spec["type"] = "ClusterIP"
    for port in dicts_at(spec, "ports"):
        if missing(port, "protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    typ = spec["type"]
    accessible = typ in ("LoadBalancer", "NodePort") or (typ == "ClusterIP" and bool(spec.get("externalIPs")))
    if accessible and missing(spec, "externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and typ in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    st = status(svc)
    lb = dict_field(st, "loadBalancer")
    if typ == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is None:
            spec["allocateLoadBalancerNodePorts"] = True
        for ing in dicts_at(lb, "ingress"):
            if not missing(ing, "ip") and ing.get("ipMode") is None:
                ing["ipMode"] = "VIP"


def default_namespace(ns: dict[str, Any]) -> None:
    meta = ns.setdefault("metadata", {})
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(name, str) and name:
        dict_field(meta, "labels")["kubernetes.io/metadata.name"] = name
    ns.setdefault("spec", {})
    st = status(ns)
    if missing(st, "phase"):
        st["phase"] = "Active"


def default_secret(secret: dict[str, Any]) -> None:
    if missing(secret, "type"):
        secret["type"] = "Opaque"


def default_replication_controller(rc: dict[str, Any]) -> None:
    spec = rc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    template = dict_at(spec, "template")
    labels = dict_at(template.get("metadata") or {}, "labels") if template is not None else None
    if labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = rc.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(template)


def default_pod_template_object(pt: dict[str, Any]) -> None:
    default_pod_template(pt.setdefault("template", {}))


def default_node(node: dict[str, Any]) -> None:
    spec = node.setdefault("spec", {})
    if isinstance(spec, dict):
        cidrs = spec.get("podCIDRs")
        if not missing(spec, "podCIDR") and not cidrs:
            spec["podCIDRs"] = [spec["podCIDR"]]
        elif isinstance(cidrs, list) and cidrs and missing(spec, "podCIDR"):
            spec["podCIDR"] = cidrs[0]
    st = status(node)
    round_resource_list(st.get("capacity"))
    round_resource_list(st.get("allocatable"))
    if st.get("allocatable") is None and isinstance(st.get("capacity"), dict):
        st["allocatable"] = dict(st["capacity"])


def default_endpoints(ep: dict[str, Any]) -> None:
    for subset in dicts_at(ep, "subsets"):
        for port in dicts_at(subset, "ports"):
            if missing(port, "protocol"):
                port["protocol"] = "TCP"


def default_persistent_volume(pv: dict[str, Any]) -> None:
    spec = pv.setdefault("spec", {})
    if isinstance(spec, dict):
        if missing(spec, "persistentVolumeReclaimPolicy"):
            spec["persistentVolumeReclaimPolicy"] = "Retain"
        if spec.get("volumeMode") is None:
            spec["volumeMode"] = "Filesystem"
        default_volume_sources(spec)
        round_resource_list(spec.get("capacity"))
    st = status(pv)
    if missing(st, "phase"):
        st["phase"] = "Pending"


def default_persistent_volume_claim(pvc: dict[str, Any]) -> None:
    spec = pvc.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pvc_spec(spec)
    st = status(pvc)
    if missing(st, "phase"):
        st["phase"] = "Pending"
    round_resource_list(st.get("capacity"))
    round_resource_list(st.get("allocatedResources"))


def default_limit_range(lr: dict[str, Any]) -> None:
    for item in dicts_at(lr.get("spec") or {}, "limits"):
        for kind in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            round_resource_list(item.get(kind))
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {})
        request = item.setdefault("defaultRequest", {})
        if not isinstance(default, dict) or not isinstance(request, dict):
            continue
        for name, value in (dict_at(item, "max") or {}).items():
            default.setdefault(name, value)
        for name, value in default.items():
            request.setdefault(name, value)
        for name, value in (dict_at(item, "min") or {}).items():
            request.setdefault(name, value)


def default_resource_quota(rq: dict[str, Any]) -> None:
    round_resource_list((rq.get("spec") or {}).get("hard") if isinstance(rq.get("spec"), dict) else None)
    st = status(rq)
    round_resource_list(st.get("hard"))
    round_resource_list(st.get("used"))
