"""Table printers for core (``v1``) kinds: Node, Service, Endpoints, Namespace,
ConfigMap, Secret, ServiceAccount, ComponentStatus, ReplicationController and
ResourceQuota (Pods, Events and volumes have modules of their own).

Each ``*_cells`` function is upstream's ``print<Kind>`` from
``pkg/printers/internalversion/printers.go`` over the v1 JSON object, with
``Wide: true`` (kube-apiserver always prints every column).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from kybernetes.api.labels import format_labels
from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    core,
    dig,
    name,
    num,
    quantity,
    replica_cells,
    replica_columns,
    text,
)

# --- Node ---

NODE_COLUMNS = (
    NAME,
    Col("Status", doc="The status of the node"),
    Col("Roles", doc="The roles of the node"),
    AGE,
    Col("Version", doc=(core("NodeSystemInfo"), "kubeletVersion")),
    Col("Internal-IP", doc=(core("NodeStatus"), "addresses"), priority=1),
    Col("External-IP", doc=(core("NodeStatus"), "addresses"), priority=1),
    Col("OS-Image", doc=(core("NodeSystemInfo"), "osImage"), priority=1),
    Col("Kernel-Version", doc=(core("NodeSystemInfo"), "kernelVersion"), priority=1),
    Col("Container-Runtime", doc=(core("NodeSystemInfo"), "containerRuntimeVersion"), priority=1),
)


def node_roles(node: Obj) -> str:
    """``node-role.kubernetes.io/<role>`` labels and a non-empty ``kubernetes.io/role``."""
    roles = set()
    for key, value in (dig(node, "metadata", "labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, kind: str) -> str:
    for address in dig(node, "status", "addresses", default=[]):
        if address.get("type") == kind:
            return text(address.get("address"))
    return "<none>"


def node_cells(node: Obj, now: datetime) -> list[Any]:
    ready = None
    for cond in dig(node, "status", "conditions", default=[]):
        if cond.get("type") == "Ready":
            ready = cond
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = dig(node, "status", "nodeInfo", default={})
    return [
        name(node),
        ",".join(status),
        node_roles(node),
        age(node, now),
        text(info.get("kubeletVersion")),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        text(info.get("osImage")) or "<unknown>",
        text(info.get("kernelVersion")) or "<unknown>",
        text(info.get("containerRuntimeVersion")) or "<unknown>",
    ]


# --- Service and Endpoints ---

SERVICE_COLUMNS = (
    NAME,
    Col("Type", doc=(core("ServiceSpec"), "type")),
    Col("Cluster-IP", doc=(core("ServiceSpec"), "clusterIP")),
    Col("External-IP", doc=(core("ServiceSpec"), "externalIPs")),
    Col("Port(s)", doc=(core("ServiceSpec"), "ports")),
    AGE,
    Col("Selector", doc=(core("ServiceSpec"), "selector"), priority=1),
)


def load_balancer_ips(status: Any) -> str:
    """loadBalancerStatusStringer with wide output: sorted unique IPs or hostnames."""
    found = set()
    for ingress in dig(status, "ingress", default=[]):
        value = text(ingress.get("ip")) or text(ingress.get("hostname"))
        if value:
            found.add(value)
    return ",".join(sorted(found))


def service_external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    external = [text(ip) for ip in spec.get("externalIPs") or []]
    svc_type = spec.get("type")
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        lb = load_balancer_ips(dig(svc, "status", "loadBalancer"))
        if external:
            return ",".join((lb.split(",") if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return text(spec.get("externalName"))
    return "<unknown>"


def service_ports(ports: list) -> str:
    pieces = []
    for port in ports or []:
        protocol = text(port.get("protocol")) or "TCP"
        if num(port.get("nodePort")) > 0:
            pieces.append(f"{num(port.get('port'))}:{num(port.get('nodePort'))}/{protocol}")
        else:
            pieces.append(f"{num(port.get('port'))}/{protocol}")
    return ",".join(pieces)


def service_cells(svc: Obj, now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        name(svc),
        text(spec.get("type")),
        cluster_ips[0] if cluster_ips else "<none>",
        service_external_ip(svc),
        service_ports(spec.get("ports") or []) or "<none>",
        age(svc, now),
        format_labels(spec.get("selector")),
    ]


ENDPOINTS_COLUMNS = (NAME, Col("Endpoints", doc=(core("Endpoints"), "subsets")), AGE)


def _join_host_port(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = ":" in host
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def format_endpoints(endpoints: Obj, max_items: int = 3) -> str:
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    found: list[str] = []
    more, count = False, 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            # Headless services may have no ports.
            count += len(addresses)
            for address in addresses:
                if len(found) == max_items:
                    more = True
                    break
                found.append(text(address.get("ip")))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(found) == max_items:
                    more = True
                    break
                found.append(_join_host_port(text(address.get("ip")), num(port.get("port"))))
    joined = ",".join(found)
    return f"{joined} + {count - max_items} more..." if more else joined


def endpoints_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), format_endpoints(obj), age(obj, now)]


# --- Namespace, ConfigMap, Secret, ServiceAccount, ComponentStatus, ReplicationController ---

NAMESPACE_COLUMNS = (NAME, Col("Status", doc="The status of the namespace"), AGE)
CONFIG_MAP_COLUMNS = (NAME, Col("Data", doc=(core("ConfigMap"), "data")), AGE)
SECRET_COLUMNS = (NAME, Col("Type", doc=(core("Secret"), "type")), Col("Data", doc=(core("Secret"), "data")), AGE)
SERVICE_ACCOUNT_COLUMNS = (NAME, Col("Secrets", doc=(core("ServiceAccount"), "secrets")), AGE)
COMPONENT_STATUS_COLUMNS = (
    NAME,
    Col("Status", doc="Status of the component conditions"),
    Col("Message", doc="Message of the component conditions"),
    Col("Error", doc="Error of the component conditions"),
)
REPLICATION_CONTROLLER_COLUMNS = replica_columns(core("ReplicationControllerSpec"),
                                                 core("ReplicationControllerStatus"))


def component_status_cells(obj: Obj, now: datetime) -> list[Any]:
    status, message, error = "Unknown", "", ""
    for cond in obj.get("conditions") or []:
        if cond.get("type") == "Healthy":
            status = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            message, error = text(cond.get("message")), text(cond.get("error"))
            break
    return [name(obj), status, message, error]


def replication_controller_cells(obj: Obj, now: datetime) -> list[Any]:
    return replica_cells(obj, now, format_labels(dig(obj, "spec", "selector")))


# --- ResourceQuota ---

RESOURCE_QUOTA_COLUMNS = (
    NAME,
    Col("Request", doc="Request represents a minimum amount of cpu/memory that a container may consume."),
    Col(
        "Limit",
        doc="Limits control the maximum amount of cpu/memory that a container may use independent of contention "
        "on the node.",
    ),
    AGE,
)

def resource_quota_cells(quota: Obj, now: datetime) -> list[Any]:
    hard = dig(quota, "status", "hard", default={})
    used = dig(quota, "status", "used", default={})
    requests, limits = [], []
    for resource in sorted(hard):
        column = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        column.append(f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}")
    return [name(quota), ", ".join(requests), ", ".join(limits), age(quota, now)]


PRINTERS = {
    ("", "Node"): Printer(NODE_COLUMNS, node_cells),
    ("", "Namespace"): Printer(
        NAMESPACE_COLUMNS, lambda o, now: [name(o), text(dig(o, "status", "phase")), age(o, now)]
    ),
    ("", "Service"): Printer(SERVICE_COLUMNS, service_cells),
    ("", "Endpoints"): Printer(ENDPOINTS_COLUMNS, endpoints_cells),
    ("", "ConfigMap"): Printer(
        CONFIG_MAP_COLUMNS,
        lambda o, now: [name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o, now)],
    ),
    ("", "Secret"): Printer(
        SECRET_COLUMNS, lambda o, now: [name(o), text(o.get("type")), len(o.get("data") or {}), age(o, now)]
    ),
    ("", "ServiceAccount"): Printer(
        SERVICE_ACCOUNT_COLUMNS, lambda o, now: [name(o), len(o.get("secrets") or []), age(o, now)]
    ),
    ("", "ComponentStatus"): Printer(COMPONENT_STATUS_COLUMNS, component_status_cells),
    ("", "ReplicationController"): Printer(REPLICATION_CONTROLLER_COLUMNS, replication_controller_cells),
    ("", "ResourceQuota"): Printer(RESOURCE_QUOTA_COLUMNS, resource_quota_cells),
}
