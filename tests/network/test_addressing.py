"""Address plans and names: what is accepted and what is refused up front."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from kybernetes.network import addressing, naming
from kybernetes.network.addressing import AddressPlan


def test_default_plan_matches_design_defaults():
    plan = AddressPlan()
    assert plan.cluster_cidr == IPv4Network("10.244.0.0/16")
    assert plan.service_cidr == IPv4Network("10.96.0.0/12")
    assert plan.bridge == "kyb0" and str(plan.bridge_address) == "172.31.255.1/24"


@pytest.mark.parametrize("kwargs, message", [
    ({"cluster_cidr": "8.8.0.0/16"}, "private"),
    ({"service_cidr": "10.244.128.0/17"}, "overlaps"),
    ({"node_network": "10.96.0.0/24"}, "overlaps"),
    ({"cluster_cidr": "10.244.0.1/16"}, "host bits"),
    ({"prefix": "docker"}, "kyb"),
    ({"prefix": "kyb-x"}, "kyb"),
    ({"prefix": "kybtoolong"}, "kyb"),
    ({"node_network": "fd00::/64"}, "IPv4"),
])
def test_bad_plans_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AddressPlan(**kwargs)


def test_pod_cidr_must_lie_in_cluster_cidr():
    plan = AddressPlan()
    assert plan.check_pod_cidr("10.244.7.0/24") == IPv4Network("10.244.7.0/24")
    with pytest.raises(ValueError, match="not inside"):
        plan.check_pod_cidr("10.245.0.0/24")


def test_plan_round_trips_through_the_bridge_alias():
    plan = AddressPlan(prefix="kybt1", node_network="172.31.9.0/24", mtu=1400)
    assert AddressPlan.from_alias("kybt1", plan.alias()) == plan
    assert AddressPlan.from_alias("kybt1", "something else") is None


def test_gateway_and_mac():
    assert str(addressing.gateway(IPv4Network("10.244.1.0/24"))) == "10.244.1.1/24"
    assert addressing.mac_for(IPv4Address("10.244.1.2")) == "0a:58:0a:f4:01:02"


def test_link_names_fit_the_kernel_limit_and_never_collide_across_prefixes():
    for prefix in ("kyb", "kybt1a2b", "kyb12345"):
        assert len(naming.root_bridge(prefix)) <= 15
        assert len(naming.node_veth(prefix, "a-very-long-node-name.example.com")) <= 15
        assert naming.owns_root_link(prefix, naming.node_veth(prefix, "n1"))
    assert not naming.owns_root_link("kyb", naming.node_veth("kybt1a2b", "n1"))
    assert not naming.owns_root_link("kyb", naming.root_bridge("kybt1a2b"))
    assert not naming.owns_root_link("kyb", "eth0")
    assert len(naming.pod_veth("0f8e2a4c-1111-2222-3333-444455556666")) <= 15


def test_namespaces_are_owned_by_prefix_only():
    assert naming.owns_netns("kyb", "kyb-node-n1")
    assert not naming.owns_netns("kyb", "kybt12-node-n1")
    assert not naming.owns_netns("kyb", "cni-1234")
    with pytest.raises(ValueError):
        naming.node_netns("kyb", "Bad_Name")
