"""Rule generation of the iptables proxier against kube-proxy's own expected
output (pkg/proxy/iptables/proxier_test.go: ns1/svc1:p80 → KUBE-SVC-XPGD46QRK7WJZT7O,
endpoint 10.180.0.1:80 → KUBE-SEP-SXIVWICOYRO3J4NJ)."""

from __future__ import annotations

from kybernetes.proxy import iptables, services
from tests.proxy.fixtures import endpoint_slice, service

CIDR = "10.0.0.0/8"


def _rules(svcs, slices, node_ips=("192.168.0.2",), **kw):
    return iptables.compute(services.build(svcs, slices, "node1"), cluster_cidr=CIDR, node_ips=list(node_ips), **kw)


def test_chain_names_are_kube_proxys():
    assert iptables.service_chain("ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert iptables.endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert iptables.external_chain("ns1/svc1:p80", "tcp") == "KUBE-EXT-XPGD46QRK7WJZT7O"
    assert iptables.local_chain("ns1/svc1:p80", "tcp") == "KUBE-SVL-XPGD46QRK7WJZT7O"


def test_probability_is_formatted_as_kube_proxy():
    assert [iptables.probability(n) for n in (2, 3, 4)] == ["0.5000000000", "0.3333333333", "0.2500000000"]


def test_cluster_ip_service_with_one_endpoint():
    r = _rules([service("ns1", "svc1", "172.30.0.41")], [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    assert ('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41'
            " --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O") in r.nat["KUBE-SERVICES"]
    assert r.service_chains["KUBE-SVC-XPGD46QRK7WJZT7O"] == [
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp'
        " -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80"'
        " -j KUBE-SEP-SXIVWICOYRO3J4NJ",
    ]
    assert r.service_chains["KUBE-SEP-SXIVWICOYRO3J4NJ"] == [
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT"
        " --to-destination 10.180.0.1:80",
    ]


def test_statistic_ladder_spreads_evenly():
    r = _rules([service("ns1", "svc1", "172.30.0.41")],
               [endpoint_slice("ns1", "svc1", ["10.180.0.1", "10.180.0.2", "10.180.0.3"])])
    ladder = r.service_chains["KUBE-SVC-XPGD46QRK7WJZT7O"][1:]
    assert ["--probability 0.3333333333" in ladder[0], "--probability 0.5000000000" in ladder[1],
            "statistic" not in ladder[2]] == [True, True, True]


def test_service_without_endpoints_is_rejected_in_filter():
    r = _rules([service("ns4", "svc4", "172.30.0.44", node_port=3004)], [])
    assert r.filter["KUBE-SERVICES"] == [
        '-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44'
        " --dport 80 -j REJECT"]
    assert r.filter["KUBE-EXTERNAL-SERVICES"] == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m addrtype'
        " --dst-type LOCAL -m tcp -p tcp --dport 3004 -j REJECT"]
    assert r.service_chains == {}


def test_node_port_goes_through_the_external_chain():
    r = _rules([service("ns2", "svc2", "172.30.0.42", node_port=3001)], [endpoint_slice("ns2", "svc2", ["10.180.0.2"])])
    ext = iptables.external_chain("ns2/svc2:p80", "tcp")
    assert r.nat["KUBE-NODEPORTS"] == [f"-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j {ext}"]
    assert r.service_chains[ext] == [
        f'-A {ext} -m comment --comment "masquerade traffic for ns2/svc2:p80 external destinations" -j KUBE-MARK-MASQ',
        f"-A {ext} -j {iptables.service_chain('ns2/svc2:p80', 'tcp')}"]
    assert r.nat["KUBE-SERVICES"][-1] == (
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule'
        ' in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS')


def test_external_traffic_policy_local():
    r = _rules([service("ns3", "svc3", "172.30.0.43", node_port=3003, externalTrafficPolicy="Local")],
               [endpoint_slice("ns3", "svc3", [("10.180.0.1", {}, "node1"), ("10.180.0.2", {}, "node2")])])
    svc, svl, ext = (f("ns3/svc3:p80", "tcp") for f in (iptables.service_chain, iptables.local_chain,
                                                       iptables.external_chain))
    assert r.service_chains[ext] == [
        f'-A {ext} -m comment --comment "pod traffic for ns3/svc3:p80 external destinations" -s {CIDR} -j {svc}',
        f'-A {ext} -m comment --comment "masquerade LOCAL traffic for ns3/svc3:p80 external destinations"'
        " -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        f'-A {ext} -m comment --comment "route LOCAL traffic for ns3/svc3:p80 external destinations"'
        f" -m addrtype --src-type LOCAL -j {svc}",
        f"-A {ext} -j {svl}"]
    assert len(r.service_chains[svl]) == 1 and "10.180.0.1:80" in r.service_chains[svl][0]
    assert len(r.service_chains[svc]) == 3  # masquerade + two endpoints


def test_internal_traffic_policy_local_without_local_endpoints_drops():
    r = _rules([service("ns5", "svc5", "172.30.0.45", internalTrafficPolicy="Local")],
               [endpoint_slice("ns5", "svc5", [("10.180.0.2", {}, "node2")])])
    assert r.filter["KUBE-SERVICES"] == [
        '-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 has no local endpoints" -m tcp -p tcp'
        " -d 172.30.0.45 --dport 80 -j DROP"]


def test_session_affinity_uses_recent():
    r = _rules([service("ns1", "svc1", "172.30.0.41", sessionAffinity="ClientIP")],
               [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    sep = "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert (f'-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent'
            f" --name {sep} --rcheck --seconds 10800 --reap -j {sep}") in r.service_chains["KUBE-SVC-XPGD46QRK7WJZT7O"]
    assert (f"-A {sep} -m comment --comment ns1/svc1:p80 -m recent --name {sep} --set -m tcp -p tcp -j DNAT"
            " --to-destination 10.180.0.1:80") in r.service_chains[sep]


def test_masquerade_chains():
    r = _rules([], [])
    assert r.nat["KUBE-MARK-MASQ"] == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    assert r.nat["KUBE-POSTROUTING"][-1] == ('-A KUBE-POSTROUTING -m comment --comment'
                                             ' "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully')


def test_partial_payload_writes_only_changed_chains_and_deletes_stale_ones():
    r = _rules([service("ns1", "svc1", "172.30.0.41")], [endpoint_slice("ns1", "svc1", ["10.180.0.1"])])
    payload = iptables.render(r, write={"KUBE-SVC-XPGD46QRK7WJZT7O"}, delete={"KUBE-SEP-OLDOLDOLDOLDOLDO"})
    lines = payload.splitlines()
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in lines and ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]" not in lines
    assert lines.index(":KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]") < lines.index("-X KUBE-SEP-OLDOLDOLDOLDOLDO")
    assert lines.count("COMMIT") == 2 and lines[0] == "*filter"


def test_an_endpoint_change_regenerates_one_service_and_no_top_level_chain():
    builder, cache = services.StateBuilder("node1"), {}
    svcs = [service("ns1", "svc1", "172.30.0.41"), service("ns2", "svc2", "172.30.0.42")]
    kept = endpoint_slice("ns1", "svc1", ["10.180.0.1"])
    one = iptables.compute(builder.build(svcs, [kept, endpoint_slice("ns2", "svc2", ["10.180.0.2"])]),
                           cluster_cidr=CIDR, node_ips=[], cache=cache)
    before = dict(cache)
    two = iptables.compute(builder.build(svcs, [kept, endpoint_slice("ns2", "svc2", ["10.180.0.3"])]),
                           cluster_cidr=CIDR, node_ips=[], cache=cache)
    svc1, svc2 = services.ServicePortName("ns1", "svc1", "p80"), services.ServicePortName("ns2", "svc2", "p80")
    assert cache[svc1] is before[svc1] and cache[svc2] is not before[svc2]
    assert iptables.top_level(one) == iptables.top_level(two)
    payload = iptables.render(two, write={c for c in two.service_chains if c not in one.service_chains}, tops=set())
    assert "KUBE-SERVICES" not in payload and "10.180.0.3" in payload and "10.180.0.1" not in payload
