"""Safety checks: a plan that overlaps what the machine routes is refused
before anything is created, and only prefixed names are accepted."""

from __future__ import annotations

import pytest

from kybernetes.network import cluster, iproute, pods, safety
from kybernetes.network.addressing import AddressPlan
from kybernetes.network.errors import UnsafeNetworkError
from tests.network import probes
from tests.network.conftest import needs_root

ROUTES = [
    {"dst": "default", "gateway": "192.168.1.1", "dev": "wlan0"},
    {"dst": "10.96.0.0/16", "dev": "tun0", "protocol": "static"},
    {"type": "unreachable", "dst": "10.244.0.0/16", "protocol": "147", "metric": 4000},
]
ADDRESSES = [{"ifname": "wlan0", "addr_info": [{"family": "inet", "local": "172.31.255.7", "prefixlen": 24}]}]


def test_overlaps_with_machine_routes_and_addresses_are_found():
    plan = AddressPlan()
    found = safety.overlaps(plan, safety.used_ranges(ROUTES, ADDRESSES, plan))
    assert any("service_cidr" in f and "tun0" in f for f in found)
    assert any("node_network" in f and "wlan0" in f for f in found)
    assert not any("cluster_cidr" in f for f in found)  # its own fallback route is not a clash
    assert not any("default" in f for f in found)


def test_another_clusters_fallback_route_is_a_clash():
    other = AddressPlan(cluster_cidr="10.244.0.0/17", service_cidr="10.97.0.0/16",
                        node_network="172.31.1.0/24")
    assert safety.overlaps(other, safety.used_ranges(ROUTES[2:], [], other))


@needs_root
async def test_second_cluster_on_the_same_ranges_is_refused(network):
    await network.ensure()
    plan = network.plan
    twin_plan = AddressPlan(prefix=probes.random_prefix(), node_network=plan.node_network,
                            cluster_cidr=plan.cluster_cidr, service_cidr=plan.service_cidr)
    twin = cluster.ClusterNetwork(twin_plan, state_root=network.state_root)
    with pytest.raises(UnsafeNetworkError, match="overlaps the machine's"):
        await twin.ensure()
    assert not await iproute.link_exists(twin.plan.bridge)


@needs_root
async def test_changed_plan_for_an_existing_bridge_is_refused(network):
    await network.ensure()
    plan = network.plan
    changed = AddressPlan(prefix=plan.prefix, node_network=plan.node_network, cluster_cidr=plan.cluster_cidr,
                          service_cidr=plan.service_cidr, mtu=1400)
    with pytest.raises(UnsafeNetworkError, match="another plan"):
        await cluster.ClusterNetwork(changed, state_root=network.state_root).ensure()


@needs_root
async def test_unprefixed_pod_namespace_is_refused(network):
    host = await network.add_node_host("n1", f"{network.plan.cluster_cidr.network_address + 256}/24")
    pod_network = pods.PodNetwork(host, state_root=network.state_root)
    before = iproute.list_netns()
    with pytest.raises(UnsafeNetworkError, match="project prefix"):
        await pod_network.setup("p1", netns_name="cni-p1")
    assert iproute.list_netns() == before and await pod_network.pods() == {}


def test_snapshot_comparison_sees_leftovers_but_not_other_clusters():
    plan = AddressPlan(prefix="kybt0001", node_network="172.31.9.0/24")
    before = {"links": {"eth0"}, "routes": {"default via 192.0.2.1 dev eth0"}}
    after = {"links": {"eth0", "kybt00010", "kybt9999n123456"},
             "routes": {"default via 192.0.2.1 dev eth0", "unreachable 10.1.0.0/16 proto 147 metric 4000",
                        "unreachable 172.31.9.0/24 proto 147 metric 4000"}}
    assert probes.changes(before, after, plan) == {
        "links": {"added": ["kybt00010"], "removed": []},
        "routes": {"added": ["unreachable 172.31.9.0/24 proto 147 metric 4000"], "removed": []},
    }
