"""Services and EndpointSlices into service ports and endpoints (kube-proxy's
ServicePort, EndpointSliceCache and CategorizeEndpoints)."""

from __future__ import annotations

from kybernetes.proxy import services
from kybernetes.proxy.services import ServicePortName
from tests.proxy.fixtures import endpoint_slice, service

SVC1 = ServicePortName("ns1", "svc1", "p80")


def test_service_port_name_prints_as_kube_proxy():
    assert str(SVC1) == "ns1/svc1:p80"
    assert str(ServicePortName("ns1", "svc1")) == "ns1/svc1"


def test_headless_external_name_and_foreign_proxy_services_are_skipped():
    assert services.service_ports(service("ns1", "h", "None")) == []
    assert services.service_ports(service("ns1", "x", "", type="ExternalName", externalName="a.b")) == []
    other = service("ns1", "o", "172.30.0.9")
    other["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": "other"}
    assert services.service_ports(other) == []


def test_session_affinity_defaults_to_three_hours():
    [sp] = services.service_ports(service("ns1", "svc1", "172.30.0.41", sessionAffinity="ClientIP"))
    assert sp.affinity_seconds == 10800
    [sp] = services.service_ports(service("ns1", "svc1", "172.30.0.41", sessionAffinity="ClientIP",
                                          sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    assert sp.affinity_seconds == 60


def test_node_port_only_for_node_port_and_load_balancer_types():
    [sp] = services.service_ports(service("ns1", "svc1", "172.30.0.41", node_port=3001))
    assert sp.node_port == 3001 and sp.externally_accessible
    svc = service("ns1", "svc1", "172.30.0.41", node_port=3001, type="ClusterIP")
    assert services.service_ports(svc)[0].node_port == 0


def test_endpoints_merge_slices_sorted_and_deduplicated():
    state = services.build(
        [service("ns1", "svc1", "172.30.0.41")],
        [endpoint_slice("ns1", "svc1", ["10.180.0.2", "10.180.0.1"], name="a"),
         endpoint_slice("ns1", "svc1", ["10.180.0.1", "10.180.0.3"], name="b"),
         endpoint_slice("ns1", "other", ["10.180.0.9"])], "node1")
    assert [str(ep) for ep in state.endpoints_of(SVC1)] == ["10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"]
    assert ServicePortName("ns1", "other", "p80") not in state.endpoints


def test_conditions_default_and_locality():
    state = services.build([service("ns1", "svc1", "172.30.0.41")], [endpoint_slice("ns1", "svc1", [
        ("10.180.0.1", {}, "node1"),
        ("10.180.0.2", {"ready": False}, "node2"),
        ("10.180.0.3", {"ready": False, "serving": True, "terminating": True}, "node1")])], "node1")
    a, b, c = state.endpoints_of(SVC1)
    assert (a.ready, a.serving, a.local) == (True, True, True)
    assert (b.ready, b.serving, b.local) == (False, False, False)
    assert (c.ready, c.serving, c.terminating) == (False, True, True)


def _categorize(eps, **spec):
    state = services.build([service("ns1", "svc1", "172.30.0.41", **spec)],
                           [endpoint_slice("ns1", "svc1", eps)], "node1")
    return services.categorize(state.endpoints_of(SVC1), state.services[SVC1])


def test_only_ready_endpoints_are_used():
    got = _categorize([("10.180.0.1", {}, "node1"), ("10.180.0.2", {"ready": False}, "node2")])
    assert [ep.ip for ep in got.cluster] == ["10.180.0.1"] and got.has_any


def test_serving_terminating_endpoints_are_the_fallback():
    got = _categorize([("10.180.0.1", {"ready": False, "serving": True, "terminating": True}, "node2"),
                       ("10.180.0.2", {"ready": False}, "node2")])
    assert [ep.ip for ep in got.cluster] == ["10.180.0.1"] and got.has_any
    assert not _categorize([("10.180.0.2", {"ready": False}, "node2")]).has_any


def test_internal_traffic_policy_local_uses_local_endpoints_only():
    got = _categorize([("10.180.0.1", {}, "node1"), ("10.180.0.2", {}, "node2")], internalTrafficPolicy="Local")
    assert got.cluster == [] and [ep.ip for ep in got.local] == ["10.180.0.1"]
    none_here = _categorize([("10.180.0.2", {}, "node2")], internalTrafficPolicy="Local")
    assert none_here.local == [] and none_here.has_any


def test_node_port_with_both_policies_local_keeps_cluster_endpoints_for_pods():
    """kube-proxy's UsesClusterEndpoints: pods reaching a Local node port are
    short-circuited to every endpoint, so those stay categorized."""
    got = _categorize([("10.180.0.1", {}, "node1"), ("10.180.0.2", {}, "node2")], node_port=30080,
                      internalTrafficPolicy="Local", externalTrafficPolicy="Local")
    assert [ep.ip for ep in got.cluster] == ["10.180.0.1", "10.180.0.2"]
    assert [ep.ip for ep in got.local] == ["10.180.0.1"]
