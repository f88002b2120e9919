"""The watch cache: one storage watch per resource feeds every client (k8s Cacher).

It lists the resource's prefix once, then follows one storage watch,
keeping the current objects (for LIST with resourceVersion "0" and for the
initial state of new watches) and a bounded history of events (5 minutes,
at most ``capacity`` events), from which a client's watch resumes at any
revision still held; older ones get 410 Expired, as from kube-apiserver.
Each client watch is a ``CacheWatcher`` with a bounded queue: one that
cannot keep up is closed (its client re-watches from its last revision)
rather than allowed to grow memory without bound.

Freshness: the cache knows it holds every event up to the storage watch's
progress revision once its buffer is drained, so a request for a revision
the resource has not changed at is answered at once.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
from collections import deque
from typing import Callable

import orjson

from kybernetes.api import status
from kybernetes.storage import errors as storage_errors
from kybernetes.storage.types import DELETE, Event, KeyValue, Store

log = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

WATCHER_QUEUE = 10_000


def decode(kv: KeyValue) -> dict:
    """A stored object with its resourceVersion, which storage does not keep."""
    obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


class CacheEvent:
    __slots__ = ("type", "key", "obj", "prev", "rv", "at", "_json")

    def __init__(self, type_: str, key: str, obj: dict, prev: dict | None, rv: int, at: float):
        self.type, self.key, self.obj, self.prev, self.rv, self.at = type_, key, obj, prev, rv, at
        self._json: bytes | None = None

    def json(self) -> bytes:
        """The object encoded once, shared by every watcher that sends it."""
        if self._json is None:
            self._json = orjson.dumps(self.obj)
        return self._json


Matcher = Callable[[dict], bool]


class CacheWatcher:
    """One client's watch on the cache: events under a key prefix that match."""

    def __init__(self, cache: "WatchCache", prefix: str, matcher: Matcher | None, after: int,
                 limit: int = WATCHER_QUEUE):
        self.cache = cache
        self.prefix = prefix
        self.matcher = matcher
        self.after = after
        self.limit = limit
        self.queue: deque[tuple[str, dict, CacheEvent | None]] = deque()
        self.closed = False
        self.overflowed = False
        self._wakeup = asyncio.Event()

    def _push(self, item: tuple[str, dict, CacheEvent | None]) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.close()
            return
        self.queue.append(item)
        self._wakeup.set()

    def offer(self, event: CacheEvent) -> None:
        """Queue ``event`` as this watcher sees it (selectors turn changes
        into ADDED or DELETED as objects start or stop matching)."""
        if event.rv <= self.after or not event.key.startswith(self.prefix):
            return
        matcher = self.matcher
        if matcher is None:
            self._push((event.type, event.obj, event))
            return
        if event.type == DELETED:
            if matcher(event.obj):
                self._push((DELETED, event.obj, event))
            return
        now = matcher(event.obj)
        before = event.prev is not None and matcher(event.prev)
        if now and before:
            self._push((MODIFIED, event.obj, event))
        elif now:
            self._push((ADDED, event.obj, event))
        elif before:
            # kube-apiserver: the previous object, at the event's revision.
            gone = dict(event.prev)
            gone["metadata"] = {**gone.get("metadata", {}), "resourceVersion": str(event.rv)}
            self._push((DELETED, gone, None))

    def initial(self, objects: list[dict]) -> None:
        for obj in objects:
            if self.matcher is None or self.matcher(obj):
                self._push((ADDED, obj, None))

    async def next(self, timeout: float | None) -> tuple[str, dict, CacheEvent | None] | None:
        """The next event, or None on timeout or when closed."""
        while not self.queue:
            if self.closed:
                return None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        return self.queue.popleft()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.cache._watchers.discard(self)
            self._wakeup.set()


class WatchCache:
    def __init__(self, store: Store, prefix: str, *, capacity: int = 100_000,
                 window: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.prefix = prefix
        self.capacity = capacity
        self.window = window
        self.clock = clock
        self.ready = asyncio.Event()
        self.objects: dict[str, dict] = {}
        self.history: deque[CacheEvent] = deque()
        self.revision = 0        # every event up to here is applied
        self.start_revision = 0  # watches from here on can be served
        self._watchers: set[CacheWatcher] = set()
        self._stream = None
        self._changed = asyncio.Event()

    # -- feeding --------------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the watch; on any break, list again."""
        delay = 0.1
        while True:
            try:
                await self._list_and_watch()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except storage_errors.StorageError as e:
                log.warning("watch cache for %s restarts: %s", self.prefix, e)
            self.ready.clear()
            for watcher in list(self._watchers):
                watcher.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _list_and_watch(self) -> None:
        listed = await self.store.list(self.prefix)
        objects = {kv.key: decode(kv) for kv in listed.kvs}
        stream = self.store.watch(self.prefix, from_revision=listed.revision)
        self._stream = stream
        self.objects = objects
        self.history.clear()
        self.revision = self.start_revision = listed.revision
        self.ready.set()
        self._changed.set()
        try:
            async for batch in stream:
                self._apply(batch)
        finally:
            self._stream = None
            await stream.close()

    def _apply(self, batch: list[Event]) -> None:
        # Synchronous on purpose: a drained stream then means applied events.
        now = self.clock()
        for e in batch:
            key = e.kv.key
            if e.type == DELETE:
                prev = self.objects.pop(key, None)
                if prev is None and e.prev_kv is not None:
                    prev = decode(e.prev_kv)
                if prev is None:
                    continue
                gone = dict(prev)
                gone["metadata"] = {**prev.get("metadata", {}), "resourceVersion": str(e.revision)}
                event = CacheEvent(DELETED, key, gone, prev, e.revision, now)
            else:
                obj = decode(e.kv)
                prev = self.objects.get(key)
                self.objects[key] = obj
                event = CacheEvent(ADDED if e.created or prev is None else MODIFIED,
                                   key, obj, prev, e.revision, now)
            self.history.append(event)
            self.revision = e.revision
            for watcher in list(self._watchers):
                watcher.offer(event)
        self._trim(now)
        self._changed.set()

    def _trim(self, now: float) -> None:
        history = self.history
        trimmed = False
        while history and (len(history) > self.capacity or history[0].at < now - self.window):
            history.popleft()
            trimmed = True
        if trimmed:
            # kube-apiserver's watchCache: the oldest event still held is the
            # first it can deliver, so a watch may start just before it
            # ("too old resource version: X (oldest-1)").
            self.start_revision = history[0].rv - 1 if history else self.revision

    # -- freshness --------------------------------------------------------------

    def fresh_revision(self) -> int:
        stream = self._stream
        if stream is not None and stream.buffered == 0 and stream.progress_revision > self.revision:
            return stream.progress_revision
        return self.revision

    async def wait_fresh(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache is known to hold every event up to ``revision``."""
        deadline = self.clock() + timeout
        while True:
            if self.ready.is_set() and self.fresh_revision() >= revision:
                return True
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except asyncio.TimeoutError:
                pass

    # -- reading -----------------------------------------------------------------

    def list(self, prefix: str) -> tuple[list[dict], int]:
        """Objects under ``prefix`` in key order, and the revision they are at."""
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        return [self.objects[k] for k in keys], self.fresh_revision()

    def get(self, key: str) -> dict | None:
        return self.objects.get(key)

    def watch(self, prefix: str, after: int, matcher: Matcher | None, *,
              initial: bool) -> CacheWatcher:
        """A watcher for events after revision ``after`` (with the current
        objects first as ADDED when ``initial``). 410 when ``after`` is older
        than the history held."""
        if not initial and after < self.start_revision:
            raise status.too_old(after, self.start_revision)
        watcher = CacheWatcher(self, prefix, matcher, after)
        if initial:
            objects, revision = self.list(prefix)
            watcher.initial(objects)
            watcher.after = max(after, self.revision)
        else:
            history = self.history
            start = bisect.bisect_right(history, after, key=lambda e: e.rv)
            for event in itertools.islice(history, start, None):
                watcher.offer(event)
        self._watchers.add(watcher)
        return watcher

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)
