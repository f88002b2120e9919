"""Table printers for networking, discovery, RBAC and API registration kinds.

Ingress, IngressClass, NetworkPolicy, EndpointSlice, ServiceCIDR, IPAddress,
RoleBinding/ClusterRoleBinding (Role and ClusterRole have no printer upstream:
they get the default NAME / CREATED AT table) and kube-aggregator's APIService.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api.labels import format_label_selector
from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    dig,
    list_with_more,
    name,
    text,
)
from kybernetes.api.printing_core import load_balancer_ips

NET = "io.k8s.api.networking.v1."
DISCOVERY = "io.k8s.api.discovery.v1.EndpointSlice"
RBAC = "io.k8s.api.rbac.v1."

INGRESS_COLUMNS = (
    NAME,
    Col("Class", doc="The name of the IngressClass resource that should be used for additional configuration"),
    Col("Hosts", doc="Hosts that incoming requests are matched against before the ingress rule"),
    Col("Address", doc="Address is a list containing ingress points for the load-balancer"),
    Col("Ports", doc="Ports of TLS configurations that open"),
    AGE,
)
INGRESS_CLASS_COLUMNS = (
    NAME,
    Col("Controller", doc="Controller that is responsible for handling this class"),
    Col("Parameters", doc="A reference to a resource with additional parameters"),
    AGE,
)
NETWORK_POLICY_COLUMNS = (NAME, Col("Pod-Selector", doc=(NET + "NetworkPolicySpec", "podSelector")), AGE)
ENDPOINT_SLICE_COLUMNS = (
    NAME,
    Col("AddressType", doc=(DISCOVERY, "addressType")),
    Col("Ports", doc=(DISCOVERY, "ports")),
    Col("Endpoints", doc=(DISCOVERY, "endpoints")),
    AGE,
)
SERVICE_CIDR_COLUMNS = (NAME, Col("CIDRs", doc=("io.k8s.api.networking.v1beta1.ServiceCIDRSpec", "cidrs")), AGE)
IP_ADDRESS_COLUMNS = (NAME, Col("ParentRef", doc=("io.k8s.api.networking.v1beta1.IPAddressSpec", "parentRef")))


def format_hosts(rules: list, max_items: int = 3) -> str:
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == max_items:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    joined = ",".join(hosts)
    return f"{joined} + {len(rules) - max_items} more..." if more else joined


def ingress_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    class_name = spec.get("ingressClassName")
    return [
        name(obj),
        text(class_name) if class_name is not None else "<none>",
        format_hosts(spec.get("rules") or []),
        load_balancer_ips(dig(obj, "status", "loadBalancer")),
        "80, 443" if spec.get("tls") else "80",
        age(obj, now),
    ]


def ingress_class_cells(obj: Obj, now: datetime) -> list[Any]:
    params = dig(obj, "spec", "parameters")
    parameters = "<none>"
    if isinstance(params, dict):
        parameters = text(params.get("kind"))
        if params.get("apiGroup") is not None:
            parameters += "." + text(params["apiGroup"])
        parameters += "/" + text(params.get("name"))
    return [name(obj), text(dig(obj, "spec", "controller")), parameters, age(obj, now)]


def endpoint_slice_cells(obj: Obj, now: datetime) -> list[Any]:
    ports, more, count = [], False, 0
    for port in obj.get("ports") or []:
        if len(ports) < 3:
            if port.get("port") is not None:
                ports.append(str(port["port"]))
            else:
                ports.append(text(port.get("name")) if port.get("name") is not None else "*")
        elif len(ports) == 3:
            more = True
        count += 1
    ports_text = list_with_more(ports, more, count, 3)
    addresses, more, count = [], False, 0
    for endpoint in obj.get("endpoints") or []:
        for address in endpoint.get("addresses") or []:
            if len(addresses) < 3:
                addresses.append(text(address))
            elif len(addresses) == 3:
                more = True
            count += 1
    return [
        name(obj),
        text(obj.get("addressType")),
        ports_text,
        list_with_more(addresses, more, count, 3),
        age(obj, now),
    ]


def ip_address_cells(obj: Obj, now: datetime) -> list[Any]:
    ref = dig(obj, "spec", "parentRef")
    parent = "<none>"
    if isinstance(ref, dict):
        group, resource = text(ref.get("group")), text(ref.get("resource"))
        parent = (f"{resource}.{group}" if group else resource).lower()
        if ref.get("namespace"):
            parent += "/" + ref["namespace"]
        parent += "/" + text(ref.get("name"))
    # Upstream's row carries an age cell its columns do not announce; kept for fidelity.
    return [name(obj), parent, age(obj, now)]


# --- RBAC ---


def _binding_columns(kind: str, label: str) -> tuple[Col, ...]:
    return (
        NAME,
        Col("Role", doc=(RBAC + kind, "roleRef")),
        AGE,
        Col("Users", doc=f"Users in the {label}", priority=1),
        Col("Groups", doc=f"Groups in the {label}", priority=1),
        Col("ServiceAccounts", doc=f"ServiceAccounts in the {label}", priority=1),
    )


def binding_cells(obj: Obj, now: datetime) -> list[Any]:
    ref = obj.get("roleRef") or {}
    users, groups, service_accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            service_accounts.append(f"{text(subject.get('namespace'))}/{text(subject.get('name'))}")
        elif kind == "User":
            users.append(text(subject.get("name")))
        elif kind == "Group":
            groups.append(text(subject.get("name")))
    return [
        name(obj),
        f"{text(ref.get('kind'))}/{text(ref.get('name'))}",
        age(obj, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(service_accounts),
    ]


# --- kube-aggregator ---

API_SERVICE_COLUMNS = (
    NAME,
    Col("Service", doc="The reference to the service that hosts this API endpoint."),
    Col("Available", doc="Whether this service is available."),
    AGE,
)


def api_service_cells(obj: Obj, now: datetime) -> list[Any]:
    service = dig(obj, "spec", "service")
    where = f"{text(service.get('namespace'))}/{text(service.get('name'))}" if isinstance(service, dict) else "Local"
    status = "Unknown"
    for cond in dig(obj, "status", "conditions", default=[]):
        if cond.get("type") == "Available":
            status = text(cond.get("status"))
            if status != "True" and cond.get("reason"):
                status = f"{status} ({cond['reason']})"
            break
    return [name(obj), where, status, age(obj, now)]


PRINTERS = {
    ("networking.k8s.io", "Ingress"): Printer(INGRESS_COLUMNS, ingress_cells),
    ("networking.k8s.io", "IngressClass"): Printer(INGRESS_CLASS_COLUMNS, ingress_class_cells),
    ("networking.k8s.io", "NetworkPolicy"): Printer(
        NETWORK_POLICY_COLUMNS,
        lambda o, now: [name(o), format_label_selector(dig(o, "spec", "podSelector", default={})), age(o, now)],
    ),
    ("networking.k8s.io", "ServiceCIDR"): Printer(
        SERVICE_CIDR_COLUMNS,
        lambda o, now: [name(o), ",".join(dig(o, "spec", "cidrs", default=[])), age(o, now)],
    ),
    ("networking.k8s.io", "IPAddress"): Printer(IP_ADDRESS_COLUMNS, ip_address_cells),
    ("discovery.k8s.io", "EndpointSlice"): Printer(ENDPOINT_SLICE_COLUMNS, endpoint_slice_cells),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(
        _binding_columns("RoleBinding", "roleBinding"), binding_cells
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(
        _binding_columns("ClusterRoleBinding", "clusterRoleBinding"), binding_cells
    ),
    ("apiregistration.k8s.io", "APIService"): Printer(API_SERVICE_COLUMNS, api_service_cells),
}
