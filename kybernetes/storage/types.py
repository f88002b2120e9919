"""Records and the interface of the datastore: etcd's data model, no I/O.

Everything above storage (only the API server, per DESIGN.md) sees these
records and the ``Store`` protocol, never a backend's own types. Imports
nothing of the project's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol

PUT: Literal["PUT"] = "PUT"
DELETE: Literal["DELETE"] = "DELETE"


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision, as etcd's mvccpb.KeyValue."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class Event:
    """A change at one revision. For DELETE, ``kv`` carries the key with the
    deletion's revision and an empty value; ``prev_kv`` the value it had."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def created(self) -> bool:
        return self.type == PUT and self.kv.create_revision == self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a prefix listing read at ``revision``.

    ``continue_token`` is set when more keys follow; it pins the revision of
    the first page so that every page is read at the same revision.
    ``remaining`` counts keys after this page at that revision.
    """

    kvs: list[KeyValue]
    revision: int
    continue_token: str | None = None
    remaining: int = 0


class Watch(Protocol):
    """A stream of event batches in revision order.

    Each batch holds the events of one or more whole revisions, never part of
    one. Iteration raises ``Compacted`` when the start revision is gone and
    ``WatchOverflow`` when the consumer fell too far behind (after yielding
    every event that was buffered before the cut, so nothing is skipped).
    """

    def __aiter__(self) -> AsyncIterator[list[Event]]: ...

    async def close(self) -> None: ...


class Store(Protocol):
    """etcd's semantics: one global revision counter, CAS, watch, compaction."""

    name: str  # the datastore as the user named it, for error messages

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def get(self, key: str, revision: int = 0) -> KeyValue | None: ...

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> ListResult: ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> KeyValue: ...

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue: ...

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue: ...

    def watch(self, prefix: str, from_revision: int = 0) -> Watch: ...

    async def compact(self, revision: int) -> None: ...

    async def compact_revision(self) -> int: ...
