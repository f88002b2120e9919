"""Time as the client package sees it: a ``Clock`` passed in, never a module global.

Work queues, rate limiters, informers (back-off, resync), leader election and
the event recorder all read time through one of these, as client-go's parts
take a ``k8s.io/utils/clock.Clock``. ``monotonic()`` orders and measures
intervals; ``now()`` is the wall clock written into objects (Lease renewTime,
Event timestamps). ``FakeClock`` lets unit tests step time by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The machine's clocks and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that moves only when ``step`` is called, as client-go's testing clock.

    ``sleep`` parks the caller until the clock has been stepped past its
    deadline; tests then let the loop run (``await asyncio.sleep(0)``) so the
    woken tasks proceed.
    """

    def __init__(self, start: datetime | None = None):
        self._start = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._seq), fut))
        await fut

    def step(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._elapsed += seconds
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (cancelled ones excluded)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())
