"""Jittered exponential back-off between retries, as apimachinery's ExponentialBackoffManager.

The informer waits on one of these between failed list/watch attempts
(client-go's reflector: 800 ms doubling to 30 s, jitter 1.0, reset after two
quiet minutes). With jitter ``j`` each wait is ``d + rand * j * d``.
"""

from __future__ import annotations

import random

from kybernetes.client import clock as clocks


class Backoff:
    def __init__(self, clock: clocks.Clock, *, initial: float = 0.8, cap: float = 30.0,
                 factor: float = 2.0, jitter: float = 1.0, reset_after: float = 120.0,
                 rand: random.Random | None = None):
        self._clock = clock
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self.reset_after = reset_after
        self._rand = rand or random.Random()
        self._duration = initial
        self._last: float | None = None

    def next(self) -> float:
        """The next wait: grows each call, back to ``initial`` after a quiet ``reset_after``."""
        now = self._clock.monotonic()
        if self._last is not None and now - self._last > self.reset_after:
            self._duration = self.initial
        self._last = now
        base = self._duration
        self._duration = min(self._duration * self.factor, self.cap)
        return base + self._rand.random() * self.jitter * base if self.jitter > 0 else base

    def reset(self) -> None:
        self._duration = self.initial

    async def wait(self) -> None:
        await self._clock.sleep(self.next())
