"""A watch as its consumer sees it: a bounded buffer of event batches.

A backend pushes batches in; the consumer iterates. When the buffer is full
the stream is cut off with ``WatchOverflow``: the consumer still receives
every batch buffered before the cut, then the error, so an event is never
silently skipped (etcd's robustness tests' "reliable" property). Both the
SQLite and the etcd backends hand these to their callers.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from typing import AsyncIterator, Callable

from kybernetes.storage.errors import WatchOverflow
from kybernetes.storage.types import Event

DEFAULT_BUFFER = 10_000  # events held for one watcher before it is cut off


class WatchStream:
    """One watcher's queue. ``on_close`` lets the backend unsubscribe."""

    def __init__(self, prefix: str, limit: int = DEFAULT_BUFFER):
        self.prefix = prefix
        self._limit = limit
        self._batches: deque[list[Event]] = deque()
        self._size = 0
        self._error: BaseException | None = None
        self._closed = False
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        # Every event with a revision up to this one has been pushed (or was
        # not for this watcher): a consumer whose buffer is empty is up to
        # date through it. Backends advance it (etcd: response headers and
        # progress notifications; SQLite: every commit).
        self.progress_revision = 0
        self._on_close: list[Callable[[], object]] = []

    def on_close(self, callback: Callable[[], object]) -> None:
        self._on_close.append(callback)

    @property
    def done(self) -> bool:
        return self._closed or self._error is not None

    def push(self, batch: list[Event]) -> None:
        """Queue a batch (already filtered to this watcher's prefix)."""
        if self.done or not batch:
            return
        if self._size + len(batch) > self._limit:
            self.fail(WatchOverflow(
                f"watch on {self.prefix!r} fell more than {self._limit} events behind"
            ))
            return
        self._batches.append(batch)
        self._size += len(batch)
        if self._size > self._limit // 2:
            self._space.clear()
        self._wakeup.set()

    @property
    def buffered(self) -> int:
        """Events queued and not yet taken by the consumer."""
        return self._size

    async def wait_for_space(self) -> None:
        """Wait until the buffer is at most half full: producers that can pace
        themselves (a backend replaying history) use this instead of
        overflowing the watcher."""
        while not self.done and self._size > self._limit // 2:
            self._space.clear()
            await self._space.wait()

    def fail(self, error: BaseException) -> None:
        """End the stream with ``error`` after what is already buffered."""
        if self.done:
            return
        self._error = error
        self._wakeup.set()
        self._space.set()

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[Event]]:
        while True:
            if self._batches:
                batch = self._batches.popleft()
                self._size -= len(batch)
                if self._size <= self._limit // 2:
                    self._space.set()
                yield batch
                continue
            if self._error is not None:
                raise self._error
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._batches.clear()
        self._size = 0
        self._wakeup.set()
        self._space.set()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            result = callback()
            if inspect.isawaitable(result):
                await result
