"""The scheduler against a real API server and hollow nodes: what a user sees."""

from __future__ import annotations

import asyncio
import contextlib
import time

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.kubelet import hollow
from kybernetes.scheduler import scheduler
from tests.polling import eventually
from tests.scheduler.conftest import running

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
EVENTS = registry.lookup("", "v1", "events")


def pod(name: str, cpu: str = "100m", **spec) -> dict:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu}}}], **spec}}


async def node_of(client, namespace: str, name: str) -> str | None:
    p = await client.get(PODS, name, namespace)
    return p["spec"].get("nodeName")


async def all_bound(client, namespace: str, names: list[str], timeout: float = 10.0) -> dict:
    async def check():
        items = (await client.list(PODS, namespace))["items"]
        placed = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in items}
        return placed if all(placed.get(n) for n in names) else None
    placed = await eventually(check, timeout)
    assert placed, f"pods not all bound within {timeout}s"
    return placed


def new_scheduler(client, **kw) -> scheduler.Scheduler:
    return scheduler.Scheduler(client, lease_duration=4.0, renew_deadline=3.0, retry_period=0.5, **kw)


async def test_pods_spread_over_the_three_nodes(client, namespace):
    async with running(new_scheduler(client)) as s:
        await asyncio.wait_for(s.ready.wait(), 20)
        names = [f"p{i}" for i in range(9)]
        for n in names:  # 1200m each: three fill a 4-cpu node
            await client.create(PODS, pod(n, cpu="1200m"), namespace)
        placed = await all_bound(client, namespace, names)
        counts = {node: list(placed.values()).count(node) for node in set(placed.values())}
        assert counts == {"hollow-0": 3, "hollow-1": 3, "hollow-2": 3}
        for n in names:
            await client.delete(PODS, n, namespace)


async def test_unschedulable_pod_gets_event_and_condition_then_binds_on_new_node(client, namespace):
    async with running(new_scheduler(client)) as s:
        await asyncio.wait_for(s.ready.wait(), 20)
        await client.create(PODS, pod("huge", cpu="8"), namespace)
        expected = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
                    "available: 3 No preemption victims found for incoming pod.")

        async def failed_event():
            items = (await client.list(EVENTS, namespace))["items"]
            return [e for e in items if e["reason"] == "FailedScheduling"]
        events = await eventually(failed_event)
        assert events and events[0]["message"] == expected
        assert events[0]["type"] == "Warning"
        assert events[0]["source"]["component"] == "default-scheduler"
        assert events[0]["involvedObject"]["name"] == "huge"

        async def condition():
            p = await client.get(PODS, "huge", namespace)
            return next((c for c in p["status"].get("conditions") or ()
                         if c["type"] == "PodScheduled"), None)
        cond = await eventually(condition)
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)

        big = hollow.HollowNodes(client, count=1, name_prefix="big-", cpu="16")
        try:
            async with running(big, big.ready):
                started = time.monotonic()
                bound = await eventually(lambda: node_of(client, namespace, "huge"), timeout=15)
                assert bound == "big-0"
                assert time.monotonic() - started < 5
                await client.delete(PODS, "huge", namespace, grace_period_seconds=0)
        finally:
            with contextlib.suppress(StatusError):
                await client.delete(NODES, "big-0")


async def test_node_selector_affinity_and_taints_are_respected(client, namespace):
    await client.patch(NODES, "hollow-1", {"metadata": {"labels": {"disk": "ssd"}}})
    await client.patch(NODES, "hollow-0", {"spec": {"taints": [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}})
    try:
        async with running(new_scheduler(client)) as s:
            await asyncio.wait_for(s.ready.wait(), 20)
            not_one = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["hollow-1"]}]}]}}}
            await client.create(PODS, pod("ssd", nodeSelector={"disk": "ssd"}), namespace)
            for i in range(4):
                await client.create(PODS, pod(f"away{i}", affinity=not_one), namespace)
            await client.create(PODS, pod("tolerant", nodeSelector={"kubernetes.io/hostname": "hollow-0"},
                                          tolerations=[{"key": "dedicated", "operator": "Exists"}]),
                                namespace)
            await client.create(PODS, pod("nowhere", nodeSelector={"disk": "nvme"}), namespace)
            placed = await all_bound(client, namespace, ["ssd", "tolerant"] + [f"away{i}" for i in range(4)])
            assert placed["ssd"] == "hollow-1"
            assert {placed[f"away{i}"] for i in range(4)} == {"hollow-2"}  # hollow-0 is tainted
            assert placed["tolerant"] == "hollow-0"
            assert not placed.get("nowhere")
    finally:
        await client.patch(NODES, "hollow-1", {"metadata": {"labels": {"disk": None}}})
        await client.patch(NODES, "hollow-0", {"spec": {"taints": None}})


async def test_pods_created_while_scheduler_is_down_are_bound_on_its_return(client, namespace):
    first = new_scheduler(client)
    async with running(first):
        await asyncio.wait_for(first.ready.wait(), 20)
    names = [f"late{i}" for i in range(5)]
    for n in names:
        await client.create(PODS, pod(n), namespace)
    await asyncio.sleep(1)
    assert not any([await node_of(client, namespace, n) for n in names])
    started = time.monotonic()
    async with running(new_scheduler(client)):
        await all_bound(client, namespace, names, timeout=10)
    assert time.monotonic() - started < 5


async def test_scheduler_name_is_honoured(client, namespace):
    async with running(new_scheduler(client)) as s:
        await asyncio.wait_for(s.ready.wait(), 20)
        await client.create(PODS, pod("mine"), namespace)
        await client.create(PODS, pod("theirs", schedulerName="other-scheduler"), namespace)
        await all_bound(client, namespace, ["mine"])
        await asyncio.sleep(1)
        assert await node_of(client, namespace, "theirs") is None
        events = (await client.list(EVENTS, namespace))["items"]
        assert not [e for e in events if e["involvedObject"]["name"] == "theirs"]
    other = scheduler.Scheduler(client, scheduler_name="other-scheduler", leader_elect=False)
    async with running(other, other.ready):
        await all_bound(client, namespace, ["theirs"])


async def test_gated_pods_wait_for_their_gates_to_go(client, namespace):
    async with running(new_scheduler(client)) as s:
        await asyncio.wait_for(s.ready.wait(), 20)
        await client.create(PODS, pod("gated", schedulingGates=[{"name": "example.com/wait"}]), namespace)
        await asyncio.sleep(1)
        assert await node_of(client, namespace, "gated") is None
        await client.patch(PODS, "gated", {"spec": {"schedulingGates": None}}, namespace=namespace)
        await all_bound(client, namespace, ["gated"])
