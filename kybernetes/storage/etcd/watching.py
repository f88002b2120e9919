"""One storage watch as one etcd watch stream, re-established on failover.

``POST /v3/watch`` with a ``create_request`` opens a server stream on one
member: a ``created`` message, then a message per batch of events. etcd
never splits one revision across messages (its watch batches end at a
revision boundary unless ``fragment`` is asked for), so each message's
events go to the ``WatchStream`` as one batch.

The watch remembers the last revision it has delivered (the last event's)
and where it could resume: that, or the revision of a later progress
notification (etcd sends those only to a watcher that has caught up, so
every event up to it was delivered; resuming from there rather than from an
old event keeps an idle watch clear of compaction). When
the member dies or loses its leader (``hasleader`` makes it cancel the
watch), the watch is opened again on the next member from that revision +1,
as clientv3 resumes its watchers: no gap and no duplicate. Only if no member
takes it within the retry window does the stream fail with DatastoreError.

Events up to the revision current when the watch was created are history
being replayed; while replaying, the task waits for the consumer to make
room (like the SQLite backend's replay), and so stops reading the HTTP
stream and lets TCP hold etcd back. Live events are pushed without waiting,
and a consumer that falls behind them is cut off with WatchOverflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable

from kybernetes.storage import continuing, errors
from kybernetes.storage.etcd import codec
from kybernetes.storage.etcd.gateway import EtcdError, Failure, Gateway
from kybernetes.storage.types import Event
from kybernetes.storage.watching import DEFAULT_BUFFER, WatchStream

log = logging.getLogger(__name__)


class _Reopen(Exception):
    """Internal: the member cancelled the watch; open it again elsewhere."""


class Watcher:
    def __init__(self, gateway: Gateway, name: str, stream: WatchStream, after: int,
                 observe: Callable[[int], None], observe_compaction: Callable[[int], None],
                 *, buffer: int = DEFAULT_BUFFER):
        self.gateway = gateway
        self.name = name
        self.stream = stream
        self.delivered = after  # the last revision pushed to the consumer
        self.after = after  # every event up to this revision was delivered
        self._observe = observe
        self._observe_compaction = observe_compaction
        self._replay_to = 0  # revision current when the open stream was created
        self._chunk = max(1, buffer // 2)  # events pushed at once while replaying

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except errors.StorageError as e:
            self.stream.fail(e)
        except Exception as e:  # a bug must not leave the consumer waiting forever
            log.exception("watch on %r failed", self.stream.prefix)
            self.stream.fail(errors.DatastoreError(self.name, f"watch failed: {e!r}"))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        reasons: dict[str, str] = {}
        deadline = loop.time() + self.gateway.retry_timeout
        delay = 0.05
        while not self.stream.done:
            for url in self.gateway.members():
                if self.stream.done:
                    return
                try:
                    await self._follow(url)
                except (Failure, _Reopen) as e:
                    reason = str(e.reason if isinstance(e, Failure) else e)
                    # Once per outage at INFO; the retries that follow at DEBUG.
                    log.log(logging.INFO if self._replay_to else logging.DEBUG,
                            "watch on %r from %s broke (%s); resuming after revision %d",
                            self.stream.prefix, url, reason, self.after)
                    self.gateway.failed(url)
                except EtcdError as e:
                    raise errors.DatastoreError(self.name, f"watch refused: {e.message}") from e
                else:
                    return  # the consumer went away
                if self._replay_to:  # it had been established: a fresh outage
                    self._replay_to = 0
                    reasons.clear()
                    deadline = loop.time() + self.gateway.retry_timeout
                    delay = 0.05
                reasons[url] = reason
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise errors.DatastoreError(
                    self.name, f"watch on {self.stream.prefix!r} lost after revision "
                    f"{self.after} and no member took it again ("
                    + "; ".join(f"{u}: {r}" for u, r in reasons.items()) + ")")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)

    def _request(self) -> codec.Json:
        prefix = self.stream.prefix
        create = codec.key_range(prefix, continuing.prefix_end(prefix))
        create.update(start_revision=str(self.after + 1), prev_kv=True, progress_notify=True)
        return {"create_request": create}

    async def _follow(self, url: str) -> None:
        """Follow the watch on one member until the consumer is done (returns)
        or the member fails (raises)."""
        messages = self.gateway.stream(url, "/v3/watch", self._request())
        async with contextlib.aclosing(messages):
            async for message in messages:
                await self._handle(url, message)
                if self.stream.done:
                    return
        raise Failure(url, "the member ended the stream", sent=True)  # pragma: no cover

    async def _handle(self, url: str, message: codec.Json) -> None:
        if "error" in message:  # grpc-gateway's in-stream error, e.g. no leader
            error = message["error"]
            reason = error.get("message", error) if isinstance(error, dict) else error
            raise Failure(url, str(reason), sent=True)
        result = message.get("result") or {}
        revision = codec.revision(result)
        if revision:
            self._observe(revision)
        if result.get("canceled"):
            compacted = codec.num(result, "compact_revision")
            if compacted:  # etcd: start revision older than its compaction
                self._observe_compaction(compacted)
                raise errors.Compacted(self.after, compacted, revision)
            raise _Reopen(result.get("cancel_reason") or "the member cancelled the watch")
        if result.get("created"):
            self._replay_to = max(revision, 1)
            return
        events = [codec.event(e) for e in result.get("events") or []]
        if not events:  # progress notification: caught up to `revision`
            self.after = max(self.after, revision)
            # Every event up to `revision` was pushed already: the consumer
            # is current through it once its buffer is drained.
            self.stream.progress_revision = max(self.stream.progress_revision, revision)
            return
        batch = [e for e in events if e.revision > self.delivered]  # never a duplicate
        if not batch:
            return
        if batch[0].revision > self._replay_to:
            self._push(batch)
            return
        # History (etcd sends up to 1000 revisions per message): in pieces
        # that fit the consumer's buffer, each once it has made room.
        for piece in _pieces(batch, self._chunk):
            await self.stream.wait_for_space()
            if self.stream.done:
                return
            self._push(piece)

    def _push(self, batch: list[Event]) -> None:
        self.stream.push(batch)
        self.delivered = batch[-1].revision
        self.after = max(self.after, self.delivered)
        self.stream.progress_revision = max(self.stream.progress_revision, self.delivered)


def _pieces(events: list[Event], size: int) -> list[list[Event]]:
    """``events`` cut into runs of whole revisions of about ``size`` events
    (a revision with more events than that is a run of its own)."""
    pieces: list[list[Event]] = []
    current: list[Event] = []
    for i, e in enumerate(events):
        boundary = i == 0 or e.revision != events[i - 1].revision
        if boundary and len(current) >= size:
            pieces.append(current)
            current = []
        current.append(e)
    if current:
        pieces.append(current)
    return pieces
