"""kube-proxy's Service options with real traffic, in iptables and nftables
modes: sessionAffinity ClientIP, UDP conntrack entries flushed when their
endpoint goes, internal and external traffic policy Local, and the Services
kube-proxy leaves alone (headless, ExternalName). Same node host as
test_traffic: pods a and b serve, pod c is the client."""

from __future__ import annotations

import pytest

from kybernetes.proxy import iptables, nftables
from tests.proxy import traffic
from tests.proxy.conftest import BACKEND_PORT, needs_root
from tests.proxy.traffic import SERVICES, SLICES

pytestmark = [needs_root, pytest.mark.slow]
MODES = ["iptables", "nftables"]
UDP_PORT = 5353
CLIENT_PORT = 40053  # the UDP client's fixed source port: one conntrack entry


async def _rules(host, mode: str) -> str:
    return await host.exec(*{"iptables": ["iptables-save"], "nftables": ["nft", "list", "ruleset"]}[mode])


def _both(pods) -> list:
    return [(pods["a"], "node1"), (pods["b"], "node1")]


@pytest.mark.parametrize("mode", MODES)
async def test_session_affinity_client_ip_pins_a_client_to_one_backend(mode, client, namespace, network, node):
    host, pods = node
    async with traffic.running_proxy(client, network, host, mode):
        svc = await traffic.create_service(client, namespace, _both(pods), target_port=BACKEND_PORT,
                                           sessionAffinity="ClientIP")
        ip = svc["spec"]["clusterIP"]

        async def answers():
            seen = await traffic.connect_many(pods["c"].netns, ip, 80, 1)
            return {"pod-a", "pod-b"} & set(seen)
        await traffic.until(answers)
        seen = await traffic.connect_many(pods["c"].netns, ip, 80, 30)
        assert len(seen) == 1 and set(seen) <= {"pod-a", "pod-b"}, seen

        svc = await client.get(SERVICES, "web", namespace)
        svc["spec"]["sessionAffinity"] = "None"
        svc["spec"].pop("sessionAffinityConfig", None)
        await client.update(SERVICES, svc)

        async def both_answer():
            return {"pod-a", "pod-b"} <= set(await traffic.connect_many(pods["c"].netns, ip, 80, 20))
        await traffic.until(both_answer, timeout=10)


@pytest.mark.parametrize("mode", MODES)
async def test_removed_udp_endpoint_loses_its_conntrack_entries(mode, client, namespace, network, node, backends):
    """A UDP client keeps one conntrack entry, DNATed to the backend it first
    reached. When that backend leaves the Service (its server still running),
    kube-proxy flushes the entry: the next datagrams reach the other backend."""
    host, pods = node
    for uid in ("a", "b"):
        await backends.start(pods[uid].netns, f"udp-{uid}", UDP_PORT, program=traffic.UDP_SERVER)
    async with traffic.running_proxy(client, network, host, mode):
        svc = await traffic.create_service(client, namespace, _both(pods), name="dns", port=53,
                                           target_port=UDP_PORT, protocol="UDP")
        ip = svc["spec"]["clusterIP"]

        async def answers():  # from another source port: the test's entry starts after the rules
            return {"udp-a", "udp-b"} & set(await traffic.ask_udp(pods["c"].netns, ip, 53, 1, CLIENT_PORT + 1))
        await traffic.until(answers)
        first = await traffic.ask_udp(pods["c"].netns, ip, 53, 5, CLIENT_PORT)
        assert len(first) == 1 and set(first) <= {"udp-a", "udp-b"}, first
        stale = next(iter(first))
        remaining = "udp-b" if stale == "udp-a" else "udp-a"

        es = await client.get(SLICES, "dns-1", namespace)
        stale_ip = str(pods[stale[-1]].ip)
        es["endpoints"] = [ep for ep in es["endpoints"] if ep["addresses"] != [stale_ip]]
        await client.update(SLICES, es)

        async def moved():
            return await traffic.ask_udp(pods["c"].netns, ip, 53, 2, CLIENT_PORT) == {remaining: 2}
        await traffic.until(moved, timeout=5)
        assert await traffic.ask_udp(pods["c"].netns, ip, 53, 10, CLIENT_PORT) == {remaining: 10}


@pytest.mark.parametrize("mode", MODES)
async def test_traffic_policy_local_on_a_node_port(mode, client, namespace, network, node):
    """pod-a runs on this node, pod-b (as the slice says) on another. Internal
    traffic (the ClusterIP) and external traffic (the NodePort from the
    machine) reach only pod-a; pods reaching the NodePort are short-circuited
    to all endpoints, as kube-proxy does."""
    host, pods = node
    async with traffic.running_proxy(client, network, host, mode):
        svc = await traffic.create_service(
            client, namespace, [(pods["a"], "node1"), (pods["b"], "node2")], target_port=BACKEND_PORT,
            type="NodePort", internalTrafficPolicy="Local", externalTrafficPolicy="Local")
        ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        node_ip = str(host.address.ip)

        async def answers():
            return "pod-a" in await traffic.connect_many(pods["c"].netns, ip, 80, 1)
        await traffic.until(answers)
        assert await traffic.connect_many(pods["c"].netns, ip, 80, 20) == {"pod-a": 20}
        assert await traffic.connect_many(None, node_ip, node_port, 20) == {"pod-a": 20}
        from_pod = await traffic.connect_many(pods["c"].netns, node_ip, node_port, 30)
        assert set(from_pod) == {"pod-a", "pod-b"}, from_pod


@pytest.mark.parametrize("mode", MODES)
async def test_headless_and_external_name_services_get_no_rules(mode, client, namespace, network, node):
    host, pods = node
    async with traffic.running_proxy(client, network, host, mode):
        await client.create(SERVICES, {
            "metadata": {"name": "db", "namespace": namespace},
            "spec": {"clusterIP": "None", "selector": {"app": "db"},
                     "ports": [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}]}}, namespace)
        await client.create(SLICES, traffic.slice_of(namespace, "db", _both(pods), BACKEND_PORT,
                                                     labels={"service.kubernetes.io/headless": ""}), namespace)
        await client.create(SERVICES, {
            "metadata": {"name": "ext", "namespace": namespace},
            "spec": {"type": "ExternalName", "externalName": "example.invalid"}}, namespace)
        # A Service created after them: once it carries traffic, they have been synced too.
        svc = await traffic.create_service(client, namespace, _both(pods), target_port=BACKEND_PORT)

        async def answers():
            return {"pod-a", "pod-b"} & set(await traffic.connect_many(pods["c"].netns, svc["spec"]["clusterIP"], 80, 1))
        await traffic.until(answers)
        rules = await _rules(host, mode)
        assert {"iptables": iptables.service_chain(f"{namespace}/web:http", "tcp"),
                "nftables": f"{namespace}/web/tcp/http"}[mode] in rules
        for name in ("db", "ext"):
            assert f"{namespace}/{name}" not in rules
