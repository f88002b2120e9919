"""The informer's local cache: client-go's ThreadSafeStore behind its Indexer interface.

Objects are kept by key (``namespace/name``, or ``name`` for cluster-scoped
objects, as MetaNamespaceKeyFunc) and indexed by named index functions that
map an object to the values it is filed under; the ``namespace`` index is
always there. One event loop owns the store, so no locks are needed: every
method runs without awaiting.

Never mutate objects from the store. They are the very dicts the informer
received and every reader shares them; nothing is copied on the way in or
out. Copy (``copy.deepcopy``) before changing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

IndexFunc = Callable[[dict[str, Any]], list[str]]

NAMESPACE_INDEX = "namespace"


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else meta["name"]


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` from a key; namespace is ``""`` for cluster-scoped keys."""
    parts = key.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {key!r}")


def namespace_index(obj: Mapping[str, Any]) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace", "")]


class Indexer:
    """Objects by key, plus ``index name -> value -> keys``."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None):
        self._items: dict[str, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self.resource_version = ""
        if indexers:
            self.add_indexers(indexers)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add named index functions; objects already stored are indexed at once."""
        clash = set(indexers) & set(self._indexers)
        if clash:
            raise ValueError(f"indexer conflict: {sorted(clash)}")
        for name, fn in indexers.items():
            self._indexers[name] = fn
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    # --- Store ---

    def add(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``obj`` under its key; returns the object it replaced, if any."""
        key = key_of(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)
        return old

    update = add

    def delete(self, obj_or_key: Mapping[str, Any] | str) -> dict[str, Any] | None:
        """Remove an object (given itself or its key); returns what was stored."""
        key = obj_or_key if isinstance(obj_or_key, str) else key_of(obj_or_key)
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)
        return old

    def get(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def get_by(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[dict[str, Any]]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> dict[str, dict[str, Any]]:
        """A new dict of key -> object (the objects themselves are shared)."""
        return dict(self._items)

    def replace(self, objects: Iterable[dict[str, Any]], resource_version: str = "") -> None:
        """Make the store hold exactly ``objects`` (a relist), rebuilding every index."""
        self._items = {key_of(obj): obj for obj in objects}
        self.resource_version = resource_version
        for name, fn in self._indexers.items():
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # --- Indexer ---

    def by_index(self, index_name: str, value: str) -> list[dict[str, Any]]:
        """Objects filed under ``value`` in the named index."""
        items = self._items
        return [items[key] for key in self._index(index_name).get(value, ())]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        return list(self._index(index_name).get(value, ()))

    def index_values(self, index_name: str) -> list[str]:
        """Every value the named index currently files objects under."""
        return list(self._index(index_name))

    def _index(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"index with name {index_name} does not exist") from None

    def _reindex(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for name, fn in self._indexers.items():
            old_values = fn(old) if old is not None else []
            new_values = fn(new) if new is not None else []
            if old_values == new_values:
                continue
            index = self._indices[name]
            for value in old_values:
                if value in new_values:
                    continue
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in new_values:
                index.setdefault(value, set()).add(key)
