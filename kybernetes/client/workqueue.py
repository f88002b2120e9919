"""The controller work queue, with client-go's util/workqueue semantics.

One class does what client-go layers as Type (queue.go), delaying queue
(delaying_queue.go) and rate-limiting queue (rate_limiting_queue.go):

- ``dirty`` holds items waiting to be processed, ``processing`` those handed
  out by ``get``. Adding an item already dirty does nothing (duplicates
  collapse); adding one that is being processed marks it dirty and it is
  queued again only when ``done`` is called, so no item is ever processed by
  two workers at once.
- ``add_after`` parks an item until its time comes (an earlier time for an
  item already parked wins); ``add_rate_limited`` parks it for as long as the
  rate limiter says; ``forget`` clears its failure history.
- ``shutdown`` stops accepting items; ``get`` keeps handing out what is queued
  and raises ``ShutDown`` once the queue is drained.

Items must be hashable (controllers use ``namespace/name`` strings). The queue
runs no task of its own: parked items move to the queue whenever a getter
wakes for them or anyone looks (``get``, ``len``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable

from kybernetes.client import clock as clocks
from kybernetes.client import ratelimiters


class ShutDown(Exception):
    """``get`` on a queue that has been shut down and drained."""


class WorkQueue:
    def __init__(self, name: str = "", *, rate_limiter: ratelimiters.RateLimiter | None = None,
                 clock: clocks.Clock | None = None):
        self.name = name
        self._clock = clock or clocks.RealClock()
        self._limiter = rate_limiter or ratelimiters.default_controller_rate_limiter(self._clock)
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._getters: deque[asyncio.Future] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None

    # --- queue.go ---

    def add(self, item: Hashable) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    def __len__(self) -> int:
        self._promote()
        return len(self._queue)

    async def get(self) -> Hashable:
        """The next item; the caller must call ``done(item)`` when finished with it."""
        while True:
            self._promote()
            if self._queue:
                item = self._queue.popleft()
                self._processing.add(item)
                self._dirty.discard(item)
                return item
            if self._shutting_down:
                raise ShutDown(self.name)
            await self._wait()

    def done(self, item: Hashable) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif self._drained is not None and not self._processing:
            self._drained.set()

    def shutdown(self) -> None:
        """Accept no more items; getters drain what is queued, then get ``ShutDown``."""
        self._shutting_down = True
        self._waiting.clear()
        self._heap.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def shutdown_with_drain(self) -> None:
        """``shutdown``, then wait until every item handed out has been marked ``done``."""
        self.shutdown()
        if self._processing:
            self._drained = asyncio.Event()
            await self._drained.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # --- delaying_queue.go ---

    def add_after(self, item: Hashable, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready = self._clock.monotonic() + delay
        current = self._waiting.get(item)
        if current is not None and current <= ready:
            return
        self._waiting[item] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), item))
        self._wake_one()  # a getter may be sleeping until a later deadline

    # --- rate_limiting_queue.go ---

    def add_rate_limited(self, item: Hashable) -> None:
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: Hashable) -> None:
        self._limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return self._limiter.num_requeues(item)

    # --- internals ---

    def _promote(self) -> None:
        """Move parked items whose time has come onto the queue."""
        if not self._heap:
            return
        now = self._clock.monotonic()
        while self._heap and self._heap[0][0] <= now:
            ready, _, item = heapq.heappop(self._heap)
            if self._waiting.get(item) == ready:  # else a stale entry superseded by an earlier one
                del self._waiting[item]
                self.add(item)

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def _wait(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._getters.append(fut)
        sleeper = None
        if self._heap:
            delay = self._heap[0][0] - self._clock.monotonic()
            sleeper = asyncio.ensure_future(self._clock.sleep(delay))
            sleeper.add_done_callback(lambda _: fut.done() or fut.set_result(None))
        try:
            await fut
        except BaseException:
            # Cancelled, perhaps after being woken: pass the wake-up on so no item is stranded.
            if self._queue:
                self._wake_one()
            raise
        finally:
            if sleeper is not None:
                sleeper.cancel()
            try:
                self._getters.remove(fut)
            except ValueError:
                pass
