"""Rate limiters for work-queue retries, as client-go's util/workqueue/default_rate_limiters.go.

A limiter answers "how long until this item may be retried" (``when``), counts
the item's failures (``num_requeues``) and is told when the item succeeded
(``forget``). ``default_controller_rate_limiter`` is client-go's
DefaultControllerRateLimiter: the larger of a per-item exponential back-off
(5 ms doubling to 1000 s) and one token bucket for the whole queue (10 qps,
burst 100). ``TokenBucket`` is golang.org/x/time/rate's Limiter, also used by
the event recorder's spam filter.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kybernetes.client import clock as clocks


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float: ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class TokenBucket:
    """``rate.Limiter``: starts full with ``burst`` tokens, refills at ``qps`` per second.

    ``reserve`` always takes a token and says how long the caller must wait for
    it (the bucket may go negative: later reservations queue behind earlier
    ones); ``try_accept`` takes one only if one is there now.
    """

    def __init__(self, qps: float, burst: int, clock: clocks.Clock):
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def _advance(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(now - self._last, 0.0)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)

    def reserve(self) -> float:
        self._advance()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_accept(self) -> bool:
        self._advance()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` per item, capped at ``max_delay``; ``forget`` resets the item."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 62:  # client-go guards the same overflow
            return self.max_delay
        return min(self.base_delay * (2 ** exp), self.max_delay)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)


class BucketRateLimiter:
    """One token bucket shared by every item: bounds the queue's overall retry rate."""

    def __init__(self, qps: float, burst: int, clock: clocks.Clock):
        self.bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def num_requeues(self, item: Hashable) -> int:
        return 0

    def forget(self, item: Hashable) -> None:
        pass


class MaxOfRateLimiter:
    """The longest delay any of its limiters asks for; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter):
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)


def default_controller_rate_limiter(clock: clocks.Clock | None = None) -> MaxOfRateLimiter:
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock or clocks.RealClock()),
    )
