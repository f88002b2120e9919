"""Storage of one resource (k8s genericregistry.Store): keys, reads, CAS writes.

It turns a resource's objects into datastore keys (``/registry/pods/ns/x``)
and JSON values (stored without ``resourceVersion``, which is the key's
revision), chooses between the watch cache and a quorum read by the
request's resourceVersion semantics, and maps storage errors to the
``Status`` errors clients expect. It knows nothing of HTTP, admission or
validation: the handlers pass it finished objects and update functions.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import orjson

from kybernetes.api import registry, status
from kybernetes.apiserver import paging, watchcache
from kybernetes.storage import errors as storage_errors
from kybernetes.storage.types import KeyValue, Store

UPDATE_RETRIES = 20

TOO_OLD_LIST = "The resourceVersion for the provided list is too old."


def encode(obj: dict) -> bytes:
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    return orjson.dumps(obj)


def with_revision(obj: dict, revision: int) -> dict:
    out = dict(obj)
    out["metadata"] = {**obj.get("metadata", {}), "resourceVersion": str(revision)}
    return out


def parse_rv(value: str | None) -> int | None:
    """None for unset; the integer otherwise; 400 for garbage."""
    if value is None or value == "":
        return None
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise status.bad_request(f'invalid resource version "{value}"') from None


UpdateFn = Callable[[dict | None], Awaitable[dict | None]]


class ResourceStore:
    def __init__(self, resource: registry.Resource, store: Store, cache: watchcache.WatchCache):
        self.resource = resource
        self.store = store
        self.cache = cache
        self.prefix = resource.key_prefix

    # -- keys ------------------------------------------------------------------

    def key(self, namespace: str, name: str) -> str:
        if self.resource.namespaced:
            return f"{self.prefix}{namespace}/{name}"
        return self.prefix + name

    def scope_prefix(self, namespace: str) -> str:
        if self.resource.namespaced and namespace:
            return f"{self.prefix}{namespace}/"
        return self.prefix

    # -- errors -------------------------------------------------------------------

    def not_found(self, name: str) -> status.StatusError:
        return status.not_found(self.resource.plural, self.resource.group, name)

    def _storage_error(self, e: storage_errors.StorageError, name: str = "") -> status.StatusError:
        r = self.resource
        if isinstance(e, storage_errors.KeyExists):
            return status.already_exists(r.plural, r.group, name)
        if isinstance(e, storage_errors.KeyNotFound):
            return self.not_found(name)
        if isinstance(e, storage_errors.Conflict):
            return status.modified_conflict(r.plural, r.group, name)
        if isinstance(e, storage_errors.Compacted):
            return status.expired(TOO_OLD_LIST)
        if isinstance(e, storage_errors.FutureRevision):
            return status.too_large_resource_version(e.revision, e.current_revision)
        if isinstance(e, storage_errors.InvalidContinue):
            return status.bad_request(str(e))
        if isinstance(e, storage_errors.DatastoreError):
            return status.internal(str(e))
        return status.internal(str(e))

    # -- reads ---------------------------------------------------------------------

    async def read(self, namespace: str, name: str) -> tuple[dict, KeyValue]:
        """A quorum read: the object and its stored key-value."""
        try:
            kv = await self.store.get(self.key(namespace, name))
        except storage_errors.StorageError as e:
            raise self._storage_error(e, name) from e
        if kv is None:
            raise self.not_found(name)
        return watchcache.decode(kv), kv

    async def get(self, namespace: str, name: str, resource_version: str | None = None) -> dict:
        rv = parse_rv(resource_version)
        if rv is not None and await self._cache_usable(rv):
            obj = self.cache.get(self.key(namespace, name))
            if obj is None:
                raise self.not_found(name)
            return obj
        if rv is None and await self._consistent_in_cache():
            obj = self.cache.get(self.key(namespace, name))
            if obj is None:
                raise self.not_found(name)
            return obj
        if rv:
            current = await self.store.current_revision()
            if rv > current:
                raise status.too_large_resource_version(rv, current)
        obj, _ = await self.read(namespace, name)
        return obj

    async def _consistent_in_cache(self) -> bool:
        """Whether the cache holds every write committed so far, so that a
        consistent read may be served from it (kube-apiserver 1.31+'s
        ConsistentListFromCache). The SQLite store's progress makes this
        immediate; a backend without progress notifications falls back to
        a quorum read after a short wait."""
        if not self.cache.ready.is_set():
            return False
        current = await self.store.current_revision()
        if self.cache.fresh_revision() >= current:
            return True
        return await self.cache.wait_fresh(current, timeout=0.05)

    async def _cache_usable(self, rv: int) -> bool:
        if not self.cache.ready.is_set():
            return False
        if rv == 0:
            return True
        return await self.cache.wait_fresh(rv, timeout=0.5)

    async def list(self, namespace: str, *, resource_version: str | None = None,
                   match: str = "", limit: int = 0, continue_: str = "",
                   predicate: Callable[[dict], bool] | None = None) -> tuple[list[dict], int, str, int | None]:
        """(items, revision, continue token, remainingItemCount or None).

        The parameters are assumed checked (``listoptions.validate``)."""
        rv = parse_rv(resource_version)
        prefix = self.scope_prefix(namespace)
        if continue_:
            if rv:
                raise status.bad_request(
                    "specifying resource version is not allowed when using continue")
            token = await self._resolve_continue(continue_)
            return await self._list_storage(prefix, 0, limit, token, predicate)
        # kube-apiserver's "legacy exact match": a resourceVersion with a limit
        # reads exactly at that revision, as Exact does.
        exact = match == "Exact" or (match == "" and rv and limit > 0)
        from_cache = (rv is not None and not exact and await self._cache_usable(rv)) or \
            (rv is None and limit == 0 and await self._consistent_in_cache())
        if from_cache:
            items, revision = self.cache.list(prefix)
            if predicate is not None:
                items = [o for o in items if predicate(o)]
            return items, revision, "", None
        if rv and not exact:
            current = await self.store.current_revision()
            if rv > current:
                raise status.too_large_resource_version(rv, current)
            rv = 0
        return await self._list_storage(prefix, rv or 0, limit, "", predicate)

    async def _resolve_continue(self, token: str) -> str:
        """A token whose revision is -1 (the one a 410 for a compacted page
        hands out) continues at the current revision, as kube-apiserver's."""
        data = paging.peek(token)
        if data is not None and data.get("rv") == -1:
            return paging.with_revision(data, await self.store.current_revision())
        return token

    async def _list_storage(self, prefix: str, revision: int, limit: int, token: str,
                            predicate: Callable[[dict], bool] | None):
        items: list[dict] = []
        remaining: int | None = None
        paged = bool(token)
        try:
            while True:
                want = limit - len(items) if limit > 0 else 0
                result = await self.store.list(prefix, revision=revision, limit=want,
                                               continue_token=token or None)
                revision = result.revision
                for kv in result.kvs:
                    obj = watchcache.decode(kv)
                    if predicate is None or predicate(obj):
                        items.append(obj)
                token = result.continue_token or ""
                remaining = result.remaining if predicate is None else None
                if not token or (limit > 0 and len(items) >= limit):
                    break
        except storage_errors.Compacted as e:
            if paged:
                raise paging.expired_continue(token) from e
            raise status.expired(TOO_OLD_LIST) from e
        except storage_errors.InvalidContinue as e:
            raise status.bad_request(f"invalid continue token: {e}") from e
        except storage_errors.StorageError as e:
            raise self._storage_error(e) from e
        if not token:
            remaining = None
        return items, revision, token, remaining

    # -- writes ---------------------------------------------------------------------

    async def create(self, obj: dict, *, dry_run: bool = False) -> dict:
        meta = obj["metadata"]
        key = self.key(meta.get("namespace", ""), meta["name"])
        if dry_run:
            if await self.store.get(key) is not None:
                raise status.already_exists(self.resource.plural, self.resource.group, meta["name"])
            return obj
        try:
            kv = await self.store.create(key, encode(obj))
        except storage_errors.StorageError as e:
            raise self._storage_error(e, meta["name"]) from e
        return with_revision(obj, kv.mod_revision)

    async def guaranteed_update(self, namespace: str, name: str, update: UpdateFn, *,
                                dry_run: bool = False, allow_create: bool = False) -> tuple[dict, bool]:
        """Read, compute, compare-and-swap, retrying on races (k8s GuaranteedUpdate).

        ``update`` gets the current object (None when missing and
        ``allow_create``) and returns the new one, the same object for a
        no-op, or None to delete it (finalizers gone after deletion began).
        Returns (object, created)."""
        key = self.key(namespace, name)
        for _ in range(UPDATE_RETRIES):
            try:
                kv = await self.store.get(key)
            except storage_errors.StorageError as e:
                raise self._storage_error(e, name) from e
            if kv is None and not allow_create:
                raise self.not_found(name)
            current = watchcache.decode(kv) if kv is not None else None
            new = await update(current)
            if current is not None and new is current:
                return current, False
            if dry_run:
                return (new if new is not None else current), kv is None
            try:
                if kv is None:
                    assert new is not None
                    created = await self.store.create(key, encode(new))
                    return with_revision(new, created.mod_revision), True
                if new is None:
                    deleted = await self.store.delete(key, kv.mod_revision)
                    return with_revision(current, deleted.mod_revision), False
                updated = await self.store.update(key, encode(new), kv.mod_revision)
                return with_revision(new, updated.mod_revision), False
            except (storage_errors.Conflict, storage_errors.KeyExists, storage_errors.KeyNotFound):
                await asyncio.sleep(0)
                continue
            except storage_errors.StorageError as e:
                raise self._storage_error(e, name) from e
        raise status.modified_conflict(self.resource.plural, self.resource.group, name)

    async def remove(self, namespace: str, name: str, expected: int) -> int:
        """Delete the stored key at revision ``expected``; the deletion's revision."""
        try:
            kv = await self.store.delete(self.key(namespace, name), expected)
        except storage_errors.StorageError as e:
            raise self._storage_error(e, name) from e
        return kv.mod_revision
