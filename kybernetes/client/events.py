"""The event recorder: how components tell users what they did, as client-go's tools/record.

``recorder.event(obj, "Normal", "Scheduled", "...")`` never blocks and never
fails: it builds a core/v1 Event about ``obj`` (involvedObject, source
component/host, first/lastTimestamp, count 1, reportingComponent/Instance,
name ``<object name>.<hex nanoseconds>`` in the object's namespace, or
``default`` for cluster-scoped objects) and queues it. ``run()``, a
background task, passes each through the ``EventCorrelator`` (aggregation,
count de-duplication, spam filter) and writes it: a POST, or for a repeat a
strategic-merge PATCH of count/lastTimestamp/message (falling back to a POST
if the Event is gone). Unreachable servers are retried (12 tries, 10 s apart,
as client-go); refusals (4xx/5xx Status) are logged and dropped. The queue
holds 1000 events; beyond that new events are dropped, as client-go's
broadcaster does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import event_correlation, rest

log = logging.getLogger(__name__)

EVENTS = registry.lookup("", "v1", "events")
MAX_TRIES = 12
RETRY_SLEEP = 10.0
QUEUE_SIZE = 1000


def object_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """An ObjectReference to ``obj``; a reference (no ``metadata``) is taken as it is."""
    if "metadata" not in obj:
        return {k: v for k, v in obj.items() if v}
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""),
           "name": meta.get("name", ""), "uid": meta.get("uid", ""),
           "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: rest.Client, component: str, host: str | None = None, *,
                 clock: clocks.Clock | None = None, max_tries: int = MAX_TRIES,
                 retry_sleep: float = RETRY_SLEEP, queue_size: int = QUEUE_SIZE):
        self.client = client
        self.component = component
        self.host = host
        self._clock = clock or clocks.RealClock()
        self.correlator = event_correlation.EventCorrelator(self._clock)
        self.max_tries, self.retry_sleep = max_tries, retry_sleep
        self._queue: deque[dict[str, Any]] = deque()
        self._queue_size = queue_size
        self._dropped = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an event about ``obj`` (an object or an ObjectReference); returns at once."""
        if len(self._queue) >= self._queue_size:
            # One line per hundred drops, not one per event: a full queue
            # means many events at once.
            if self._dropped % 100 == 0:
                log.warning("event queue full; dropping events (%d so far), e.g. %s %s: %s",
                            self._dropped + 1, type_, reason, message)
            self._dropped += 1
            return
        self._queue.append(self._make(obj, type_, reason, message))
        self._idle.clear()
        self._wake.set()

    def _make(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
        ref = object_reference(obj)
        now = self._clock.now()
        stamp = event_correlation.timestamp(now)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.get('name', '')}.{event_correlation.hex_nanos(now)}",
                         "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref, "reason": reason, "message": message, "type": type_,
            "source": source, "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host or "",
        }

    async def run(self) -> None:
        """Write queued events until cancelled."""
        while True:
            while not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            event = self._queue.popleft()
            try:
                await self._record(event)
            except Exception:
                log.exception("unexpected error recording event %s", event["metadata"]["name"])

    async def flush(self) -> None:
        """Wait until every event queued so far has been written (or given up on)."""
        await self._idle.wait()

    async def _record(self, event: dict[str, Any]) -> None:
        result = self.correlator.correlate(event)
        if result.skip:
            return
        for attempt in range(1, self.max_tries + 1):
            if await self._write(result):
                return
            if attempt == self.max_tries:
                break
            # client-go randomises the first retry so recorders do not retry in lockstep.
            delay = self.retry_sleep * (random.random() if attempt == 1 else 1.0)
            await self._clock.sleep(delay)
        log.error("unable to write event %s (retry limit exceeded)", result.event["metadata"]["name"])

    async def _write(self, result: event_correlation.Correlation) -> bool:
        """True when done with the event (written, or refused for good)."""
        event = result.event
        ns, name = event["metadata"]["namespace"], event["metadata"]["name"]
        try:
            written = None
            if result.patch is not None:
                try:
                    written = await self.client.patch(EVENTS, name, result.patch, namespace=ns,
                                                      patch_type="strategic")
                except status.StatusError as e:
                    if e.code != 404:
                        raise
            if written is None:
                body = dict(event, metadata={k: v for k, v in event["metadata"].items()
                                             if k != "resourceVersion"})
                written = await self.client.create(EVENTS, body, ns)
        except status.StatusError as e:
            level = logging.DEBUG if e.reason == "AlreadyExists" else logging.WARNING
            log.log(level, "server rejected event %s/%s: %s", ns, name, e)
            return True
        except rest.ClientError as e:
            log.info("unable to write event %s/%s: %s (will retry)", ns, name, e)
            return False
        self.correlator.update_state(written)
        return True
