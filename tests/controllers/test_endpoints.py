"""Endpoints controller: FindPort, subset repacking, ``sync`` on pre-filled
caches, and a real server where pods become ready and named ports differ per pod."""

from __future__ import annotations

import pytest

from kybernetes.api import registry
from kybernetes.controllers import endpoints as epc
from kybernetes.controllers import service_endpoints as se
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import RecordingClient, unit_context
from tests.controllers.kubelet_sim import KubeletSim, make_nodes

SERVICES = registry.lookup("", "v1", "services")
ENDPOINTS = registry.lookup("", "v1", "endpoints")
PODS = registry.lookup("", "v1", "pods")


def pod(name, ip, ready=True, port=8080, labels=None, hostname=None, subdomain=None, phase="Running"):
    spec = {"nodeName": "n1", "containers": [{"name": "c", "ports": [
        {"name": "http", "containerPort": port, "protocol": "TCP"}]}]}
    if hostname:
        spec["hostname"], spec["subdomain"] = hostname, subdomain
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "3",
                         "labels": labels or {"app": "web"}, "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": spec,
            "status": {"phase": phase, "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": "2024-01-01T00:00:05Z"}]}}


def service(name="web", selector=None, ports=None, **spec):
    return {"metadata": {"name": name, "namespace": "ns", "uid": "svc-uid", "labels": {"tier": "front"},
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"selector": {"app": "web"} if selector is None else selector, "clusterIP": "10.96.0.20",
                     "ports": ports if ports is not None else [
                         {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], **spec}}


def test_find_port():
    p = pod("a", "10.0.0.1", port=9090)
    assert se.find_port(p, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 9090
    assert se.find_port(p, {"port": 80, "targetPort": 7000}) == 7000
    assert se.find_port(p, {"port": 80}) == 80
    with pytest.raises(se.PortNotFound):
        se.find_port(p, {"port": 80, "targetPort": "http", "protocol": "UDP"})
    with pytest.raises(se.PortNotFound):
        se.find_port(p, {"port": 80, "targetPort": "metrics"})
    p["spec"]["initContainers"] = [{"name": "side", "restartPolicy": "Always",
                                    "ports": [{"name": "metrics", "containerPort": 9100}]}]
    assert se.find_port(p, {"port": 80, "targetPort": "metrics"}) == 9100


def test_in_endpoints():
    assert se.in_endpoints(pod("a", "10.0.0.1"), False)
    assert not se.in_endpoints(pod("a", ""), False)
    assert not se.in_endpoints(pod("a", "10.0.0.1", phase="Succeeded"), True)
    deleting = pod("a", "10.0.0.1")
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert not se.in_endpoints(deleting, False) and se.in_endpoints(deleting, True)


def test_repack_groups_addresses_by_ports():
    a = {"ip": "10.0.0.2"}
    b = {"ip": "10.0.0.1"}
    p80 = {"name": "http", "port": 80, "protocol": "TCP"}
    p81 = {"name": "http", "port": 81, "protocol": "TCP"}
    subsets = epc.repack([(a, True, p80), (b, False, p80), ({"ip": "10.0.0.3"}, True, p81)])
    assert subsets == [{"addresses": [a], "notReadyAddresses": [b], "ports": [p80]},
                       {"addresses": [{"ip": "10.0.0.3"}], "ports": [p81]}]


async def sync(svc, *pods, endpoints=None):
    client = RecordingClient()
    ec = epc.EndpointsController(unit_context(client))
    if svc is not None:
        ec.services.store.add(svc)
    for p in pods:
        ec.pods.store.add(p)
    if endpoints is not None:
        ec.endpoints.store.add(endpoints)
    await ec.sync("ns/web")
    return client


async def test_sync_ready_and_not_ready_addresses():
    client = await sync(service(), pod("a", "10.0.0.1", port=8080),
                        pod("b", "10.0.0.2", ready=False, port=8081),
                        pod("c", "10.0.0.3", labels={"app": "other"}), pod("d", ""))
    ep = client.writes("create", "endpoints")[0][2]
    assert ep["metadata"]["labels"] == {"tier": "front"}
    assert ep["metadata"]["annotations"][se.TRIGGER_TIME_ANNOTATION] == "2024-01-01T00:00:00Z"
    assert ep["subsets"] == [
        {"addresses": [{"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}],
         "ports": [{"port": 8080, "protocol": "TCP", "name": "http"}]},
        {"notReadyAddresses": [{"ip": "10.0.0.2", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "ns", "name": "b", "uid": "uid-b"}}],
         "ports": [{"port": 8081, "protocol": "TCP", "name": "http"}]}]


async def test_sync_publish_not_ready_and_headless_hostnames():
    svc = service(publishNotReadyAddresses=True, clusterIP="None", ports=[])
    client = await sync(svc, pod("a", "10.0.0.1", ready=False, hostname="a", subdomain="web"))
    ep = client.writes("create", "endpoints")[0][2]
    assert ep["metadata"]["labels"][se.HEADLESS_LABEL] == ""
    assert ep["subsets"][0]["addresses"][0]["hostname"] == "a"
    assert "ports" not in ep["subsets"][0]


async def test_sync_leaves_selectorless_services_and_deletes_orphans():
    kubernetes = service("kubernetes", selector={},
                         ports=[{"name": "https", "port": 443, "targetPort": 6443}])
    kubernetes["metadata"]["name"] = "web"
    client = await sync(kubernetes, pod("a", "10.0.0.1"))
    assert client.actions == []
    client = await sync(None)
    assert client.writes("delete", "endpoints")[0][2] == "web"


async def test_sync_skips_unchanged():
    first = await sync(service(), pod("a", "10.0.0.1"))
    ep = first.writes("create", "endpoints")[0][2]
    again = await sync(service(), pod("a", "10.0.0.1"), endpoints=ep)
    assert again.actions == []


async def test_endpoints_follow_readiness_and_named_ports(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    ready = {"a": False, "b": True}
    sim = KubeletSim(client, ns, [f"{ns}-n"],
                     outcome=lambda p: "Running" if ready[p["metadata"]["name"]] else "NotReady")
    async with Controllers(client, [epc.EndpointsController]), sim:
        svc = service()
        svc["metadata"] = {"name": "web", "namespace": ns}
        await client.create(SERVICES, svc, ns)
        for name, port in (("a", 8080), ("b", 9090)):
            p = pod(name, "", port=port)
            p["metadata"] = {"name": name, "namespace": ns, "labels": {"app": "web"}}
            p["spec"].pop("nodeName")
            p["spec"]["containers"][0]["image"] = "img"
            p.pop("status")
            await client.create(PODS, p, ns)

        async def subsets():
            try:
                ep = await client.get(ENDPOINTS, "web", ns)
            except Exception:
                return None
            ready_ports = {(a["targetRef"]["name"], s["ports"][0]["port"])
                           for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
            not_ready = {a["targetRef"]["name"] for s in ep.get("subsets") or []
                         for a in s.get("notReadyAddresses") or []}
            return ready_ports, not_ready

        assert await eventually(lambda: _is(subsets(), ({("b", 9090)}, {"a"})))
        ready["a"] = True
        sim.poke()
        assert await eventually(lambda: _is(subsets(), ({("a", 8080), ("b", 9090)}, set())))
        await client.delete(PODS, "b", ns)
        assert await eventually(lambda: _is(subsets(), ({("a", 8080)}, set())))


async def _is(awaitable, expected):
    return await awaitable == expected
