"""The scheduling queue: active, back-off and unschedulable pods (scheduling_queue.go).

- activeQ: a heap ordered as PrioritySort orders it: higher ``spec.priority``
  first, then the earlier queue timestamp. ``pop`` waits for a pod, counts
  the attempt, and marks the pod in flight until ``done``.
- backoffQ: pods waiting out their back-off, ``1 s * 2^(attempts-1)`` capped
  at 10 s from their last failure; moved to activeQ when it expires
  (checked at least every second).
- unschedulablePods: pods that fit nowhere. A cluster event moves those whose
  rejecting plugins care about it (``INTERESTS``) back: to backoffQ if still
  backing off, else to activeQ. Pods left there 5 minutes are flushed back
  (checked every 30 s). A pod whose scheduling attempt overlapped a move
  request, or that failed with an error, goes to backoffQ instead, so no
  event is lost while it was in flight.

Heaps are lazily cleaned: an entry is valid while ``_where[key]`` still names
its sequence number. Everything runs on one event loop; no locks.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
from typing import Iterable

from kybernetes.client import clock as clocks
from kybernetes.scheduler import podinfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_IN_UNSCHEDULABLE = 300.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0

# Cluster events (framework.ClusterEvent, coarsened) and which plugins' rejections they may undo.
NODE_ADD, NODE_DELETE = "NodeAdd", "NodeDelete"
NODE_LABEL, NODE_TAINT, NODE_ALLOCATABLE = "NodeLabelChange", "NodeTaintChange", "NodeAllocatableChange"
POD_ADD, POD_UPDATE, POD_DELETE = "AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete"
TIMEOUT = "UnschedulableTimeout"
INTERESTS = {
    "NodeUnschedulable": {NODE_ADD, NODE_TAINT},
    "NodeName": {NODE_ADD},
    "TaintToleration": {NODE_ADD, NODE_TAINT},
    "NodeAffinity": {NODE_ADD, NODE_LABEL},
    "NodePorts": {NODE_ADD, POD_DELETE},
    "NodeResourcesFit": {NODE_ADD, NODE_ALLOCATABLE, NODE_TAINT, NODE_LABEL, POD_DELETE, POD_UPDATE},
    "PodTopologySpread": {NODE_ADD, NODE_DELETE, NODE_LABEL, NODE_TAINT, POD_ADD, POD_UPDATE, POD_DELETE},
    "InterPodAffinity": {NODE_ADD, NODE_LABEL, POD_ADD, POD_UPDATE, POD_DELETE},
}


class QueuedPodInfo:
    __slots__ = ("pod_info", "timestamp", "initial_attempt", "attempts", "unschedulable_plugins",
                 "cycle", "updated")

    def __init__(self, pi: podinfo.PodInfo, now: float):
        self.pod_info = pi
        self.timestamp = now
        self.initial_attempt = now
        self.attempts = 0
        self.unschedulable_plugins: set[str] = set()
        self.cycle = 0
        self.updated = False

    @property
    def key(self) -> str:
        return self.pod_info.key


class SchedulingQueue:
    def __init__(self, clock: clocks.Clock | None = None, *, initial_backoff: float = INITIAL_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, max_in_unschedulable: float = MAX_IN_UNSCHEDULABLE):
        self.clock = clock or clocks.RealClock()
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self._infos: dict[str, QueuedPodInfo] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._seq = itertools.count()
        self._active_ready = asyncio.Event()
        self._backoff_ready = asyncio.Event()
        self.scheduling_cycle = 0
        # (cycle, events) of recent move requests: a pod failing after a move that could
        # have helped it goes to back-off rather than waiting in unschedulablePods.
        self._moves: collections.deque[tuple[int, frozenset[str]]] = collections.deque(maxlen=256)

    # --- bookkeeping ---

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        seq = next(self._seq)
        self._where[qpi.key] = ("active", seq)
        heapq.heappush(self._active, (-qpi.pod_info.priority, qpi.timestamp, seq, qpi.key))
        self._active_ready.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        seq = next(self._seq)
        self._where[qpi.key] = ("backoff", seq)
        heapq.heappush(self._backoff, (self.backoff_expiry(qpi), seq, qpi.key))
        self._backoff_ready.set()

    def _push_unschedulable(self, qpi: QueuedPodInfo) -> None:
        self._where[qpi.key] = ("unschedulable", 0)
        self._unschedulable[qpi.key] = qpi

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        duration = self.initial_backoff * 2 ** max(qpi.attempts - 1, 0)
        return qpi.timestamp + min(duration, self.max_backoff)

    def _backing_off(self, qpi: QueuedPodInfo) -> bool:
        return self.backoff_expiry(qpi) > self.clock.monotonic()

    def _move(self, qpi: QueuedPodInfo) -> None:
        self._unschedulable.pop(qpi.key, None)
        if self._backing_off(qpi):
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    # --- informer side ---

    def add(self, pi: podinfo.PodInfo) -> None:
        """A pod for this scheduler appeared (or changed, if already known)."""
        if pi.key in self._infos or pi.key in self._in_flight:
            self.update(pi)
            return
        qpi = QueuedPodInfo(pi, self.clock.monotonic())
        self._infos[pi.key] = qpi
        self._push_active(qpi)

    def update(self, pi: podinfo.PodInfo) -> None:
        qpi = self._in_flight.get(pi.key) or self._infos.get(pi.key)
        if qpi is None:
            self.add(pi)
            return
        old = qpi.pod_info
        qpi.pod_info = pi
        relevant = _spec_changed(old, pi)
        if pi.key in self._in_flight:
            qpi.updated = qpi.updated or relevant
            return
        where = self._where.get(pi.key, ("", 0))[0]
        if where == "unschedulable" and relevant:
            self._move(qpi)
        elif where == "active" and old.priority != pi.priority:
            self._push_active(qpi)

    def delete(self, key: str) -> None:
        self._in_flight.pop(key, None)
        self._infos.pop(key, None)
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)

    def move_all(self, events: Iterable[str]) -> int:
        """MoveAllToActiveOrBackoffQueue for the pods a cluster event may help."""
        events = frozenset(events)
        if self._in_flight:
            self._moves.append((self.scheduling_cycle, events))
        moved = [q for q in self._unschedulable.values() if _interested(q, events)]
        for qpi in moved:
            self._move(qpi)
        return len(moved)

    # --- scheduler side ---

    async def pop(self) -> QueuedPodInfo:
        while True:
            while self._active:
                _, _, seq, key = heapq.heappop(self._active)
                if self._where.get(key) != ("active", seq):
                    continue
                del self._where[key]
                qpi = self._infos.pop(key)
                qpi.attempts += 1
                self.scheduling_cycle += 1
                qpi.cycle = self.scheduling_cycle
                qpi.updated = False
                self._in_flight[key] = qpi
                return qpi
            self._active_ready.clear()
            await self._active_ready.wait()

    def done(self, key: str) -> None:
        self._in_flight.pop(key, None)

    def requeue(self, qpi: QueuedPodInfo, unschedulable_plugins: set[str] | None) -> None:
        """A failed attempt: ``unschedulable_plugins`` None means an error (straight to back-off)."""
        key = qpi.key
        if self._in_flight.pop(key, None) is None and key not in self._infos:
            return  # deleted while in flight
        if key in self._where:
            return  # re-added while in flight
        qpi.timestamp = self.clock.monotonic()
        self._infos[key] = qpi
        qpi.unschedulable_plugins = unschedulable_plugins or set()
        if unschedulable_plugins is None or qpi.updated or self._moved_since(qpi):
            self._push_backoff(qpi)
        else:
            self._push_unschedulable(qpi)

    def _moved_since(self, qpi: QueuedPodInfo) -> bool:
        """Did a move request that may help ``qpi`` arrive while it was in flight?"""
        moves = self._moves
        if moves and len(moves) == moves.maxlen and moves[0][0] >= qpi.cycle:
            return True  # history overflowed: assume so
        for cycle, events in reversed(moves):
            if cycle < qpi.cycle:
                break
            if _interested(qpi, set(events)):
                return True
        return False

    # --- periodic flushing ---

    def flush_backoff_completed(self) -> int:
        now = self.clock.monotonic()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            if self._where.get(key) == ("backoff", seq):
                self._push_active(self._infos[key])
                moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock.monotonic()
        stale = [q for q in self._unschedulable.values()
                 if now - q.timestamp > self.max_in_unschedulable]
        for qpi in stale:
            self._move(qpi)
        return len(stale)

    async def run(self) -> None:
        """Flush the back-off and unschedulable queues until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._backoff_loop())
            tg.create_task(self._unschedulable_loop())

    async def _backoff_loop(self) -> None:
        while True:
            self.flush_backoff_completed()
            if not self._backoff:
                self._backoff_ready.clear()
                await self._backoff_ready.wait()
                continue
            wait = self._backoff[0][0] - self.clock.monotonic()
            await self.clock.sleep(min(max(wait, 0.01), 1.0))

    async def _unschedulable_loop(self) -> None:
        while True:
            await self.clock.sleep(UNSCHEDULABLE_FLUSH_PERIOD)
            self.flush_unschedulable_leftover()

    # --- introspection ---

    def pending(self) -> dict[str, int]:
        count = {"active": 0, "backoff": 0, "unschedulable": 0}
        for where, _ in self._where.values():
            count[where] += 1
        return count

    def where(self, key: str) -> str:
        if key in self._in_flight:
            return "in-flight"
        return self._where.get(key, ("", 0))[0]

    def __len__(self) -> int:
        return len(self._where)


def _interested(qpi: QueuedPodInfo, events: set[str]) -> bool:
    if TIMEOUT in events or not qpi.unschedulable_plugins:
        return True
    return any(INTERESTS.get(p, events) & events for p in qpi.unschedulable_plugins)


def _spec_changed(old: podinfo.PodInfo, new: podinfo.PodInfo) -> bool:
    """isPodUpdated: anything but status and resourceVersion changed."""
    a, b = old.pod, new.pod
    if a.get("spec") != b.get("spec"):
        return True
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    return any(ma.get(f) != mb.get(f) for f in ("labels", "annotations", "finalizers",
                                                 "ownerReferences", "deletionTimestamp"))
