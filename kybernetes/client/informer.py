"""Informers: a local cache of one resource kept current by list+watch, with change handlers.

``Informer`` is client-go's reflector and shared informer in one loop:

- LIST first with resourceVersion "0" (servable from the watch cache), later
  relists with the last resourceVersion seen; a 410 (or "too large resource
  version") on a LIST falls back at once to a quorum list (resourceVersion "");
  quorum lists are paged (500 per page).
- WATCH from the list's resourceVersion with allowWatchBookmarks and a random
  5-10 minute timeoutSeconds; every event and bookmark advances the
  resourceVersion. A watch the server ends is re-opened from there. One that
  cannot be opened or breaks (server restarting) is re-opened from there after
  a back-off, without relisting. A 410 Expired (an ERROR event inside the 200
  stream, or the HTTP answer) relists.
- Between failed rounds the informer backs off 800 ms doubling to 30 s, jittered.
- A (re)list is diffed against the store: handlers get ``on_add`` for new
  objects, ``on_update(old, new)`` for changed ones (resourceVersion differs)
  and ``on_delete(last known)`` for vanished ones. client-go would also
  deliver unchanged objects as updates; use ``resync_period`` for that.

Handlers are plain functions called inline, in order, after the store has
changed; they should only turn objects into work-queue keys. Never mutate the
objects they receive or that the store holds: they are shared.

``SharedInformerFactory`` hands out one informer per (resource, namespace,
selectors), starts them, and waits for them to sync.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import backoff, indexer, rest
from kybernetes.client import clock as clocks

log = logging.getLogger(__name__)

MIN_WATCH_TIMEOUT = 300  # seconds; each watch asks for 1-2x this, as client-go's reflector
PAGE_SIZE = 500


@dataclass
class EventHandler:
    on_add: Callable[[dict], Any] | None = None
    on_update: Callable[[dict, dict], Any] | None = None
    on_delete: Callable[[dict], Any] | None = None


def _rv(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


def _expired(e: status.StatusError) -> bool:
    return e.code == 410


def _too_large_rv(e: status.StatusError) -> bool:
    causes = (e.status.get("details") or {}).get("causes") or []
    return e.code == 504 and any(c.get("reason") == "ResourceVersionTooLarge" for c in causes)


class Informer:
    def __init__(self, client: rest.Client, resource: registry.Resource, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, resync_period: float = 0.0,
                 clock: clocks.Clock | None = None,
                 indexers: dict[str, indexer.IndexFunc] | None = None):
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.store = indexer.Indexer(indexers)
        self.has_synced = asyncio.Event()
        self.name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        self._clock = clock or clocks.RealClock()
        self._backoff = backoff.Backoff(self._clock)
        self._handlers: list[EventHandler] = []
        self._last_rv = ""
        self._rv_unavailable = False

    @property
    def last_sync_resource_version(self) -> str:
        return self._last_rv

    def add_event_handler(self, on_add: Callable[[dict], Any] | None = None,
                          on_update: Callable[[dict, dict], Any] | None = None,
                          on_delete: Callable[[dict], Any] | None = None) -> EventHandler:
        """Register handlers; one added after the first sync is first told of every
        object already cached, as adds (as client-go's shared informer does)."""
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if self.has_synced.is_set() and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)
        return handler

    def add_indexers(self, indexers: dict[str, indexer.IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    async def run(self) -> None:
        """List and watch until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.resync_period > 0:
                tg.create_task(self._resync_loop())
            tg.create_task(self._reflect())

    # --- reflector ---

    async def _reflect(self) -> None:
        while True:
            try:
                await self._list_and_watch()
            except (status.StatusError, rest.ClientError) as e:
                log.warning("%s: list and watch failed: %s", self.name, e)
            except Exception:
                # A malformed answer must not end the informer: log it and start over.
                log.exception("%s: list and watch failed", self.name)
            await self._backoff.wait()

    async def _list_and_watch(self) -> None:
        await self._list()
        while True:
            started, events = self._clock.monotonic(), 0
            try:
                async for type_, obj in self.client.watch(
                        self.resource, self.namespace, resource_version=self._last_rv,
                        label_selector=self.label_selector, field_selector=self.field_selector,
                        timeout_seconds=int(MIN_WATCH_TIMEOUT * (random.random() + 1)),
                        allow_bookmarks=True):
                    events += 1
                    self._on_event(type_, obj)
            except status.StatusError as e:
                if _expired(e):
                    # Relist from the last RV: a LIST at an RV means "at least as fresh".
                    log.info("%s: watch closed with: %s; relisting", self.name, e.message)
                    return
                if e.code == 429:
                    await self._backoff.wait()
                    continue
                if _too_large_rv(e):
                    self._rv_unavailable = True
                log.warning("%s: watch ended with: %s", self.name, e)
                return
            except rest.ClientError as e:
                # Most likely the server is restarting: keep the cache and re-watch
                # from where we were once it answers again.
                log.info("%s: watch failed: %s; retrying", self.name, e)
                await self._backoff.wait()
                continue
            if events == 0 and self._clock.monotonic() - started < 1.0:
                log.warning("%s: very short watch with no events; relisting", self.name)
                return

    async def _list(self) -> None:
        rv = "" if self._rv_unavailable else (self._last_rv or "0")
        try:
            items, list_rv = await self._list_pages(rv)
        except status.StatusError as e:
            if e.code == 404:
                # The resource is not served (yet): as client-go, sync an empty list so
                # waiters are not blocked forever, then retry after the back-off.
                self._replace([], "")
                self.has_synced.set()
            if not (_expired(e) or _too_large_rv(e)):
                raise
            self._rv_unavailable = True
            items, list_rv = await self._list_pages("")
        self._rv_unavailable = False
        self._replace(items, list_rv)
        self._last_rv = list_rv
        self.has_synced.set()

    async def _list_pages(self, rv: str) -> tuple[list[dict], str]:
        items: list[dict] = []
        limit = PAGE_SIZE if rv in ("", "0") else None
        continue_: str | None = None
        while True:
            page = await self.client.list(
                self.resource, self.namespace, label_selector=self.label_selector,
                field_selector=self.field_selector, limit=limit, continue_=continue_,
                resource_version=None if continue_ else rv)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            continue_ = meta.get("continue")
            if not continue_:
                kind, api_version = self.resource.kind, self.resource.api_version
                for item in items:  # list items carry no TypeMeta; watch events do
                    item.setdefault("kind", kind)
                    item.setdefault("apiVersion", api_version)
                return items, meta.get("resourceVersion", "")

    # --- store and handlers ---

    def _replace(self, items: list[dict], rv: str) -> None:
        old = self.store.items()
        self.store.replace(items, rv)
        new = self.store.items()
        for key, obj in new.items():
            before = old.get(key)
            if before is None:
                self._notify_add(obj)
            elif _rv(before) != _rv(obj):
                self._notify_update(before, obj)
        for key, before in old.items():
            if key not in new:
                self._notify_delete(before)

    def _on_event(self, type_: str, obj: dict) -> None:
        if type_ in ("ADDED", "MODIFIED"):
            old = self.store.update(obj)
            if old is None:
                self._notify_add(obj)
            else:
                self._notify_update(old, obj)
        elif type_ == "DELETED":
            self.store.delete(obj)
            self._notify_delete(obj)
        elif type_ != "BOOKMARK":
            log.warning("%s: unknown watch event type %r", self.name, type_)
            return
        rv = _rv(obj)
        if rv:
            self._last_rv = rv
            self.store.resource_version = rv

    async def _resync_loop(self) -> None:
        await self.has_synced.wait()
        while True:
            await self._clock.sleep(self.resync_period)
            for obj in self.store.list():
                self._notify_update(obj, obj)

    def _notify_add(self, obj: dict) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: dict, new: dict) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: dict) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., Any], *args: dict) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: event handler %r failed", self.name, fn)


class SharedInformerFactory:
    """One informer per (resource, namespace, selectors); ``start`` runs those not yet running."""

    def __init__(self, client: rest.Client, *, resync_period: float = 0.0,
                 clock: clocks.Clock | None = None):
        self.client = client
        self.resync_period = resync_period
        self._clock = clock
        self._informers: dict[tuple, Informer] = {}
        self._tasks: dict[tuple, asyncio.Task] = {}

    def informer(self, resource: registry.Resource, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None) -> Informer:
        key = (resource.group, resource.version, resource.plural, namespace or "",
               label_selector or "", field_selector or "")
        if key not in self._informers:
            self._informers[key] = Informer(
                self.client, resource, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_period=self.resync_period, clock=self._clock)
        return self._informers[key]

    def start(self) -> None:
        for key, inf in self._informers.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(inf.run(), name=f"informer:{inf.name}")

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """True once every informer handed out has listed once; False on timeout."""
        waits = [inf.has_synced.wait() for inf in self._informers.values()]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waits)
        except TimeoutError:
            return False
        return True

    async def shutdown(self) -> None:
        """Cancel every running informer and wait for them to end."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def __aenter__(self) -> SharedInformerFactory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
