"""Two node hosts, two pods on each: the pod network a user of the cluster sees.

Pods reach each other across nodes without NAT, the machine reaches pods
through its routes, and when a node host goes, its addresses become
unreachable on the machine instead of following the default route out.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from kybernetes.network import iproute
from tests.network import probes
from tests.network.conftest import needs_root

pytestmark = needs_root


@pytest.fixture
async def two_nodes(network):
    """Node hosts n1 and n2 with podCIDRs .1.0/24 and .2.0/24, two pods on each."""
    base = network.plan.cluster_cidr.network_address
    hosts = [await network.add_node_host(f"n{i}", f"{base + 256 * i}/24") for i in (1, 2)]
    nets = [network.pod_network(h) for h in hosts]
    sandboxes = [await nets[i // 2].setup(f"pod-{i}") for i in range(4)]
    yield network, hosts, nets, sandboxes


async def test_pods_get_addresses_from_their_nodes_podcidr(two_nodes):
    _, hosts, _, (a, b, c, d) = two_nodes
    assert {a.ip, b.ip} <= set(hosts[0].pod_cidr.hosts()) and {c.ip, d.ip} <= set(hosts[1].pod_cidr.hosts())
    assert len({a.ip, b.ip, c.ip, d.ip}) == 4
    for pod, host in ((a, hosts[0]), (c, hosts[1])):
        assert pod.gateway == host.gateway.ip != pod.ip
        routes = await iproute.ip_json("route", "show", "default", netns=pod.netns)
        assert routes[0]["gateway"] == str(host.gateway.ip)


async def test_pods_ping_each_other_within_and_across_nodes(two_nodes):
    _, _, _, (a, b, c, d) = two_nodes
    for src, dst in ((a, b), (a, c), (a, d), (c, b), (d, a)):
        status, message = await probes.ping(src.netns, dst.ip)
        assert status == 0, f"{src} -> {dst}: {message}"


async def test_pods_reach_the_machine_on_its_bridge_address(two_nodes):
    network, _, _, (a, _, c, _) = two_nodes
    for pod in (a, c):  # where an API server for pods would listen
        status, message = await probes.ping(pod.netns, network.plan.bridge_address.ip)
        assert status == 0, f"{pod} -> machine: {message}"


async def test_same_pod_set_up_twice_at_once_gets_one_sandbox(two_nodes):
    _, _, nets, _ = two_nodes
    first, second = await asyncio.gather(nets[0].setup("twice"), nets[0].setup("twice"))
    assert first == second
    status, message = await probes.ping(None, first.ip)
    assert status == 0, message


async def test_peer_sees_the_pod_address_without_nat(two_nodes):
    _, _, _, (a, _, c, _) = two_nodes
    server = await asyncio.create_subprocess_exec(
        *probes.in_netns(a.netns, sys.executable, "-c", probes.ECHO_SERVER, "8080"),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(server.stdout.readline(), 10)).strip() == b"ready"
        client = await asyncio.create_subprocess_exec(
            *probes.in_netns(c.netns, sys.executable, "-c", probes.ECHO_CLIENT, str(a.ip), "8080"),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(client.communicate(), 10)
        assert out.decode().strip() == str(c.ip)  # what the client was told
        assert (await asyncio.wait_for(server.stdout.readline(), 10)).decode().strip() == str(c.ip)
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        await server.wait()


async def _route_device(address: object) -> str:
    """The device `ip route get` picks on the machine, or 'unreachable'."""
    try:
        out = await iproute.ip("route", "get", str(address))
    except iproute.CommandError as e:
        assert "unreachable" in e.stderr.lower() or "no route" in e.stderr.lower(), e.stderr
        return "unreachable"
    words = out.split()
    return "unreachable" if words[0] == "unreachable" else words[words.index("dev") + 1]


async def test_machine_reaches_pods_and_never_leaks_cluster_addresses(two_nodes):
    network, hosts, nets, (a, _, c, _) = two_nodes
    plan = network.plan
    for pod in (a, c):
        status, message = await probes.ping(None, pod.ip)
        assert status == 0, f"machine -> {pod}: {message}"
    service_ip = plan.service_cidr.network_address + 10
    for address in (a.ip, c.ip, service_ip, hosts[1].address.ip):
        assert await _route_device(address) == plan.bridge
    unused = plan.cluster_cidr.broadcast_address - 1  # inside the cluster CIDR, on no node
    assert await _route_device(unused) == "unreachable"

    await network.remove_node_host("n2")
    assert await _route_device(c.ip) == "unreachable"
    status, message = await probes.ping(None, c.ip, timeout=1.0)
    assert status == 2 and "unreachable" in message  # refused at once (1 would be a timeout)
    assert not iproute.netns_exists(c.netns) and not iproute.netns_exists(hosts[1].netns)
    assert await _route_device(service_ip) == plan.bridge  # still via n1
    routes = await iproute.ip_json("route", "show", "proto", "147", netns=hosts[0].netns)
    assert routes == []  # n1 no longer routes to n2's podCIDR

    await nets[0].teardown_all()
    await network.remove_node_host("n1")
    for address in (a.ip, service_ip, plan.node_network.network_address + 200):
        assert await _route_device(address) in ("unreachable", plan.bridge)
    assert await _route_device(service_ip) == "unreachable"


async def test_teardown_releases_and_is_idempotent(two_nodes):
    _, hosts, nets, (a, b, _, _) = two_nodes
    await nets[0].teardown("pod-0")
    await nets[0].teardown("pod-0")
    assert not iproute.netns_exists(a.netns)
    assert not await iproute.link_exists(a.host_veth, netns=hosts[0].netns)
    assert set(await nets[0].pods()) == {"pod-1"}
    again = await nets[0].setup("pod-1")
    assert again == b  # setup of a complete sandbox returns it unchanged
