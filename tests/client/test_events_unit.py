"""The recorder's write path: create, patch repeats, fall back to create, retry, give up."""

import asyncio

from kybernetes.api import status
from kybernetes.client import clock as clocks
from kybernetes.client import events, rest

POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}


class EventSink:
    def __init__(self):
        self.calls = []
        self.failures = []  # exceptions to raise, in order, before succeeding
        self.rv = 0

    def _maybe_fail(self):
        if self.failures:
            raise self.failures.pop(0)

    async def create(self, res, obj, namespace=None):
        self.calls.append(("create", namespace, obj))
        self._maybe_fail()
        self.rv += 1
        return dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))

    async def patch(self, res, name, body, *, namespace=None, patch_type="merge"):
        self.calls.append(("patch", namespace, name, body, patch_type))
        self._maybe_fail()
        self.rv += 1
        return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(self.rv)},
                **body}


async def drain(recorder, clk=None):
    task = asyncio.create_task(recorder.run())
    try:
        for _ in range(50):
            if clk is not None:
                clk.step(10)
            await asyncio.sleep(0)
        await asyncio.wait_for(recorder.flush(), 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_event_shape_and_repeat_is_a_strategic_patch():
    clk, sink = clocks.FakeClock(), EventSink()
    recorder = events.EventRecorder(sink, "scheduler", clock=clk)
    recorder.event(POD, "Normal", "Scheduled", "assigned ns/web to n1")
    recorder.event(POD, "Normal", "Scheduled", "assigned ns/web to n1")
    await drain(recorder)
    (kind, ns, created), (pkind, pns, name, body, ptype) = sink.calls
    assert (kind, ns, pkind, pns, ptype) == ("create", "ns", "patch", "ns", "strategic")
    assert created["metadata"]["name"] == f"web.{1704067200 * 10**9:x}"  # <name>.<hex UnixNano>
    assert created["involvedObject"] == {"kind": "Pod", "namespace": "ns", "name": "web",
                                         "uid": "u1", "apiVersion": "v1", "resourceVersion": "7"}
    assert created["source"] == {"component": "scheduler"}
    assert created["firstTimestamp"] == created["lastTimestamp"] == "2024-01-01T00:00:00Z"
    assert created["count"] == 1 and created["type"] == "Normal"
    assert name == created["metadata"]["name"]
    assert body == {"count": 2, "lastTimestamp": "2024-01-01T00:00:00Z",
                    "message": "assigned ns/web to n1"}


async def test_patch_of_a_vanished_event_creates_it_again():
    sink = EventSink()
    recorder = events.EventRecorder(sink, "c", clock=clocks.FakeClock())
    recorder.event(POD, "Normal", "R", "m")
    await drain(recorder)
    sink.failures = [status.not_found("events", "", "web.x")]
    recorder.event(POD, "Normal", "R", "m")
    await drain(recorder)
    assert [c[0] for c in sink.calls] == ["create", "patch", "create"]
    assert sink.calls[-1][2]["count"] == 2
    assert "resourceVersion" not in sink.calls[-1][2]["metadata"]


async def test_unreachable_server_is_retried_then_given_up():
    clk, sink = clocks.FakeClock(), EventSink()
    recorder = events.EventRecorder(sink, "c", clock=clk, max_tries=3)
    sink.failures = [rest.ClientError("https://x", "refused")] * 2
    recorder.event(POD, "Normal", "R", "m")
    await drain(recorder, clk)
    assert [c[0] for c in sink.calls] == ["create"] * 3
    sink.failures = [rest.ClientError("https://x", "refused")] * 5
    recorder.event(POD, "Normal", "R", "other")
    await drain(recorder, clk)
    assert len(sink.calls) == 6  # three more tries, then dropped


async def test_rejected_event_is_not_retried():
    sink = EventSink()
    recorder = events.EventRecorder(sink, "c", clock=clocks.FakeClock())
    sink.failures = [status.invalid("Event", "", "x", [], "bad")]
    recorder.event(POD, "Normal", "R", "m")
    await drain(recorder)
    assert len(sink.calls) == 1
