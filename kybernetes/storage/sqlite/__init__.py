"""The SQLite backend (``sqlite:///path/state.db``), the embedded default."""

from kybernetes.storage.sqlite.backend import SqliteStore

__all__ = ["SqliteStore"]
