"""kube-proxy end to end in real namespaces: a real API server, the real sync
loop, a node host with three pods. Two pods serve, the third connects to the
Service's ClusterIP (and its NodePort), and the machine itself connects too;
both backends must answer. Deleting the Service removes its rules. All three
modes; the machine's own namespace keeps no iptables or nft rule."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Network

import pytest

from kybernetes.proxy import iptables, nftables
from tests.network import probes
from tests.proxy import traffic
from tests.proxy.conftest import BACKEND_PORT, needs_root
from tests.proxy.traffic import SERVICES, SLICES

pytestmark = [needs_root, pytest.mark.slow]


async def _rules(host, mode: str) -> str:
    if mode == "iptables":
        return await host.exec("iptables-save")
    if mode == "nftables":
        return await host.exec("nft", "list", "ruleset")
    return await host.exec("ip", "-o", "address", "show")


@pytest.mark.parametrize("mode", ["iptables", "nftables", "userspace"])
async def test_service_traffic_reaches_both_backends(mode, client, namespace, network, node):
    host, pods = node
    root_before = await asyncio.to_thread(probes.machine_state)
    async with traffic.running_proxy(client, network, host, mode):
        svc = await traffic.create_service(client, namespace, [(pods["a"], "node1"), (pods["b"], "node1")],
                                           target_port=BACKEND_PORT, type="NodePort")
        ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        assert IPv4Network(f"{ip}/32").subnet_of(network.plan.service_cidr)

        async def both_answer():
            seen = await traffic.connect_many(pods["c"].netns, ip, 80, 10)
            return seen if {"pod-a", "pod-b"} <= set(seen) else None
        await traffic.until(both_answer)

        seen = await traffic.connect_many(pods["c"].netns, ip, 80, 50)
        assert set(seen) == {"pod-a", "pod-b"} and min(seen.values()) >= 5, seen
        via_node_port = await traffic.connect_many(pods["c"].netns, str(host.address.ip), node_port, 30)
        assert set(via_node_port) == {"pod-a", "pod-b"}, via_node_port
        # The machine reaches ClusterIPs through its route into the node host.
        from_machine = await traffic.connect_many(None, ip, 80, 30)
        assert set(from_machine) == {"pod-a", "pod-b"}, from_machine
        if mode != "userspace":
            # Hairpin: a backend reaching its own Service, masqueraded back to itself.
            hairpin = await traffic.connect_many(pods["a"].netns, ip, 80, 30)
            assert set(hairpin) == {"pod-a", "pod-b"}, hairpin
        rules = await _rules(host, mode)
        assert {"iptables": iptables.service_chain(f"{namespace}/web:http", "tcp"),
                "nftables": f"service-{nftables.hash_and_truncate(f'{namespace}/web/tcp/http')}",
                "userspace": f"{ip}/32"}[mode] in rules

        await client.delete(SERVICES, "web", namespace)
        await client.delete(SLICES, "web-1", namespace)

        gone = {"iptables": (iptables.service_chain(f"{namespace}/web:http", "tcp"), ip),
                "nftables": (f"{namespace}/web/", ip), "userspace": (f"{ip}/32",)}[mode]

        async def rules_gone():
            text = await _rules(host, mode)
            return all(s not in text for s in gone)
        await traffic.until(rules_gone)
        after = await traffic.connect_many(pods["c"].netns, ip, 80, 3)
        assert not {"pod-a", "pod-b"} & set(after), after
    root_after = await asyncio.to_thread(probes.machine_state)
    for key in ("iptables", "nft"):
        assert root_after[key] == root_before[key], f"the machine's own {key} rules changed"


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
async def test_not_ready_endpoint_stops_receiving_traffic(mode, client, namespace, network, node):
    """A partial sync: the slice marks pod-b not ready; within 2 s only pod-a answers."""
    host, pods = node
    async with traffic.running_proxy(client, network, host, mode):
        svc = await traffic.create_service(client, namespace, [(pods["a"], "node1"), (pods["b"], "node1")],
                                           target_port=BACKEND_PORT)
        ip = svc["spec"]["clusterIP"]

        async def both_answer():
            return {"pod-a", "pod-b"} <= set(await traffic.connect_many(pods["c"].netns, ip, 80, 10))
        await traffic.until(both_answer)

        es = await client.get(SLICES, "web-1", namespace)
        for ep in es["endpoints"]:
            if ep["addresses"] == [str(pods["b"].ip)]:
                ep["conditions"] = {"ready": False}
        await client.update(SLICES, es)
        await asyncio.sleep(2)
        seen = await traffic.connect_many(pods["c"].netns, ip, 80, 30)
        assert seen == {"pod-a": 30}, seen
