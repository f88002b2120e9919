"""The embedded datastore: etcd's semantics on one SQLite file (the default).

One writer thread applies queued writes in batches (group commit: every
writer waiting at that moment shares one transaction and one fsync); a few
reader threads serve gets, lists and watch history from WAL snapshots, so
reads never wait for writes and the event loop never waits for SQLite.
Committed events are broadcast in process to watchers. A lock file keeps a
second process off the same database. A background task compacts history
older than the window (5 minutes by default, like kube-apiserver's etcd
compaction), so the file stays bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import sqlite3
import threading
import time
from typing import Callable, TypeVar

from kybernetes.storage import continuing, errors
from kybernetes.storage.broadcaster import Broadcaster, Subscriber
from kybernetes.storage.sqlite import compacting, reading, schema, writing
from kybernetes.storage.types import KeyValue, ListResult
from kybernetes.storage.watching import DEFAULT_BUFFER, WatchStream

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 2000
HISTORY_CHUNK = 1000


class SqliteStore:
    def __init__(self, path: str, *, name: str | None = None, readers: int = 4,
                 compaction_window: float = 300.0, compaction_interval: float = 60.0,
                 compaction_min_keep: int = 1000, watch_buffer: int = DEFAULT_BUFFER,
                 busy_timeout_ms: int = schema.BUSY_TIMEOUT_MS):
        self.path = path
        self.name = name or f"sqlite://{path}"
        self._readers = readers
        self._busy_timeout_ms = busy_timeout_ms
        self._watch_buffer = watch_buffer
        self._policy = compacting.CompactionPolicy(compaction_window, compaction_min_keep)
        self._compaction_interval = compaction_interval
        self._revision = 0
        self._compact_revision = 0
        self._queue: asyncio.Queue[tuple[writing.WriteOp, asyncio.Future]] | None = None
        self._broadcaster = Broadcaster()
        self._write_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._read_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._tasks: list[asyncio.Task] = []
        self._lock_fd: int | None = None
        self._compact_lock = asyncio.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as e:
            raise errors.DatastoreError(self.name, f"cannot create {directory}: {e.strerror}") from e
        self._take_lock()
        self._write_pool = concurrent.futures.ThreadPoolExecutor(1, "sqlite-writer")
        self._read_pool = concurrent.futures.ThreadPoolExecutor(self._readers, "sqlite-reader")
        try:
            self._revision, self._compact_revision = await self._write(self._open)
        except BaseException:
            await self.close()
            raise
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._commit_loop(), name="sqlite-commit"),
                       asyncio.create_task(self._compact_loop(), name="sqlite-compact")]

    def _open(self, conn: sqlite3.Connection) -> tuple[int, int]:
        schema.initialise(conn)
        schema.check_integrity(conn)
        return schema.read_meta(conn)

    def _take_lock(self) -> None:
        lock_path = self.path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise errors.DatastoreError(self.name, f"cannot open {lock_path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise errors.DatastoreError(
                self.name, f"the database is locked: another process holds {lock_path}") from e
        self._lock_fd = fd

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                _op, fut = self._queue.get_nowait()
                if not fut.done():
                    fut.set_exception(errors.DatastoreError(self.name, "datastore is closed"))
        self._broadcaster.fail_all(errors.DatastoreError(self.name, "datastore is closed"))
        for pool in (self._write_pool, self._read_pool):
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- threads -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = schema.connect(self.path, busy_timeout_ms=self._busy_timeout_ms)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def _run(self, pool: concurrent.futures.Executor | None, fn: Callable[..., T], *args) -> T:
        if pool is None or self._closed:
            raise errors.DatastoreError(self.name, "datastore is not open")

        def call() -> T:
            return fn(self._conn(), *args)

        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except sqlite3.Error as e:
            raise errors.DatastoreError(self.name, _describe(e)) from e
        except RuntimeError as e:  # executor shut down under us
            raise errors.DatastoreError(self.name, "datastore is closed") from e

    async def _read(self, fn: Callable[..., T], *args) -> T:
        return await self._run(self._read_pool, fn, *args)

    async def _write(self, fn: Callable[..., T], *args) -> T:
        return await self._run(self._write_pool, fn, *args)

    # -- writes ----------------------------------------------------------------

    async def _submit(self, op: writing.WriteOp) -> KeyValue:
        if self._queue is None or self._closed:
            raise errors.DatastoreError(self.name, "datastore is not open")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, fut))
        return await fut

    async def _commit_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            ops = [op for op, _ in batch]
            try:
                revision, events = await self._write(writing.apply_batch, ops, self._revision)
            except errors.DatastoreError as e:
                for _op, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            except asyncio.CancelledError:
                for _op, fut in batch:
                    if not fut.done():
                        fut.set_exception(errors.DatastoreError(self.name, "datastore is closed"))
                raise
            # Revision first, then events, then answers: a caller that gets
            # revision R back can at once read or watch from R.
            self._revision = revision
            if events:
                self._broadcaster.publish(events)
            for op, fut in batch:
                if fut.done():
                    continue
                if isinstance(op.result, errors.StorageError):
                    fut.set_exception(op.result)
                else:
                    fut.set_result(op.result)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._submit(writing.WriteOp(writing.CREATE, key, value))

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        return await self._submit(writing.WriteOp(writing.UPDATE, key, value, expected_revision))

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        return await self._submit(writing.WriteOp(writing.REMOVE, key, b"", expected_revision))

    # -- reads -------------------------------------------------------------------

    async def current_revision(self) -> int:
        return self._revision

    async def compact_revision(self) -> int:
        return self._compact_revision

    def _check_revision(self, revision: int) -> int:
        current = self._revision
        if revision <= 0:
            return current
        if revision > current:
            raise errors.FutureRevision(revision, current)
        if revision < self._compact_revision:
            raise errors.Compacted(revision, self._compact_revision, current)
        return revision

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        if revision <= 0:
            return await self._read(reading.get, key, 1 << 62)
        at = self._check_revision(revision)
        return await self._read(reading.get, key, at)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   continue_token: str | None = None) -> ListResult:
        start = prefix
        if continue_token:
            revision, start = continuing.decode(continue_token, prefix)
        at = self._check_revision(revision)
        end = continuing.prefix_end(prefix)

        def read(conn: sqlite3.Connection) -> tuple[list[KeyValue], int]:
            conn.execute("BEGIN")
            try:
                kvs = reading.list_range(conn, start, end, at, limit + 1 if limit > 0 else 0)
                remaining = 0
                if limit > 0 and len(kvs) > limit:
                    remaining = reading.count_range(conn, kvs[limit].key, end, at)
                return kvs, remaining
            finally:
                conn.execute("COMMIT")

        kvs, remaining = await self._read(lambda conn: read(conn))
        if limit > 0 and len(kvs) > limit:
            kvs = kvs[:limit]
            token = continuing.encode(at, prefix, kvs[-1].key)
            return ListResult(kvs, at, token, remaining)
        return ListResult(kvs, at)

    async def count(self, prefix: str) -> int:
        return await self._read(reading.count_range, prefix, continuing.prefix_end(prefix), 1 << 62)

    # -- watch -------------------------------------------------------------------

    def watch(self, prefix: str, from_revision: int = 0) -> WatchStream:
        stream = WatchStream(prefix, self._watch_buffer)
        current = self._revision
        if self._closed:
            stream.fail(errors.DatastoreError(self.name, "datastore is closed"))
            return stream
        if 0 < from_revision < self._compact_revision:
            stream.fail(errors.Compacted(from_revision, self._compact_revision, current))
            return stream
        after = from_revision if from_revision > 0 else current
        replay = after < current
        subscriber = Subscriber(stream, prefix, after, replaying=replay, limit=self._watch_buffer)
        self._broadcaster.subscribe(subscriber)
        if not replay:
            stream.progress_revision = current
        if replay:
            task = asyncio.create_task(self._replay(subscriber, after, current))
            stream.on_close(task.cancel)
        return stream

    async def _replay(self, subscriber: Subscriber, after: int, upto: int) -> None:
        """Push history (after, upto] to a new watcher, paced by its buffer,
        then hand it over to the live broadcast."""
        stream = subscriber.stream
        end = continuing.prefix_end(subscriber.prefix)

        def read(conn: sqlite3.Connection, pos: int):
            conn.execute("BEGIN")
            try:
                compacted = reading.compact_revision(conn)
                if pos < compacted:
                    return compacted, [], pos
                events, scanned = reading.history(conn, subscriber.prefix, end, pos, upto, chunk)
                return compacted, events, scanned
            finally:
                conn.execute("COMMIT")

        # Never push more than half a buffer at once, or the replay itself
        # would overflow the watcher it is feeding.
        chunk = max(1, min(HISTORY_CHUNK, self._watch_buffer // 2))
        pos = after
        try:
            while pos < upto and not stream.done:
                compacted, events, scanned = await self._read(read, pos)
                if pos < compacted:
                    stream.fail(errors.Compacted(after, compacted, self._revision))
                    return
                stream.push(events)
                pos = scanned
                await stream.wait_for_space()
            await subscriber.release(upto, chunk)
        except errors.StorageError as e:
            stream.fail(e)

    # -- compaction --------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        async with self._compact_lock:
            if revision > self._revision:
                raise errors.FutureRevision(revision, self._revision)
            if revision <= self._compact_revision:
                raise errors.Compacted(revision, self._compact_revision, self._revision)
            lo = self._compact_revision
            await self._write(compacting.mark, revision)
            self._compact_revision = revision
            removed = 0
            while lo < revision:
                hi = min(lo + compacting.CHUNK, revision)
                removed += await self._write(compacting.chunk, lo, hi, revision)
                lo = hi
            await self._write(compacting.reclaim)
            log.debug("compacted %s to revision %d (%d rows)", self.name, revision, removed)

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self._compaction_interval)
            target = self._policy.target(time.monotonic(), self._revision, self._compact_revision)
            if target:
                try:
                    await self.compact(target)
                except errors.StorageError as e:
                    log.warning("automatic compaction of %s failed: %s", self.name, e)


def _describe(e: sqlite3.Error) -> str:
    text = str(e)
    if "not a database" in text or "malformed" in text or "integrity" in text:
        return f"the database file is corrupt or truncated ({text})"
    if "locked" in text or "busy" in text:
        return f"the database is locked by another process ({text})"
    return text
