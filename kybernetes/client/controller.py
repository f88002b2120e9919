"""The worker loop every controller runs, as sample-controller's runWorker/processNextWorkItem.

``run_workers(queue, sync, workers, name)`` starts ``workers`` tasks; each
takes a key from the queue, awaits ``sync(key)`` and then:

- success: ``queue.forget(key)`` (its back-off starts over);
- exception: ``queue.add_rate_limited(key)`` (retried after a growing delay),
  logged at WARNING once per failure streak (the first failure after a
  success), at DEBUG after that; a 409 Conflict (a cache behind its own
  writes, routine for controllers) is logged at DEBUG only;
- always: ``queue.done(key)``, so a key re-added meanwhile is processed again.

``CancelledError`` is never caught: cancelling ``run_workers`` stops every
worker. When the queue is shut down the workers drain it and return; with
``shutdown=True`` ``run_workers`` shuts it down itself when it stops (upstream's
``defer queue.ShutDown()`` in a controller's Run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from kybernetes.api import status
from kybernetes.client import rest, workqueue

log = logging.getLogger(__name__)


class SyncError(Exception):
    """An expected failure of a sync (a full range, a missing dependency):
    retried like any other, but logged without a traceback."""


async def run_workers(queue: workqueue.WorkQueue, sync: Callable[[Hashable], Awaitable[None]],
                      workers: int, name: str, *, shutdown: bool = False) -> None:
    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(workers):
                tg.create_task(_worker(queue, sync, name), name=f"{name}-worker-{i}")
    finally:
        if shutdown:
            queue.shutdown()


async def _worker(queue: workqueue.WorkQueue, sync: Callable[[Hashable], Awaitable[None]],
                  name: str) -> None:
    while True:
        try:
            key = await queue.get()
        except workqueue.ShutDown:
            return
        try:
            await sync(key)
        except Exception as e:
            conflict = isinstance(e, status.StatusError) and e.code == 409
            if queue.num_requeues(key) == 0 and not conflict:
                # API and connection errors say all there is to say; others need a traceback.
                quiet = isinstance(e, (status.StatusError, rest.ClientError, SyncError))
                log.warning("%s: error syncing %r, will retry: %s", name, key, e,
                            exc_info=not quiet)
            else:
                log.debug("%s: error syncing %r again: %s", name, key, e)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
