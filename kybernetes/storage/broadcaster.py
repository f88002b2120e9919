"""Fan one stream of committed events out to many watchers (kine's broadcaster).

The SQLite backend publishes each committed batch once; every subscriber
takes the events under its prefix and after its start revision. A watcher
that is still replaying history holds live events aside until the replay is
done, so it sees history and live events in revision order without a gap or
a duplicate. A watcher that falls behind is cut off by its ``WatchStream``.
"""

from __future__ import annotations

from kybernetes.storage.errors import WatchOverflow
from kybernetes.storage.types import Event
from kybernetes.storage.watching import WatchStream


class Subscriber:
    """One watcher's view of the broadcast: a prefix and a start revision."""

    __slots__ = ("stream", "prefix", "after", "held", "_limit")

    def __init__(self, stream: WatchStream, prefix: str, after: int, *, replaying: bool,
                 limit: int):
        self.stream = stream
        self.prefix = prefix
        self.after = after
        self.held: list[Event] | None = [] if replaying else None
        self._limit = limit

    def deliver(self, batch: list[Event]) -> None:
        after, prefix = self.after, self.prefix
        mine = [e for e in batch if e.kv.mod_revision > after and e.kv.key.startswith(prefix)]
        if not mine:
            return
        if self.held is None:
            self.stream.push(mine)
            return
        self.held.extend(mine)
        if len(self.held) > self._limit:
            self.held = []
            self.stream.fail(WatchOverflow(
                f"watch on {self.prefix!r} fell more than {self._limit} events behind"
            ))

    async def release(self, replayed_to: int, chunk: int = 1000) -> None:
        """History up to ``replayed_to`` was pushed: hand over the held live
        events, paced by the watcher's buffer, then switch to live delivery
        (the switch happens with nothing held, so order is kept)."""
        while self.held and not self.stream.done:
            batch = [e for e in self.held[:chunk] if e.kv.mod_revision > replayed_to]
            del self.held[:chunk]
            self.stream.push(batch)
            await self.stream.wait_for_space()
        self.held = None
        self.stream.progress_revision = max(self.stream.progress_revision, replayed_to)


class Broadcaster:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)
        subscriber.stream.on_close(lambda: self._subscribers.discard(subscriber))

    def publish(self, batch: list[Event]) -> None:
        revision = batch[-1].kv.mod_revision
        for subscriber in list(self._subscribers):
            if subscriber.stream.done:
                self._subscribers.discard(subscriber)
                continue
            subscriber.deliver(batch)
            if subscriber.held is None:
                subscriber.stream.progress_revision = revision

    def fail_all(self, error: BaseException) -> None:
        for subscriber in list(self._subscribers):
            subscriber.stream.fail(error)
        self._subscribers.clear()

    def __len__(self) -> int:
        return len(self._subscribers)
