"""The scheduling queue with a fake clock: ordering, back-off, unschedulable pods and moves."""

from __future__ import annotations

import asyncio

from kybernetes.client import clock as clocks
from kybernetes.scheduler import podinfo, queue
from tests.scheduler.helpers import pod


def info(name: str, **kw) -> podinfo.PodInfo:
    return podinfo.PodInfo(pod(name, **kw))


async def pop_now(q: queue.SchedulingQueue) -> queue.QueuedPodInfo | None:
    try:
        return await asyncio.wait_for(q.pop(), 0.05)
    except TimeoutError:
        return None


async def test_active_queue_orders_by_priority_then_arrival():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    clock.step(1)
    q.add(info("b", priority=10))
    clock.step(1)
    q.add(info("c"))
    assert [(await q.pop()).pod_info.name for _ in range(3)] == ["b", "a", "c"]


async def test_backoff_doubles_from_one_second_to_ten():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    waits = []
    for _ in range(6):
        qpi = await q.pop()
        q.requeue(qpi, None)  # an error: straight to back-off
        assert await pop_now(q) is None
        expiry = q.backoff_expiry(qpi) - clock.monotonic()
        waits.append(round(expiry, 6))
        clock.step(expiry - 0.01)
        assert q.flush_backoff_completed() == 0
        clock.step(0.01)
        assert q.flush_backoff_completed() == 1
    assert waits == [1, 2, 4, 8, 10, 10]


async def test_unschedulable_pods_move_on_interesting_events_only():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    qpi = await q.pop()
    q.requeue(qpi, {"TaintToleration"})
    assert q.where("default/a") == "unschedulable"
    assert q.move_all([queue.POD_DELETE]) == 0      # a deleted pod does not remove taints
    assert q.move_all([queue.NODE_TAINT]) == 1
    assert q.where("default/a") == "backoff"         # moved within its back-off second
    clock.step(1)
    q.flush_backoff_completed()
    assert (await q.pop()).pod_info.name == "a"


async def test_event_during_attempt_sends_pod_to_backoff_not_unschedulable():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    qpi = await q.pop()
    q.move_all([queue.NODE_ADD])  # a node arrives while "a" is being scheduled
    q.requeue(qpi, {"NodeResourcesFit"})
    assert q.where("default/a") == "backoff"
    q.add(info("b"))
    qpi = await q.pop()
    q.move_all([queue.POD_ADD])  # another pod bound: no help to a resources failure
    q.requeue(qpi, {"NodeResourcesFit"})
    assert q.where("default/b") == "unschedulable"


async def test_unschedulable_pods_flushed_after_five_minutes():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    q.requeue(await q.pop(), {"NodeAffinity"})
    clock.step(299)
    assert q.flush_unschedulable_leftover() == 0
    clock.step(2)
    assert q.flush_unschedulable_leftover() == 1
    assert q.where("default/a") == "active"


async def test_pod_update_moves_it_and_delete_drops_it():
    clock = clocks.FakeClock()
    q = queue.SchedulingQueue(clock)
    q.add(info("a"))
    q.requeue(await q.pop(), {"NodeAffinity"})
    clock.step(5)
    q.update(info("a", labels={"x": "y"}))
    assert q.where("default/a") == "active"
    qpi = await q.pop()
    q.delete("default/a")          # deleted while in flight
    q.requeue(qpi, {"NodeAffinity"})
    assert q.where("default/a") == "" and len(q) == 0
