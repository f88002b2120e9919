"""The event recorder against a real API server."""

import asyncio

from kybernetes.api import registry
from kybernetes.client import events

CM = registry.lookup("", "v1", "configmaps")
NODES = registry.lookup("", "v1", "nodes")


async def test_events_are_created_and_repeats_aggregated(client, namespace):
    obj = await client.create(CM, {"metadata": {"name": "subject"}}, namespace)
    recorder = events.EventRecorder(client, "client-test", host="host-1")
    task = asyncio.create_task(recorder.run())
    try:
        recorder.event(obj, "Normal", "Started", "it began")
        recorder.event(obj, "Normal", "Started", "it began")
        recorder.event(obj, "Normal", "Started", "it began")
        recorder.event(obj, "Warning", "Failed", "it broke")
        await asyncio.wait_for(recorder.flush(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    listed = await client.list(events.EVENTS, namespace)
    by_reason = {e["reason"]: e for e in listed["items"]}
    assert sorted(by_reason) == ["Failed", "Started"]
    started = by_reason["Started"]
    assert started["count"] == 3
    assert started["message"] == "it began" and started["type"] == "Normal"
    assert started["involvedObject"]["kind"] == "ConfigMap"
    assert started["involvedObject"]["name"] == "subject"
    assert started["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert started["source"] == {"component": "client-test", "host": "host-1"}
    assert started["reportingComponent"] == "client-test"
    assert started["reportingInstance"] == "host-1"
    assert started["metadata"]["name"].startswith("subject.")
    assert started["firstTimestamp"] <= started["lastTimestamp"]
    assert by_reason["Failed"]["count"] == 1


async def test_cluster_scoped_objects_get_events_in_default(client):
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "evt-node", "uid": "u-1"}}
    recorder = events.EventRecorder(client, "client-test")
    task = asyncio.create_task(recorder.run())
    try:
        recorder.event(node, "Normal", "Registered", "node evt-node registered")
        await asyncio.wait_for(recorder.flush(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    listed = await client.list(events.EVENTS, "default",
                               field_selector="involvedObject.name=evt-node")
    assert [e["reason"] for e in listed["items"]] == ["Registered"]
    assert "namespace" not in listed["items"][0]["involvedObject"]


async def test_event_returns_at_once_even_without_a_server(client):
    recorder = events.EventRecorder(client, "client-test")
    for i in range(2000):  # beyond the queue: dropped, never blocking
        recorder.event({"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}},
                       "Normal", "R", f"m{i}")
    assert len(recorder._queue) == events.QUEUE_SIZE
