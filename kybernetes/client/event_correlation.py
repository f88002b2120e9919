"""What the event recorder does to an event before writing it: client-go's tools/record/events_cache.go.

Three steps, in client-go's order:

1. Aggregation: events that differ only in message (same source, object,
   type, reason) are counted per 10-minute window; from the 10th distinct
   message on, the event becomes one "(combined from similar events): ..."
   event, so a flapping message cannot create unbounded Events.
2. Deduplication: an event identical to one already written (same source,
   object incl. fieldPath/uid, type, reason, message) is not created again:
   the existing Event is PATCHed with ``count+1``, ``lastTimestamp`` and
   ``message``.
3. Spam filter: per source+object a token bucket (burst 25, refilling one
   every 5 minutes) drops the excess.

Pure logic over plain dicts and an injected clock; the caches are LRUs of
4096 entries.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kybernetes.client import clock as clocks
from kybernetes.client import ratelimiters

MAX_LRU_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0


def timestamp(t: datetime) -> str:
    """metav1.Time's wire format: RFC 3339 to the second."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _involved(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("involvedObject") or {}


def _source(event: dict[str, Any]) -> tuple[str, str]:
    src = event.get("source") or {}
    return src.get("component", ""), src.get("host", "")


def event_key(event: dict[str, Any]) -> tuple:
    o = _involved(event)
    return (*_source(event), o.get("kind", ""), o.get("namespace", ""), o.get("name", ""),
            o.get("fieldPath", ""), o.get("uid", ""), o.get("apiVersion", ""),
            event.get("type", ""), event.get("reason", ""), event.get("message", ""))


def spam_key(event: dict[str, Any]) -> tuple:
    o = _involved(event)
    return (*_source(event), o.get("kind", ""), o.get("namespace", ""), o.get("name", ""),
            o.get("uid", ""), o.get("apiVersion", ""))


def aggregate_key(event: dict[str, Any]) -> tuple:
    o = _involved(event)
    return (*_source(event), o.get("kind", ""), o.get("namespace", ""), o.get("name", ""),
            o.get("uid", ""), o.get("apiVersion", ""), event.get("type", ""),
            event.get("reason", ""), event.get("reportingComponent", ""),
            event.get("reportingInstance", ""))


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_touch(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class Correlation:
    event: dict[str, Any]
    patch: dict[str, Any] | None = None  # set when an existing Event is to be PATCHed
    skip: bool = False


class EventCorrelator:
    def __init__(self, clock: clocks.Clock, *, cache_size: int = MAX_LRU_ENTRIES,
                 max_events: int = AGGREGATE_MAX_EVENTS, max_interval: float = AGGREGATE_INTERVAL,
                 spam_burst: int = SPAM_BURST, spam_qps: float = SPAM_QPS):
        self._clock = clock
        self.max_events, self.max_interval = max_events, max_interval
        self.spam_burst, self.spam_qps = spam_burst, spam_qps
        self._aggregates = _LRU(cache_size)  # aggregate key -> (messages, monotonic last seen)
        self._logs = _LRU(cache_size)        # event key -> {count, firstTimestamp, name, rv}
        self._spam = _LRU(cache_size)        # spam key -> TokenBucket

    def correlate(self, event: dict[str, Any]) -> Correlation:
        """The event to write (a copy), the patch to apply instead of a create, or skip."""
        event, key = self._aggregate(event)
        event, patch = self._observe(event, key)
        if self._filtered(event):
            return Correlation(event, None, skip=True)
        return Correlation(event, patch)

    def update_state(self, event: dict[str, Any]) -> None:
        """Remember the Event as the server now has it (name, resourceVersion, count)."""
        self._logs.put(event_key(event), {
            "count": event.get("count") or 1, "firstTimestamp": event.get("firstTimestamp"),
            "name": event["metadata"]["name"],
            "resourceVersion": event["metadata"].get("resourceVersion", "")})

    def _aggregate(self, event: dict[str, Any]) -> tuple[dict[str, Any], tuple]:
        now = self._clock.monotonic()
        akey = aggregate_key(event)
        record = self._aggregates.get_touch(akey)
        if record is None or now - record[1] > self.max_interval:
            record = (set(), now)
        messages = record[0]
        messages.add(event.get("message", ""))
        self._aggregates.put(akey, (messages, now))
        if len(messages) < self.max_events:
            return copy.deepcopy(event), event_key(event)
        messages.pop()  # do not let the set grow past the threshold
        stamp = timestamp(self._clock.now())
        involved = _involved(event)
        combined = copy.deepcopy(event)
        combined["metadata"] = {
            "name": f"{involved.get('name', '')}.{hex_nanos(self._clock.now())}",
            "namespace": event["metadata"]["namespace"]}
        combined.update(count=1, firstTimestamp=stamp, lastTimestamp=stamp,
                        message="(combined from similar events): " + event.get("message", ""))
        return combined, akey

    def _observe(self, event: dict[str, Any], key: tuple) -> tuple[dict[str, Any], dict | None]:
        last = self._logs.get_touch(key)
        patch = None
        if last is not None:
            event["metadata"]["name"] = last["name"]
            event["metadata"]["resourceVersion"] = last["resourceVersion"]
            event["firstTimestamp"] = last["firstTimestamp"]
            event["count"] = last["count"] + 1
            # client-go's two-way strategic merge patch of exactly these fields.
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"],
                     "message": event.get("message", "")}
        self._logs.put(key, {"count": event.get("count") or 1,
                             "firstTimestamp": event.get("firstTimestamp"),
                             "name": event["metadata"]["name"],
                             "resourceVersion": event["metadata"].get("resourceVersion", "")})
        return event, patch

    def _filtered(self, event: dict[str, Any]) -> bool:
        key = spam_key(event)
        bucket = self._spam.get_touch(key)
        if bucket is None:
            bucket = ratelimiters.TokenBucket(self.spam_qps, self.spam_burst, self._clock)
        self._spam.put(key, bucket)
        return not bucket.try_accept()


def hex_nanos(t: datetime) -> str:
    """``%x`` of UnixNano, as client-go names events ``<object>.<hex nanoseconds>``."""
    return format(int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000, "x")
