"""The datastore: an etcd-shaped revisioned key-value store.

Only the API server imports this package (DESIGN.md). ``open_store(url)``
picks the backend by URL: ``sqlite:///path/state.db`` for the embedded
SQLite file, ``http(s)://host:2379[,...]`` for a real etcd v3 cluster.
"""

from __future__ import annotations

from kybernetes.storage.errors import DatastoreError
from kybernetes.storage.types import Store


def open_store(url: str, **options) -> Store:
    """A backend for ``url``; call ``await store.start()`` before use."""
    if url.startswith("sqlite://"):
        from kybernetes.storage.sqlite import SqliteStore

        path = url[len("sqlite://"):]
        if not path:
            raise DatastoreError(url, "no database path given (use sqlite:///path/state.db)")
        return SqliteStore(path, name=url, **options)
    if url.startswith(("http://", "https://")):
        from kybernetes.storage.etcd import EtcdStore

        return EtcdStore(url, name=url, **options)
    raise DatastoreError(url, "unsupported datastore endpoint (use sqlite:///path or http(s)://host:2379)")
