"""run_workers: forget on success, rate-limited retry on failure, logged once per streak."""

import asyncio
import logging

from kybernetes.client import clock as clocks
from kybernetes.client import controller, ratelimiters, workqueue


async def settle():
    for _ in range(30):
        await asyncio.sleep(0)


async def test_workers_retry_failures_and_forget_successes(caplog):
    clk = clocks.FakeClock()
    q = workqueue.WorkQueue("t", clock=clk,
                            rate_limiter=ratelimiters.ItemExponentialFailureRateLimiter(1.0, 60.0))
    failures = {"bad": 3}
    synced = []

    async def sync(key):
        synced.append(key)
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            raise RuntimeError(f"{key} broke")

    q.add("good")
    q.add("bad")
    with caplog.at_level(logging.DEBUG, logger="kybernetes.client.controller"):
        task = asyncio.create_task(controller.run_workers(q, sync, 2, "test-controller"))
        await settle()
        assert sorted(synced) == ["bad", "good"]
        assert q.num_requeues("good") == 0 and q.num_requeues("bad") == 1
        for _ in range(3):
            clk.step(10)
            await settle()
        assert synced.count("bad") == 4 and q.num_requeues("bad") == 0
        q.shutdown()
        await asyncio.wait_for(task, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "test-controller" in warnings[0].getMessage()


async def test_same_key_is_never_synced_concurrently():
    q = workqueue.WorkQueue("t")
    running, overlaps, calls = set(), [], []
    release = asyncio.Event()

    async def sync(key):
        if key in running:
            overlaps.append(key)
        running.add(key)
        calls.append(key)
        await release.wait()
        running.discard(key)

    task = asyncio.create_task(controller.run_workers(q, sync, 4, "t"))
    q.add("k")
    await settle()
    q.add("k")
    q.add("k")
    await settle()
    assert calls == ["k"]
    release.set()
    await settle()
    assert calls == ["k", "k"] and not overlaps
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
