"""WATCH over HTTP: newline-delimited JSON events on a kept-open 200 stream.

Served from the resource's watch cache: the current state as ADDED events
when the client asked for it (resourceVersion unset or "0", or
sendInitialEvents), then every change after the start revision. A start
revision older than the cache holds is answered as kube-apiserver answers
it: HTTP 200, then one ERROR event carrying a 410 Expired Status. Bookmarks
go out when the client allows them; the stream ends after timeoutSeconds.
"""

from __future__ import annotations

import asyncio
import random

import orjson
from aiohttp import web

from kybernetes.api import printing, status
from kybernetes.apiserver import listoptions, selecting, watchcache
from kybernetes.apiserver.calls import Call, add_warnings, from_storage, now
from kybernetes.apiserver.resource_store import parse_rv

BOOKMARK_INTERVAL = 60.0
PRE_TIMEOUT_BOOKMARK = 2.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
MAX_FRAMES_PER_WRITE = 1000


def _frame(event_type: str, obj_json: bytes) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + obj_json + b"}\n"


class _Renderer:
    """Turns cache events into the bytes this client asked for."""

    def __init__(self, call: Call):
        self.call = call
        self.table = call.rendering.as_ == "Table"
        self.partial = call.rendering.as_ in ("PartialObjectMetadata", "PartialObjectMetadataList")
        self.convert = call.resource.stored_as is not None
        self.first_table = True

    def render(self, event_type: str, obj: dict, event: watchcache.CacheEvent | None) -> bytes:
        call = self.call
        if self.convert:
            obj = from_storage(call.resource, obj)
            event = None
        if self.table:
            table = printing.table(call.resource.group, call.resource.kind, [obj], now(),
                                   include_object=call.param("includeObject", "Metadata"),
                                   no_headers=not self.first_table,
                                   api_version=f"meta.k8s.io/{call.rendering.version}")
            table["metadata"] = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
            self.first_table = False
            return _frame(event_type, orjson.dumps(table))
        if self.partial:
            body = {"kind": "PartialObjectMetadata",
                    "apiVersion": f"meta.k8s.io/{call.rendering.version}",
                    "metadata": obj.get("metadata", {})}
            return _frame(event_type, orjson.dumps(body))
        if event is not None and event.obj is obj:
            return _frame(event_type, event.json())
        return _frame(event_type, orjson.dumps(obj))

    def bookmark(self, revision: int, annotations: dict | None = None) -> bytes:
        r = self.call.resource
        meta: dict = {"resourceVersion": str(revision)}
        if annotations:
            meta["annotations"] = annotations
        if self.table or self.partial:
            kind, api_version = ("Table" if self.table else "PartialObjectMetadata"), \
                f"meta.k8s.io/{self.call.rendering.version}"
        else:
            kind, api_version = r.kind, r.api_version
        return _frame("BOOKMARK", orjson.dumps({"kind": kind, "apiVersion": api_version,
                                                "metadata": meta}))


async def watch(call: Call) -> web.StreamResponse:
    r = call.resource
    cache = call.store.cache
    listoptions.validate(call.query, watch=True)
    predicate, _name = selecting.predicate(r, call.param("labelSelector"), call.param("fieldSelector"))
    if call.info.name:  # /watch/namespaces/ns/pods/name (deprecated form)
        name = call.info.name
        inner = predicate

        def predicate(obj: dict, inner=inner) -> bool:
            return obj.get("metadata", {}).get("name") == name and (inner is None or inner(obj))

    rv = parse_rv(call.request.query.get("resourceVersion"))
    send_initial = call.request.query.get("sendInitialEvents")
    bookmarks = call.flag("allowWatchBookmarks")
    if send_initial is not None:
        initial = send_initial.lower() == "true"
    else:
        initial = rv is None or rv == 0
    timeout = call.int_param("timeoutSeconds", 0)
    if timeout <= 0:
        timeout = int(1800 * (1 + random.random()))

    if not await _wait_ready(cache):
        raise status.service_unavailable("the watch cache is not ready yet")
    if rv is None and initial:
        # "Most recent": the initial state must include every committed write.
        current = await call.store.store.current_revision()
        await cache.wait_fresh(current, timeout=3.0)
    # A watch from a revision needs no freshness wait: the cache delivers
    # every later event in order, and skips those the client already has.

    response = web.StreamResponse(status=200, headers={
        "Content-Type": "application/json" if call.rendering.format == "json" else "application/json",
        "Cache-Control": "no-cache, private", "Transfer-Encoding": "chunked"})
    add_warnings(response, call.warnings)
    await response.prepare(call.request)
    renderer = _Renderer(call)

    prefix = call.store.scope_prefix(call.info.namespace)
    try:
        watcher = cache.watch(prefix, rv or 0, predicate, initial=initial)
    except status.StatusError as e:
        await response.write(_frame("ERROR", orjson.dumps(e.status)))
        return response

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = next_bookmark_time(loop.time(), deadline) if bookmarks else None
    pending_initial_end = initial and bookmarks and send_initial is not None
    initial_count = len(watcher.queue) if initial else 0
    try:
        while True:
            if initial_count == 0 and pending_initial_end:
                await response.write(renderer.bookmark(
                    max(watcher.after, cache.revision), {INITIAL_EVENTS_END: "true"}))
                pending_initial_end = False
            now_ = loop.time()
            remaining = deadline - now_
            if remaining <= 0:
                break
            wait = remaining if next_bookmark is None else max(0.0, min(remaining, next_bookmark - now_))
            item = await watcher.next(wait)
            if item is None:
                if watcher.closed:
                    break
                if next_bookmark is not None and loop.time() >= next_bookmark and not watcher.queue:
                    await response.write(renderer.bookmark(max(watcher.after, cache.fresh_revision())))
                    next_bookmark = next_bookmark_time(loop.time(), deadline)
                continue
            # Everything already queued goes out in one write: one TLS
            # record and one send() for a burst, not one per event (stopping
            # at the end of the initial events, where a bookmark may follow).
            frames = [renderer.render(*item)]
            limit = initial_count if initial_count else MAX_FRAMES_PER_WRITE
            while len(frames) < limit and watcher.queue:
                frames.append(renderer.render(*watcher.queue.popleft()))
            if initial_count:
                initial_count -= len(frames)
            await response.write(b"".join(frames))
    except ConnectionResetError:
        pass  # the client went away: the watch simply ends
    finally:
        watcher.close()
    return response


def next_bookmark_time(now: float, deadline: float) -> float | None:
    """When to send the next BOOKMARK (k8s cacheWatcher.nextBookmarkTime):
    about every minute, and once 2 s before the watch times out so that the
    client resumes from as recent a revision as possible; None once that
    moment has passed."""
    heartbeat = min(now + BOOKMARK_INTERVAL, deadline - PRE_TIMEOUT_BOOKMARK)
    return heartbeat if heartbeat > now else None


async def _wait_ready(cache: watchcache.WatchCache, timeout: float = 10.0) -> bool:
    if cache.ready.is_set():
        return True
    try:
        await asyncio.wait_for(cache.ready.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False
