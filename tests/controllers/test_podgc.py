"""Pod GC: terminated pods beyond the threshold, orphaned pods after quarantine,
unscheduled terminating pods, pods stuck on out-of-service nodes."""

from __future__ import annotations

from kybernetes.api import registry
from kybernetes.controllers import podgc
from kybernetes.controllers.context import Settings
from tests.controllers.conftest import Controllers, eventually, gone
from tests.controllers.fakes import FakeClient, feed, unit_context

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")


def pod(name: str, *, node: str = "", phase: str = "Running", created: str = "2024-01-01T00:00:00Z",
        **meta) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created, **meta},
            "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


def deleted(client: FakeClient) -> list[str]:
    return [c[3] for c in client.verbs("delete")]


async def test_terminated_beyond_threshold_oldest_first():
    client = FakeClient()
    c = podgc.PodGCController(unit_context(client, terminated_pod_gc_threshold=2))
    pods = [pod("new", phase="Succeeded", created="2024-01-01T00:00:03Z"),
            pod("old", phase="Failed", created="2024-01-01T00:00:01Z"),
            pod("mid-b", phase="Succeeded", created="2024-01-01T00:00:02Z"),
            pod("mid-a", phase="Succeeded", created="2024-01-01T00:00:02Z"),
            pod("running", phase="Running", created="2024-01-01T00:00:00Z")]
    feed(c.pods, *(client.put(PODS, p) for p in pods))
    await c.sync()
    assert deleted(client) == ["old", "mid-a"]
    assert all(d[4]["grace_period_seconds"] == 0 for d in client.verbs("delete"))
    assert not client.verbs("patch/status")  # already terminal: no phase change


async def test_threshold_zero_disables_terminated_gc():
    client = FakeClient()
    c = podgc.PodGCController(unit_context(client, terminated_pod_gc_threshold=0))
    feed(c.pods, client.put(PODS, pod("done", phase="Succeeded")))
    await c.sync()
    assert deleted(client) == []


async def test_orphaned_after_quarantine_marked_failed_then_deleted():
    client = FakeClient()
    ctx = unit_context(client, pod_gc_quarantine=40)
    c = podgc.PodGCController(ctx)
    feed(c.nodes, client.put(NODES, {"metadata": {"name": "alive"}}))
    feed(c.pods, client.put(PODS, pod("orphan", node="vanished")), client.put(PODS, pod("fine", node="alive")))
    await c.sync()
    assert deleted(client) == []  # quarantined
    ctx.clock.step(39)
    await c.sync()
    assert deleted(client) == []
    ctx.clock.step(1)
    await c.sync()
    assert deleted(client) == ["orphan"]
    patch = client.verbs("patch/status")[0][4]
    assert patch[1]["status"]["phase"] == "Failed"
    cond = patch[1]["status"]["conditions"][0]
    assert (cond["type"], cond["reason"], cond["message"]) == (
        "DisruptionTarget", "DeletionByPodGC", "PodGC: node no longer exists")


async def test_node_that_appears_during_quarantine_saves_its_pods():
    client = FakeClient()
    ctx = unit_context(client, pod_gc_quarantine=40)
    c = podgc.PodGCController(ctx)
    feed(c.pods, client.put(PODS, pod("p", node="late")))
    await c.sync()
    client.put(NODES, {"metadata": {"name": "late"}})  # exists on the server, not yet in the cache
    ctx.clock.step(41)
    await c.sync()
    assert deleted(client) == []


async def test_unscheduled_terminating_and_out_of_service():
    client = FakeClient()
    c = podgc.PodGCController(unit_context(client))
    feed(c.nodes, client.put(NODES, {"metadata": {"name": "broken"}, "spec": {"taints": [
        {"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}}))
    feed(c.pods, *(client.put(PODS, p) for p in [
        pod("stuck", node="broken", deletionTimestamp="2024-01-01T00:00:00Z"),
        pod("unscheduled", phase="Pending", deletionTimestamp="2024-01-01T00:00:00Z"),
        pod("pending", phase="Pending")]))
    await c.sync()
    assert sorted(deleted(client)) == ["stuck", "unscheduled"]


# --- against a real API server ---

async def test_orphaned_and_terminated_pods_collected(client, namespace):
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    await client.create(NODES, {"metadata": {"name": "podgc-node"}})
    try:
        for i in range(3):
            p = await client.create(PODS, {"metadata": {"name": f"done-{i}"}, "spec": spec}, namespace)
            p["status"]["phase"] = "Succeeded"
            await client.update(PODS, p, subresource="status")
        await client.create(PODS, {"metadata": {"name": "orphan"},
                                       "spec": {**spec, "nodeName": "no-such-node"}}, namespace)
        await client.create(PODS, {"metadata": {"name": "bound"},
                                       "spec": {**spec, "nodeName": "podgc-node"}}, namespace)
        settings = Settings(terminated_pod_gc_threshold=1, pod_gc_period=0.2, pod_gc_quarantine=1.0)
        async with Controllers(client, [podgc.PodGCController], settings=settings):
            await eventually(lambda: gone(client, PODS, "orphan", namespace))
            for name in ("done-0", "done-1"):  # the oldest two of three
                await eventually(lambda name=name: gone(client, PODS, name, namespace))
            await client.get(PODS, "done-2", namespace)
            await client.get(PODS, "bound", namespace)
    finally:
        await client.delete(NODES, "podgc-node")
