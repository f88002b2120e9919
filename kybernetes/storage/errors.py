"""Named storage errors, as kine's sentinel errors (ErrKeyExists, ErrCompacted...).

The API server maps them to HTTP statuses in one place. A backend's own
exceptions (sqlite3, aiohttp) never leave the backend: they become a
``DatastoreError`` that names the datastore.
"""

from __future__ import annotations

from kybernetes.storage.types import KeyValue


class StorageError(Exception):
    """Base of every error the storage package raises."""


class KeyExists(StorageError):
    """create() of a key that exists."""

    def __init__(self, key: str, current: KeyValue | None = None):
        super().__init__(f"key exists: {key}")
        self.key = key
        self.current = current


class KeyNotFound(StorageError):
    """update() or delete() of a key that does not exist."""

    def __init__(self, key: str):
        super().__init__(f"key not found: {key}")
        self.key = key


class Conflict(StorageError):
    """The key's mod_revision is not the expected one; ``current`` is what is stored."""

    def __init__(self, key: str, expected: int, current: KeyValue):
        super().__init__(
            f"conflict on {key}: expected revision {expected}, found {current.mod_revision}"
        )
        self.key = key
        self.expected = expected
        self.current = current


class Compacted(StorageError):
    """The requested revision is older than the compaction revision."""

    def __init__(self, revision: int, compact_revision: int, current_revision: int = 0):
        super().__init__(
            f"required revision {revision} has been compacted (compacted at {compact_revision})"
        )
        self.revision = revision
        self.compact_revision = compact_revision
        self.current_revision = current_revision


class FutureRevision(StorageError):
    """The requested revision is newer than the current revision."""

    def __init__(self, revision: int, current_revision: int):
        super().__init__(
            f"required revision {revision} is a future revision (current {current_revision})"
        )
        self.revision = revision
        self.current_revision = current_revision


class WatchOverflow(StorageError):
    """The watcher fell too far behind and was cut off; it must re-list."""


class InvalidContinue(StorageError):
    """A continue token that this store did not make, or for another prefix."""


class DatastoreError(StorageError):
    """The datastore itself failed: unreachable, locked, corrupt, out of space.

    The message always names the datastore (``datastore sqlite:///...: ...``).
    """

    def __init__(self, datastore: str, problem: str):
        super().__init__(f"datastore {datastore}: {problem}")
        self.datastore = datastore
        self.problem = problem
