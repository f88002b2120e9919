"""The etcd backend: the ``Store`` protocol on a real etcd v3 cluster.

For HA and scale (DESIGN.md): the API server keeps its objects in etcd, as
kube-apiserver does, and talks to it through the v3 JSON gateway every
member serves on its client URL (``gateway``), so no gRPC stack is needed.
etcd already has exactly the semantics the protocol describes (one revision
counter, MVCC reads at a revision, CAS txns, watches, compaction), so most
methods are one request; the work here is in failover (``gateway``, and
``writing`` for writes whose answer was lost), in watches that survive a
member's death (``watching``) and in the compaction revision, which etcd
does not expose (``compact_revision``).

Reads are linearizable (etcd's default), as kube-apiserver's are.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module

from kybernetes.storage import continuing, errors
from kybernetes.storage.etcd import codec, writing
from kybernetes.storage.etcd.endpoints import parse as parse_endpoints
from kybernetes.storage.etcd.gateway import EtcdError, Gateway, OutcomeUnknown, Unreachable
from kybernetes.storage.etcd.watching import Watcher
from kybernetes.storage.types import KeyValue, ListResult
from kybernetes.storage.watching import DEFAULT_BUFFER, WatchStream

# A key for requests that only want header.revision or a revision check;
# count_only so that nothing is sent back even should it exist.
_PROBE = {"key": codec.b64("\x00"), "count_only": True}


class EtcdStore:
    def __init__(self, endpoints: str, *, name: str | None = None,
                 request_timeout: float = 5.0, start_timeout: float = 5.0,
                 retry_timeout: float = 15.0, watch_buffer: int = DEFAULT_BUFFER,
                 ssl: ssl_module.SSLContext | None = None):
        """``endpoints``: ``http(s)://host:port[,...]``, the cluster's client URLs.
        ``request_timeout`` bounds one attempt on one member, ``retry_timeout``
        a request's failover over all members (and a watch's outage), and
        ``start_timeout`` how long ``start`` waits for the cluster."""
        self.name = name or endpoints
        self.endpoints = parse_endpoints(endpoints, self.name)
        self.seen_revision = 0  # highest header.revision any member answered
        self._start_timeout = start_timeout
        self._watch_buffer = watch_buffer
        self._gateway = Gateway(self.endpoints, request_timeout=request_timeout,
                                retry_timeout=retry_timeout, ssl=ssl)
        self._compact_revision = 0  # highest compaction revision we know of
        self._watches: dict[asyncio.Task, WatchStream] = {}
        self._started = False
        self._closed = False

    @property
    def member(self) -> str:
        """The member URL requests go to now (they move on when it fails)."""
        return self._gateway.members()[0]

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Open the client and check that the cluster serves a linearizable
        read (so it has a leader and a quorum) within ``start_timeout``."""
        await self._gateway.open()
        self._started = True
        try:
            await self._call("/v3/kv/range", _PROBE, timeout=self._start_timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        watches, self._watches = self._watches, {}
        for task in watches:
            task.cancel()
        if watches:
            await asyncio.wait(watches)
        for stream in watches.values():
            stream.fail(errors.DatastoreError(self.name, "datastore is closed"))
        await self._gateway.close()

    # -- requests ----------------------------------------------------------------

    async def _call(self, path: str, body: codec.Json, *, write: bool = False,
                    timeout: float | None = None) -> codec.Json:
        """One gateway request. Raises ``EtcdError`` only for compacted and
        future revisions (the caller knows which revision was meant),
        ``OutcomeUnknown`` for a ``write`` that may have been applied, and
        ``DatastoreError`` naming the datastore for anything else."""
        if not self._started or self._closed:
            raise errors.DatastoreError(
                self.name, "datastore is closed" if self._closed else "datastore is not started")
        try:
            response = await self._gateway.call(path, body, write=write, timeout=timeout)
        except Unreachable as e:
            raise errors.DatastoreError(self.name, f"cannot reach any etcd member ({e})") from e
        except EtcdError as e:
            if e.compacted or e.future:
                raise
            raise errors.DatastoreError(self.name, f"etcd refused {path}: {e.message}") from e
        self.observe(codec.revision(response))
        return response

    def observe(self, revision: int) -> None:
        if revision > self.seen_revision:
            self.seen_revision = revision

    async def _range(self, body: codec.Json, revision: int) -> codec.Json:
        try:
            return await self._call("/v3/kv/range", body)
        except EtcdError as e:
            if e.compacted:
                raise errors.Compacted(revision, await self.compact_revision(),
                                       self.seen_revision) from None
            raise errors.FutureRevision(revision, await self.current_revision()) from None

    async def txn(self, body: codec.Json) -> codec.Json:
        """A write txn (``writing`` uses it); may raise ``OutcomeUnknown``."""
        try:
            return await self._call("/v3/kv/txn", body, write=True)
        except EtcdError as e:  # a txn names no revision: cannot be
            raise errors.DatastoreError(self.name, e.message) from e

    # -- reads -------------------------------------------------------------------

    async def current_revision(self) -> int:
        return codec.revision(await self._call("/v3/kv/range", _PROBE))

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        body: codec.Json = {"key": codec.b64(key)}
        if revision > 0:
            body["revision"] = str(revision)
        kvs = (await self._range(body, revision)).get("kvs") or []
        return codec.key_value(kvs[0]) if kvs else None

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   continue_token: str | None = None) -> ListResult:
        start = prefix
        if continue_token:
            # Every page at the first page's revision, as kube-apiserver's
            # continue tokens pin it.
            revision, start = continuing.decode(continue_token, prefix)
        body = codec.key_range(start, continuing.prefix_end(prefix))
        if revision > 0:
            body["revision"] = str(revision)
        if limit > 0:
            body["limit"] = str(limit)
        response = await self._range(body, revision)
        kvs = [codec.key_value(kv) for kv in response.get("kvs") or []]
        at = revision if revision > 0 else codec.revision(response)
        if limit > 0 and response.get("more") and kvs:
            # etcd's count is every key in [start, end) at that revision, not
            # only the page: what follows the page is the difference.
            remaining = codec.num(response, "count") - len(kvs)
            return ListResult(kvs, at, continuing.encode(at, prefix, kvs[-1].key), remaining)
        return ListResult(kvs, at)

    async def count(self, prefix: str) -> int:
        body = codec.key_range(prefix, continuing.prefix_end(prefix))
        body["count_only"] = True
        return codec.num(await self._call("/v3/kv/range", body), "count")

    # -- writes (see writing for retries) ----------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await writing.create(self, key, value)

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        return await writing.update(self, key, value, expected_revision)

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        return await writing.delete(self, key, expected_revision)

    # -- watch -------------------------------------------------------------------

    def watch(self, prefix: str, from_revision: int = 0) -> WatchStream:
        """Events after ``from_revision``; 0 means after the latest revision
        this client has seen (so after every write it has made: a caller
        that writes after ``watch`` returns sees its write)."""
        stream = WatchStream(prefix, self._watch_buffer)
        if not self._started or self._closed:
            stream.fail(errors.DatastoreError(
                self.name, "datastore is closed" if self._closed else "datastore is not started"))
            return stream
        after = from_revision if from_revision > 0 else self.seen_revision
        task = asyncio.get_running_loop().create_task(
            self._watch(stream, after), name=f"etcd-watch {prefix!r}")
        self._watches[task] = stream
        task.add_done_callback(lambda t: self._watches.pop(t, None))

        async def stop() -> None:  # closing the stream ends the HTTP stream
            task.cancel()
            await asyncio.wait([task])

        stream.on_close(stop)
        return stream

    async def _watch(self, stream: WatchStream, after: int) -> None:
        if after <= 0:
            try:
                after = await self.current_revision()
            except errors.StorageError as e:
                stream.fail(e)
                return
        await Watcher(self._gateway, self.name, stream, after, self.observe,
                      self._observe_compaction, buffer=self._watch_buffer).run()

    def _observe_compaction(self, revision: int) -> None:
        self._compact_revision = max(self._compact_revision, revision)

    # -- compaction ----------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """etcd's Compaction: revisions before ``revision`` are gone; reads at
        ``revision`` or later still work. At or below an earlier compaction
        revision etcd answers "compacted" (→ ``Compacted``)."""
        body = {"revision": str(revision)}
        for _ in range(writing.UNKNOWN_OUTCOMES):
            try:
                await self._call("/v3/kv/compaction", body, write=True)
            except OutcomeUnknown:
                if await self.compact_revision() >= revision:
                    return  # it was applied after all
                continue
            except EtcdError as e:
                if e.compacted:
                    raise errors.Compacted(revision, await self.compact_revision(),
                                           self.seen_revision) from None
                raise errors.FutureRevision(revision, await self.current_revision()) from None
            self._compact_revision = max(self._compact_revision, revision)
            return
        raise errors.DatastoreError(self.name, f"compaction to {revision} may or may not "
                                    "have been applied: no member answered")

    async def compact_revision(self) -> int:
        """The cluster's compaction revision (0 if never compacted).

        etcd keeps it (``compactMainRev``) but no API returns it, except a
        watch cancelled for it. Reads before it fail with "compacted" and reads
        at it succeed, so we find it by probing count-only reads at a
        revision: one request when nothing changed since we last knew it
        (whatever compacted it: us, another API server, etcd's own
        auto-compaction), a binary search over the revisions when it moved.
        """
        known = self._compact_revision
        if await self._readable(max(known, 1)):
            return known
        bad, good = max(known, 1), await self.current_revision()
        while good - bad > 1:
            middle = (bad + good) // 2
            if await self._readable(middle):
                good = middle
            else:
                bad = middle
        self._compact_revision = max(self._compact_revision, good)
        return self._compact_revision

    async def _readable(self, revision: int) -> bool:
        try:
            await self._call("/v3/kv/range", {**_PROBE, "revision": str(revision)})
        except EtcdError as e:
            return not e.compacted
        return True
