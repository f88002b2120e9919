"""EndpointSlice controller: endpoint conditions, the slice plan (reuse,
placeholders, 100 per slice), ``sync`` on pre-filled caches, and a real server
where pods become ready, named ports differ per pod and pods go away."""

from __future__ import annotations

import copy

from kybernetes.api import registry
from kybernetes.controllers import endpointslice as esc
from kybernetes.controllers import endpointslice_reconciling as er
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import RecordingClient, unit_context
from tests.controllers.kubelet_sim import KubeletSim, make_nodes
from tests.controllers.test_endpoints import pod, service

SERVICES = registry.lookup("", "v1", "services")
SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")
PODS = registry.lookup("", "v1", "pods")


def test_endpoint_conditions():
    svc = service()
    ready = er.pod_to_endpoint(pod("a", "10.0.0.1"), None, svc, "IPv4")
    assert ready["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert ready["addresses"] == ["10.0.0.1"] and ready["nodeName"] == "n1"
    assert ready["targetRef"] == {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}
    going = pod("b", "10.0.0.2")
    going["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert er.pod_to_endpoint(going, None, svc, "IPv4")["conditions"] == \
        {"ready": False, "serving": True, "terminating": True}
    publish = service(publishNotReadyAddresses=True)
    assert er.pod_to_endpoint(pod("c", "10.0.0.3", ready=False), None, publish, "IPv4")["conditions"]["ready"]
    zone_node = {"metadata": {"labels": {er.ZONE_LABEL: "z1"}}}
    zoned = er.pod_to_endpoint(pod("a", "10.0.0.1"), zone_node, svc, "IPv4")
    assert zoned["zone"] == "z1"


def _desired(svc, pods):
    desired = {}
    for p in pods:
        ports = er.endpoint_ports(svc, p)
        ep = er.pod_to_endpoint(p, None, svc, "IPv4")
        desired.setdefault(er.port_key(ports), (ports, {}))[1][er.endpoint_key(ep)] = ep
    return desired


def test_plan_splits_and_reuses_slices():
    svc = service()
    pods = [pod(f"p{i}", f"10.0.{i // 200}.{i % 200 + 1}") for i in range(150)]
    plan = er.plan(svc, _desired(svc, pods), [], "IPv4", 100)
    assert [len(s["endpoints"]) for s in plan.create] == [100, 50] and not plan.update and not plan.delete
    s = plan.create[0]
    assert s["metadata"]["generateName"] == "web-"
    assert s["metadata"]["labels"] == {"tier": "front", er.SERVICE_NAME_LABEL: "web",
                                       er.MANAGED_BY_LABEL: er.CONTROLLER_NAME}
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    existing = []
    for i, created in enumerate(plan.create):
        created = copy.deepcopy(created)
        created["metadata"]["name"] = f"web-{i}"
        existing.append(created)
    # Unchanged: nothing to do. One pod not ready: only its slice is updated.
    assert er.plan(svc, _desired(svc, pods), existing, "IPv4", 100) == er.Plan()
    pods[120] = pod("p120", pods[120]["status"]["podIP"], ready=False)
    again = er.plan(svc, _desired(svc, pods), existing, "IPv4", 100)
    assert [s["metadata"]["name"] for s in again.update] == ["web-1"] and not again.create


def test_plan_keeps_a_placeholder():
    svc = service()
    plan = er.plan(svc, {}, [], "IPv4", 100)
    assert len(plan.create) == 1 and plan.create[0]["endpoints"] == [] and plan.create[0]["ports"] == []
    placeholder = copy.deepcopy(plan.create[0])
    placeholder["metadata"]["name"] = "web-x"
    assert er.plan(svc, {}, [placeholder], "IPv4", 100) == er.Plan()


async def test_sync_writes_slices_and_skips_pods_on_unknown_nodes():
    client = RecordingClient()
    c = esc.EndpointSliceController(unit_context(client))
    c.services.store.add(service())
    c.nodes.store.add({"metadata": {"name": "n1"}})
    c.pods.store.add(pod("a", "10.0.0.1"))
    lost = pod("b", "10.0.0.2")
    lost["spec"]["nodeName"] = "gone"
    c.pods.store.add(lost)
    try:
        await c.sync("ns/web")
        raise AssertionError("a pod on an unknown node must make the sync retry")
    except RuntimeError as e:
        assert "node not found" in str(e)
    created = client.writes("create", "endpointslices")[0][2]
    assert [ep["targetRef"]["name"] for ep in created["endpoints"]] == ["a"]
    assert created["addressType"] == "IPv4"


async def test_slices_follow_pods(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    ready = {"a": False, "b": True}
    sim = KubeletSim(client, ns, [f"{ns}-n"],
                     outcome=lambda p: "Running" if ready[p["metadata"]["name"]] else "NotReady")
    async with Controllers(client, [esc.EndpointSliceController]), sim:
        svc = service()
        svc["metadata"] = {"name": "web", "namespace": ns}
        await client.create(SERVICES, svc, ns)

        async def slices():
            return (await client.list(SLICES, ns, label_selector=f"{er.SERVICE_NAME_LABEL}=web"))["items"]

        placeholder = await eventually(slices)
        assert len(placeholder) == 1 and not placeholder[0].get("endpoints")
        for name, port in (("a", 8080), ("b", 9090)):
            p = pod(name, "", port=port)
            p["metadata"] = {"name": name, "namespace": ns, "labels": {"app": "web"}}
            p["spec"].pop("nodeName")
            p["spec"]["containers"][0]["image"] = "img"
            p.pop("status")
            await client.create(PODS, p, ns)

        async def view():
            out = set()
            for s in await slices():
                for ep in s.get("endpoints") or []:
                    out.add((ep["targetRef"]["name"], s["ports"][0]["port"], ep["conditions"]["ready"]))
            return out

        assert await eventually(lambda: _is(view(), {("a", 8080, False), ("b", 9090, True)}))
        assert len(await slices()) == 2  # one per distinct port set; the placeholder was reused
        ready["a"] = True
        sim.poke()
        assert await eventually(lambda: _is(view(), {("a", 8080, True), ("b", 9090, True)}))
        await client.delete(PODS, "a", ns)
        assert await eventually(lambda: _is(view(), {("b", 9090, True)}))
        s = (await slices())[0]
        assert s["metadata"]["labels"][er.MANAGED_BY_LABEL] == er.CONTROLLER_NAME
        assert s["metadata"]["ownerReferences"][0]["name"] == "web"


async def _is(awaitable, expected):
    return await awaitable == expected
