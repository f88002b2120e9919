"""Restarts and cleanup: an agent that starts again adopts what exists, and
`cleanup(prefix)` removes one cluster's network and nothing else."""

from __future__ import annotations

import os

from kybernetes.network import cleanup, cluster, iproute, naming, pods
from tests.network import probes
from tests.network.conftest import needs_root

pytestmark = needs_root


def _cidr(network, index: int) -> str:
    return f"{network.plan.cluster_cidr.network_address + 256 * index}/24"


async def test_restarted_agent_adopts_node_host_and_pods(network):
    host = await network.add_node_host("n1", _cidr(network, 1))
    pod = await pods.PodNetwork(host, state_root=network.state_root).setup("p1")
    inodes = [os.stat(naming.netns_path(n)).st_ino for n in (host.netns, pod.netns)]
    # A new process: new objects over the same kernel state and state files.
    again = cluster.ClusterNetwork(network.plan, state_root=network.state_root)
    host_again = await again.add_node_host("n1", _cidr(network, 1))
    assert host_again == host
    pod_again = await pods.PodNetwork(host_again, state_root=network.state_root).setup("p1")
    assert pod_again == pod
    assert [os.stat(naming.netns_path(n)).st_ino for n in (host.netns, pod.netns)] == inodes  # not rebuilt
    status, message = await probes.ping(None, pod.ip)
    assert status == 0, message


async def test_node_routes_follow_nodes_coming_and_going(network):
    hosts = [await network.add_node_host(f"n{i}", _cidr(network, i)) for i in (1, 2, 3)]

    async def routes(host):
        found = await iproute.ip_json("route", "show", "proto", "147", netns=host.netns)
        return {(r["dst"], r["gateway"]) for r in found}

    assert await routes(hosts[0]) == {(str(h.pod_cidr), str(h.address.ip)) for h in hosts[1:]}
    await network.remove_node_host("n2")
    assert await routes(hosts[0]) == {(str(hosts[2].pod_cidr), str(hosts[2].address.ip))}
    assert await routes(hosts[2]) == {(str(hosts[0].pod_cidr), str(hosts[0].address.ip))}
    assert [h.name for h in await network.node_hosts()] == ["n1", "n3"]


async def test_cleanup_removes_one_prefix_and_nothing_else(network, tmp_path):
    host = await network.add_node_host("n1", _cidr(network, 1))
    await pods.PodNetwork(host, state_root=network.state_root).setup("p1")
    other_plan = await probes.free_plan()
    other = cluster.ClusterNetwork(other_plan, state_root=str(tmp_path / "other"))
    try:
        other_host = await other.add_node_host("n1", f"{other_plan.cluster_cidr.network_address + 256}/24")
        removed = await cleanup.cleanup(network.plan.prefix, state_root=network.state_root)
        assert set(removed.links) == {network.plan.bridge, host.root_veth}
        assert len(removed.namespaces) == 2 and len(removed.routes) == 3
        assert not [n for n in iproute.list_netns() if n.startswith(network.plan.prefix + "-")]
        assert await iproute.link_exists(other.plan.bridge) and iproute.netns_exists(other_host.netns)
        assert await other_host.is_complete()
    finally:
        await cleanup.cleanup(other_plan.prefix, plan=other_plan, state_root=other.state_root)
    assert not await iproute.link_exists(other.plan.bridge)
