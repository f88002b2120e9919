"""Work queue semantics as client-go's queue_test.go, delaying_queue_test.go and
rate_limiting_queue_test.go check them, with a fake clock."""

import asyncio

import pytest

from kybernetes.client import clock as clocks
from kybernetes.client import ratelimiters, workqueue


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


def new_queue(clk=None, limiter=None):
    clk = clk or clocks.FakeClock()
    return workqueue.WorkQueue("test", clock=clk, rate_limiter=limiter), clk


async def test_fifo_and_duplicates_collapse():
    q, _ = new_queue()
    for item in ("a", "b", "a", "c", "b"):
        q.add(item)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_item_added_while_processing_is_requeued_only_after_done():
    q, _ = new_queue()
    q.add("a")
    item = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # never handed out twice at once
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.done(item)
    assert await asyncio.wait_for(getter, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_re_add_does_not_requeue():
    q, _ = new_queue()
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_blocked_getters_are_woken_one_item_each():
    q, _ = new_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.add("x")
    q.add("y")
    await settle()
    done = [g for g in getters if g.done()]
    assert sorted(g.result() for g in done) == ["x", "y"]
    q.add("z")
    await settle()
    assert all(g.done() for g in getters)


async def test_cancelled_getter_does_not_strand_an_item():
    q, _ = new_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("x")           # wakes `first`...
    first.cancel()       # ...which is cancelled before it runs
    await settle()
    assert second.done() and second.result() == "x"


async def test_shutdown_drains_then_raises():
    q, _ = new_queue()
    q.add("a")
    q.add("b")
    q.shutdown()
    q.add("c")  # ignored after shutdown
    assert await q.get() == "a"
    assert await q.get() == "b"
    with pytest.raises(workqueue.ShutDown):
        await q.get()


async def test_shutdown_wakes_blocked_getters():
    q, _ = new_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    q.shutdown()
    with pytest.raises(workqueue.ShutDown):
        await asyncio.wait_for(getter, 1)


async def test_shutdown_with_drain_waits_for_processing():
    q, _ = new_queue()
    q.add("a")
    item = await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    assert not drain.done()
    q.done(item)
    await asyncio.wait_for(drain, 1)


async def test_add_after_waits_for_the_clock():
    q, clk = new_queue()
    q.add_after("a", 10)
    getter = asyncio.create_task(q.get())
    await settle()
    assert len(q) == 0 and not getter.done()
    clk.step(9.9)
    await settle()
    assert not getter.done()
    clk.step(0.1)
    await settle()
    assert getter.done() and getter.result() == "a"


async def test_add_after_earlier_time_wins_and_getter_reschedules():
    q, clk = new_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    q.add_after("a", 60)
    await settle()
    q.add_after("a", 5)   # earlier: replaces
    q.add_after("a", 30)  # later: ignored
    await settle()
    clk.step(5)
    await settle()
    assert getter.done() and getter.result() == "a"
    q.done("a")
    clk.step(100)
    assert len(q) == 0  # the superseded entries do not fire again


async def test_add_after_orders_by_ready_time_and_zero_delay_adds_now():
    q, clk = new_queue()
    q.add_after("late", 3)
    q.add_after("early", 1)
    q.add_after("now", 0)
    assert len(q) == 1
    clk.step(5)
    assert [await q.get() for _ in range(3)] == ["now", "early", "late"]


async def test_parked_item_collapses_with_queued_duplicate():
    q, clk = new_queue()
    q.add("a")
    q.add_after("a", 1)
    clk.step(1)
    assert len(q) == 1


async def test_rate_limited_requeue_uses_exponential_backoff_and_forget():
    limiter = ratelimiters.ItemExponentialFailureRateLimiter(1.0, 100.0)
    q, clk = new_queue(limiter=limiter)
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 1
    assert len(q) == 0
    clk.step(1)
    assert len(q) == 1
    q.done(await q.get())
    q.add_rate_limited("a")  # second failure: 2 s
    clk.step(1.5)
    assert len(q) == 0
    clk.step(0.5)
    assert len(q) == 1
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_drops_parked_items():
    q, clk = new_queue()
    q.add_after("a", 1)
    q.shutdown()
    clk.step(2)
    with pytest.raises(workqueue.ShutDown):
        await q.get()


async def test_real_clock_add_after():
    q = workqueue.WorkQueue("real")
    q.add_after("a", 0.05)
    assert await asyncio.wait_for(q.get(), 2) == "a"
