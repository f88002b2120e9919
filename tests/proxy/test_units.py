"""Pieces of kube-proxy with no kernel behind them: the namespace guard, the
userspace balancer and stale-UDP conntrack decisions."""

from __future__ import annotations

import pytest

from kybernetes.proxy import conntrack, hosts, services
from kybernetes.proxy.services import Endpoint
from kybernetes.proxy.userspace import Balancer
from tests.proxy.fixtures import endpoint_slice, service


@pytest.mark.parametrize("netns", ["", "default", "node1", "/proc/1/ns/net", "/proc/self/ns/net",
                                   "/run/netns/other-node", "kyb-node-x/../../proc/1/ns/net", "KYB-node"])
def test_guard_refuses_anything_but_a_project_node_host(netns):
    with pytest.raises(hosts.UnsafeNamespace):
        hosts.NodeHostNetns(netns)


def test_guard_refuses_a_missing_namespace():
    with pytest.raises(hosts.UnsafeNamespace, match="does not exist"):
        hosts.NodeHostNetns("kybzz9-node-missing")


async def test_guard_refuses_tools_other_than_the_packet_filters(tmp_path, monkeypatch):
    target = object.__new__(hosts.NodeHostNetns)
    target.name, target.path = "kybzz9-node-x", str(tmp_path)
    with pytest.raises(hosts.UnsafeNamespace, match="not a tool"):
        await target.run("sh", "-c", "true")


def test_balancer_round_robin_and_affinity():
    eps = [Endpoint("10.0.0.1", 80), Endpoint("10.0.0.2", 80)]
    b = Balancer()
    b.update(eps, 0)
    assert [b.pick("c").ip for _ in range(4)] == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]
    sticky = Balancer()
    sticky.update(eps, 10)
    first = sticky.pick("c", now=0.0)
    assert all(sticky.pick("c", now=t) == first for t in (1.0, 5.0, 14.0))
    assert sticky.pick("other", now=1.0) != first
    sticky.update([ep for ep in eps if ep != first], 10)
    assert sticky.pick("c", now=15.0) != first


def test_conntrack_flushes_removed_udp_endpoints_and_revived_services():
    svc = service("ns1", "dns", "172.30.0.10", protocol="UDP", port=53, port_name="dns")
    two = services.build([svc], [endpoint_slice("ns1", "dns", ["10.180.0.1", "10.180.0.2"], port=53,
                                                port_name="dns")], "n")
    one = services.build([svc], [endpoint_slice("ns1", "dns", ["10.180.0.1"], port=53, port_name="dns")], "n")
    none = services.build([svc], [], "n")
    assert conntrack.stale_udp(two, one) == [["-D", "--orig-dst", "172.30.0.10", "--dst-nat", "10.180.0.2", "-p", "udp"]]
    assert conntrack.stale_udp(none, one) == [["-D", "--orig-dst", "172.30.0.10", "-p", "udp"]]
    assert conntrack.stale_udp(one, one) == []
    assert conntrack.stale_udp(None, one) == []
