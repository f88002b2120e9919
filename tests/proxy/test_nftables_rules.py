"""Rule generation of the nftables proxier against kube-proxy 1.31's shapes
(pkg/proxy/nftables/proxier_test.go: service-ULMVA6XW-ns1/svc1/tcp/p80,
endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80)."""

from __future__ import annotations

from kybernetes.proxy import nftables, services
from tests.proxy.fixtures import endpoint_slice, service

SVC = "service-ULMVA6XW-ns1/svc1/tcp/p80"
EP1 = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"


def _rs(svcs, slices):
    return nftables.compute(services.build(svcs, slices, "node1"), cluster_cidr="10.0.0.0/8")


def test_chain_names_are_kube_proxys():
    rs = _rs([service("ns1", "svc1", "172.30.0.41")], [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    assert set(rs.chains) == {SVC, EP1}
    assert rs.chains[SVC] == ["ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
                              f"numgen random mod 1 vmap {{ 0 : goto {EP1} }}"]
    assert rs.chains[EP1] == ["ip saddr 10.180.0.1 jump mark-for-masquerade",
                              "meta l4proto tcp dnat to 10.180.0.1:80"]
    assert rs.elements[("service-ips", "172.30.0.41 . tcp . 80")] == f"goto {SVC}"


def test_no_endpoints_rejects_through_the_map():
    rs = _rs([service("ns4", "svc4", "172.30.0.44", node_port=3004)], [])
    assert rs.elements[("no-endpoint-services", "172.30.0.44 . tcp . 80")] == "goto reject-chain"
    assert rs.elements[("no-endpoint-nodeports", "tcp . 3004")] == "goto reject-chain"
    assert rs.chains == {}


def test_partial_update_touches_only_what_changed():
    one = _rs([service("ns1", "svc1", "172.30.0.41")], [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    two = _rs([service("ns1", "svc1", "172.30.0.41"), service("ns2", "svc2", "172.30.0.42")],
              [endpoint_slice("ns1", "svc1", ["10.180.0.1"]), endpoint_slice("ns2", "svc2", ["10.180.0.2"])])
    script = nftables.render_partial(one, two)
    assert "ns1/svc1" not in script
    assert "add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 : goto service-" in script
    back = nftables.render_partial(two, one)
    assert "delete element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 }" in back
    assert back.index("delete element") < back.index("delete chain")
    assert nftables.render_partial(one, one) == ""


def test_session_affinity_sets():
    rs = _rs([service("ns1", "svc1", "172.30.0.41", sessionAffinity="ClientIP")],
             [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    aff = "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert rs.sets[aff] == "{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }"
    assert f"ip saddr @{aff} goto {EP1}" in rs.chains[SVC]
    assert f"update @{aff} {{ ip saddr }}" in rs.chains[EP1]


def test_unchanged_service_ports_keep_their_part():
    builder = services.StateBuilder("node1")
    svcs = [service("ns1", "svc1", "172.30.0.41"), service("ns2", "svc2", "172.30.0.42")]
    kept = endpoint_slice("ns1", "svc1", ["10.180.0.1"])
    one = nftables.compute(builder.build(svcs, [kept, endpoint_slice("ns2", "svc2", ["10.180.0.2"])]),
                           cluster_cidr="10.0.0.0/8")
    two = nftables.compute(builder.build(svcs, [kept, endpoint_slice("ns2", "svc2", ["10.180.0.3"])]),
                           cluster_cidr="10.0.0.0/8", previous=one)
    svc1 = services.ServicePortName("ns1", "svc1", "p80")
    assert two.parts[svc1] is one.parts[svc1]
    script = nftables.render_partial(one, two)
    assert "ns1/svc1" not in script and "delete chain ip kube-proxy endpoint-" in script and "10.180.0.3" in script


def test_removing_one_port_keeps_the_cluster_ip_the_other_port_shares():
    def two_ports(*names):
        svc = service("ns1", "svc1", "172.30.0.41")
        svc["spec"]["ports"] = [{"name": n, "port": p, "protocol": "TCP"} for n, p in (("p80", 80), ("p443", 443))
                                if n in names]
        return svc
    builder = services.StateBuilder("node1")
    both = nftables.compute(builder.build([two_ports("p80", "p443")], []), cluster_cidr="10.0.0.0/8")
    one = nftables.compute(builder.build([two_ports("p80")], []), cluster_cidr="10.0.0.0/8", previous=both)
    script = nftables.render_partial(both, one)
    assert "delete element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 443 }" in script
    assert "cluster-ips" not in script
    assert "cluster-ips" in nftables.render_partial(one, nftables.compute(builder.build([], []), cluster_cidr=""))
