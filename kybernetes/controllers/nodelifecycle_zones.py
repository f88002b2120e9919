"""Zones for the node lifecycle controller: how fast nodes may be NoExecute-tainted.

Each zone (``topology.kubernetes.io/region`` + ``zone`` labels) has a
``ZoneTainter``, upstream's RateLimitedTimedQueue: nodes waiting for a
NoExecute taint, let through by a token bucket (burst 1). ``Zones.update``
is upstream's handleDisruption: from the Ready statuses of each zone's
nodes it computes the zone states and sets the rates (Normal and
FullDisruption: ``node_eviction_rate``; PartialDisruption:
``secondary_node_eviction_rate`` in clusters above
``large_cluster_size_threshold`` nodes, else none). When every zone is fully
disrupted the controller stops tainting altogether (master disruption
mode: the fault is more likely the controller's own connectivity).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kybernetes.client import clock as clocks
from kybernetes.client import ratelimiters
from kybernetes.controllers import nodelifecycle_health as health_
from kybernetes.controllers.context import Settings

ENTER_MASTER_DISRUPTION = "enter"
EXIT_MASTER_DISRUPTION = "exit"


class ZoneTainter:
    """Nodes of one zone waiting for a NoExecute taint.

    A node stays a member after it was processed, so it is tainted once, until
    ``remove`` (the node is Ready again, or its taint went missing)."""

    def __init__(self, qps: float, clock: clocks.Clock):
        self.clock = clock
        self.members: set[str] = set()
        self.pending: dict[str, float] = {}  # name -> monotonic time to process at
        self.qps = -1.0
        self.bucket: ratelimiters.TokenBucket | None = None
        self.swap_limiter(qps)

    def swap_limiter(self, qps: float) -> None:
        if qps != self.qps:
            self.qps = qps
            self.bucket = ratelimiters.TokenBucket(qps, 1, self.clock) if qps > 0 else None

    def add(self, name: str) -> bool:
        if name in self.members:
            return False
        self.members.add(name)
        self.pending[name] = self.clock.monotonic()
        return True

    def remove(self, name: str) -> bool:
        self.pending.pop(name, None)
        if name in self.members:
            self.members.discard(name)
            return True
        return False

    async def try_(self, fn: Callable[[str], Awaitable[tuple[bool, float]]]) -> None:
        """Process due nodes while the limiter allows; ``fn`` answers (done, retry after)."""
        while self.pending:
            name, at = min(self.pending.items(), key=lambda kv: kv[1])
            if self.bucket is None or not self.bucket.try_accept():
                return
            now = self.clock.monotonic()
            if now < at:
                return
            ok, wait = await fn(name)
            if ok:
                self.pending.pop(name, None)
            elif name in self.pending:
                self.pending[name] = now + wait


class Zones:
    def __init__(self, settings: Settings, clock: clocks.Clock):
        self.settings = settings
        self.clock = clock
        self.tainters: dict[str, ZoneTainter] = {}
        self.states: dict[str, str] = {}

    def tainter(self, node: dict) -> ZoneTainter:
        zone = health_.zone_key(node)
        if zone not in self.tainters:
            self.tainters[zone] = ZoneTainter(self.settings.node_eviction_rate, self.clock)
        return self.tainters[zone]

    def update(self, zone_ready: dict[str, list[str | None]]) -> str:
        """New zone states from each zone's Ready statuses; returns ENTER_/EXIT_MASTER_DISRUPTION
        when the whole cluster goes into or out of full disruption, else ""."""
        new = {z: health_.zone_state(r, self.settings.unhealthy_zone_threshold)[1]
               for z, r in zone_ready.items()}
        for zone in new:
            self.states.setdefault(zone, health_.INITIAL)
        for zone in [z for z in self.states if z not in zone_ready]:
            del self.states[zone]
        all_now = all(s == health_.FULL_DISRUPTION for s in new.values())
        all_before = all(s == health_.FULL_DISRUPTION for s in self.states.values())
        if all_now and all_before:
            return ""
        if all_now:
            for zone in self.states:
                self.tainters[zone].swap_limiter(0)
                self.states[zone] = health_.FULL_DISRUPTION
            return ENTER_MASTER_DISRUPTION
        for zone, state in new.items():
            if self.states.get(zone) != state or all_before:
                self._set_limiter(zone, len(zone_ready[zone]), state)
                self.states[zone] = state
        return EXIT_MASTER_DISRUPTION if all_before else ""

    def _set_limiter(self, zone: str, size: int, state: str) -> None:
        s = self.settings
        if state == health_.PARTIAL_DISRUPTION:
            qps = s.secondary_node_eviction_rate if size > s.large_cluster_size_threshold else 0.0
        else:
            qps = s.node_eviction_rate
        if zone in self.tainters:
            self.tainters[zone].swap_limiter(qps)
