"""Service, Endpoints and EndpointSlice validation."""

import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api.validation import validate


def service(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "resourceVersion": "1"}, "spec": body}


def errors(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None,
           subresource: str = "") -> list[str]:
    obj = copy.deepcopy(obj)
    default(group, kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        default(group, kind, old)
    return [f"{c['field']}: {c['message']}" for c in validate(group, kind, obj, old, subresource=subresource)]


def test_defaulted_service_is_valid() -> None:
    assert errors("", "Service", service()) == []
    assert errors("", "Service", service(clusterIP="None", ports=[])) == []


def test_ports_required_unless_headless_or_external_name() -> None:
    assert errors("", "Service", service(ports=[])) == ["spec.ports: Required value"]
    ext = service(type="ExternalName", externalName="db.example.com.", ports=[])
    assert errors("", "Service", ext) == []
    assert errors("", "Service", service(type="ExternalName", ports=[])) == ["spec.externalName: Required value"]


def test_port_names_and_numbers() -> None:
    ports = [{"port": 80}, {"port": 0, "name": "Web"}, {"port": 80, "name": "b", "targetPort": "no-such--name"}]
    errs = errors("", "Service", service(ports=ports))
    assert errs[0] == "spec.ports[0].name: Required value"
    assert errs[1].startswith('spec.ports[1].name: Invalid value: "Web": a lowercase RFC 1123 label')
    assert errs[2] == "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    # targetPort defaults to port, so a zero port gives an invalid targetPort too
    assert errs[3] == "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"
    assert errs[4] == 'spec.ports[2].targetPort: Invalid value: "no-such--name": must not contain consecutive hyphens'
    assert errs[-1].startswith('spec.ports[2]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP"')


def test_type_and_affinity_enums() -> None:
    errs = errors("", "Service", service(type="Magic", sessionAffinity="Sticky"))
    assert 'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"' in errs
    assert ('spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
            '"NodePort"') in errs


def test_cluster_ip_values() -> None:
    assert errors("", "Service", service(clusterIP="10.96.0.300")) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']
    assert errors("", "Service", service(clusterIP="None", type="NodePort")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]


def test_cluster_ip_may_not_change() -> None:
    old = service(clusterIP="10.96.0.5", clusterIPs=["10.96.0.5"])
    new = service(clusterIP="10.96.0.6", clusterIPs=["10.96.0.5"])
    assert errors("", "Service", new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.6"}: may not change once set']


def test_node_port_forbidden_for_cluster_ip_type() -> None:
    assert errors("", "Service", service(ports=[{"port": 80, "nodePort": 30080}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


def test_status_update_load_balancer_only() -> None:
    old = service()
    new = service()
    new["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert errors("", "Service", new, old, subresource="status") == [
        "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"]


def test_endpoints() -> None:
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
          "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}, {"port": 81, "name": "b"}]}, {}]}
    assert errors("", "Endpoints", ep) == [
        'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        "subsets[0].ports[0].name: Required value",
        "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`"]


def test_endpoint_slices() -> None:
    es = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-abc"},
          "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}, {"addresses": ["fd00::1"]}],
          "ports": [{"port": 80}]}
    assert errors("discovery.k8s.io", "EndpointSlice", es) == [
        'endpoints[1].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address']
    es["addressType"] = "IPv7"
    assert errors("discovery.k8s.io", "EndpointSlice", es)[0] == (
        'addressType: Unsupported value: "IPv7": supported values: "FQDN", "IPv4", "IPv6"')
