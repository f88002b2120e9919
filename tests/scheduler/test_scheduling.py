"""The scheduling cycle with a fake API client: binding, bind failures, failure reporting."""

from __future__ import annotations

import asyncio

from kybernetes.api import status
from kybernetes.client import clock as clocks
from kybernetes.scheduler import podinfo, queue, scheduling
from tests.scheduler import helpers
from tests.scheduler.helpers import cluster, node, pod


class FakeClient:
    def __init__(self, bind_error: status.StatusError | None = None):
        self.bind_error = bind_error
        self.bindings: list[tuple[str, dict]] = []
        self.patches: list[tuple[str, dict]] = []

    async def create(self, res, obj, namespace=None, *, subresource=None, name=None, **kw):
        assert subresource == "binding"
        self.bindings.append((f"{namespace}/{name}", obj))
        if self.bind_error is not None:
            raise self.bind_error
        return {}

    async def patch(self, res, name, body, *, namespace=None, subresource=None, patch_type="merge", **kw):
        assert (subresource, patch_type) == ("status", "strategic")
        self.patches.append((f"{namespace}/{name}", body))
        return {}


class FakeRecorder:
    def __init__(self):
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj, type_, reason, message):
        self.events.append((obj["metadata"]["name"], type_, reason, message))


def setup(c, client, pods: dict):
    q = queue.SchedulingQueue(clocks.FakeClock())
    rec = FakeRecorder()
    s = scheduling.Scheduling(client, helpers.framework(), c, q, rec, pods.get)
    return s, q, rec


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_binds_through_pods_binding_and_records_scheduled():
    c = cluster(node("n1"))
    client = FakeClient()
    p = pod("web")
    s, q, rec = setup(c, client, {"default/web": p})
    q.add(podinfo.PodInfo(p))
    assert s.schedule_one(await q.pop())
    assert c.is_assumed("default/web") and c.node_of("default/web") == "n1"
    await settle()
    [(key, body)] = client.bindings
    assert key == "default/web"
    assert body["kind"] == "Binding" and body["target"] == {"apiVersion": "v1", "kind": "Node", "name": "n1"}
    assert rec.events == [("web", "Normal", "Scheduled", "Successfully assigned default/web to n1")]
    assert q.where("default/web") == ""


async def test_failed_bind_forgets_the_assumed_pod_and_retries_after_backoff():
    c = cluster(node("n1"))
    conflict = status.conflict("pods", "", "web", 'pod web is already assigned to node "n9"')
    client = FakeClient(bind_error=conflict)
    p = pod("web")
    s, q, rec = setup(c, client, {"default/web": p})
    q.add(podinfo.PodInfo(p))
    s.schedule_one(await q.pop())
    await settle()
    assert not c.is_assumed("default/web") and not c.nodes["n1"].pods
    assert q.where("default/web") == "backoff"
    assert rec.events == [("web", "Warning", "FailedScheduling", conflict.message)]
    [(_, patch)] = client.patches
    cond = patch["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "SchedulerError")


async def test_unschedulable_pod_reported_once_per_distinct_message():
    c = cluster(node("n1", cpu="1"))
    client = FakeClient()
    p = pod("big", cpu="2")
    current = {"default/big": p}
    s, q, rec = setup(c, client, current)
    q.add(podinfo.PodInfo(p))
    assert not s.schedule_one(await q.pop())
    await settle()
    msg = ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
           "1 No preemption victims found for incoming pod.")
    assert rec.events == [("big", "Warning", "FailedScheduling", msg)]
    assert q.where("default/big") == "unschedulable"
    [(_, patch)] = client.patches
    cond = patch["status"]["conditions"][0]
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    # The pod now carries the condition: the next identical failure patches nothing.
    current["default/big"] = dict(p, status={"conditions": [cond]})
    q.move_all([queue.NODE_ADD])
    q.flush_backoff_completed()
    q.clock.step(2)
    q.flush_backoff_completed()
    s.schedule_one(await q.pop())
    await settle()
    assert len(client.patches) == 1 and len(rec.events) == 2
