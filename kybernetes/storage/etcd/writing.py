"""create, update and delete as etcd transactions, safe to retry on failover.

Each write is one compare-and-swap txn, as kube-apiserver's etcd3 store does
them: create compares ``create_revision == 0``; update and delete compare
``mod_revision`` with the revision the caller expects. The failure branch
reads the key, so a refused write answers with what is stored in the same
round trip (KeyExists / Conflict / KeyNotFound carry it).

An unconditional update or delete (``expected_revision=0``) reads the key
first and then runs the same CAS, again after a conflict; so *every* write
sent to etcd is a CAS on a known prior state. That is what makes failover
safe. When a member takes a write and dies (or times out) before answering,
the write may or may not be applied, and may even still be in raft, to be
committed later by the next leader. clientv3 simply gives up there; we
instead ask another member (a linearizable read) whether the key now shows
our write:

- create landed if the key exists, holds our value and was created after
  the last revision we had seen before sending;
- update landed if the key holds our value with a mod_revision above the
  expected one;
- delete landed if the key is gone or was re-created after the expected one.

If it shows, we answer success. If not, we send the same CAS again: should
the first copy still commit later, exactly one of the two passes the
compare, and the loser's failure branch is checked against the same test.
The one wrong answer left: our write landed and another client overwrote
the key (with a different value) before we looked; we then report the
conflict that other client caused. An identical value written by another
client in that window is taken as ours, which leaves the key as the caller
wanted it.
"""

from __future__ import annotations

from typing import Callable, Protocol

from kybernetes.storage import errors
from kybernetes.storage.etcd import codec
from kybernetes.storage.etcd.gateway import OutcomeUnknown
from kybernetes.storage.types import KeyValue

UNKNOWN_OUTCOMES = 3  # unanswered attempts of one write before giving up


class Writer(Protocol):
    """What the writes need of the backend."""

    name: str
    seen_revision: int

    async def txn(self, body: codec.Json) -> codec.Json: ...  # may raise OutcomeUnknown

    async def get(self, key: str, revision: int = 0) -> KeyValue | None: ...


class _Landed(Exception):
    """Internal: the write's outcome was unknown and the key shows it landed."""

    def __init__(self, kv: KeyValue | None):
        self.kv = kv


async def _apply(store: Writer, key: str, body: codec.Json,
                 landed: Callable[[KeyValue | None], bool]) -> codec.Json:
    """Run one CAS txn, resolving unknown outcomes as the docstring says.
    Returns the txn's answer or raises ``_Landed``."""
    unsure: OutcomeUnknown | None = None
    for _ in range(UNKNOWN_OUTCOMES):
        try:
            response = await store.txn(body)
        except OutcomeUnknown as e:
            unsure = e
            current = await store.get(key)
            if landed(current):
                raise _Landed(current) from None
            continue
        if unsure is not None and not response.get("succeeded"):
            current = codec.txn_kv(response)
            if landed(current):
                raise _Landed(current)
        return response
    raise errors.DatastoreError(
        store.name, f"write of {key} may or may not have been applied ({unsure})")


async def create(store: Writer, key: str, value: bytes) -> KeyValue:
    before = store.seen_revision
    body = codec.txn(codec.compare_absent(key), codec.put(key, value), codec.read(key))
    try:
        response = await _apply(store, key, body, lambda kv: (
            kv is not None and kv.value == value and kv.create_revision > before))
    except _Landed as done:
        assert done.kv is not None
        return done.kv
    if not response.get("succeeded"):
        raise errors.KeyExists(key, codec.txn_kv(response))
    revision = codec.revision(response)
    return KeyValue(key, value, revision, revision, 1)


async def update(store: Writer, key: str, value: bytes, expected_revision: int) -> KeyValue:
    while True:
        expected = expected_revision or await _mod_revision(store, key)
        body = codec.txn(codec.compare_mod(key, expected), codec.put(key, value), codec.read(key))
        try:
            response = await _apply(store, key, body, lambda kv: (
                kv is not None and kv.value == value and kv.mod_revision > expected))
        except _Landed as done:
            assert done.kv is not None
            return done.kv
        if response.get("succeeded"):
            prev = codec.txn_kv(response)  # the put's prev_kv
            revision = codec.revision(response)
            if prev is None:  # cannot be: the compare saw the key
                return KeyValue(key, value, revision, revision, 1)
            return KeyValue(key, value, prev.create_revision, revision, prev.version + 1)
        current = codec.txn_kv(response)
        if current is None:
            raise errors.KeyNotFound(key)
        if expected_revision:
            raise errors.Conflict(key, expected_revision, current)
        # Unconditional: someone wrote between our read and our CAS; again.


async def delete(store: Writer, key: str, expected_revision: int = 0) -> KeyValue:
    while True:
        prev = None
        expected = expected_revision
        if not expected:
            prev = await store.get(key)
            if prev is None:
                raise errors.KeyNotFound(key)
            expected = prev.mod_revision
        body = codec.txn(codec.compare_mod(key, expected), codec.remove(key), codec.read(key))
        try:
            response = await _apply(store, key, body, lambda kv: (
                kv is None or kv.create_revision > expected))
        except _Landed as done:
            # The key as it was at `expected` is what we deleted.
            if prev is None:
                try:
                    prev = await store.get(key, expected)
                except errors.Compacted as e:
                    raise errors.DatastoreError(
                        store.name, f"delete of {key} may or may not have been applied "
                        f"(its revision {expected} is compacted)") from e
            if prev is not None and prev.mod_revision == expected:
                return prev
            # It never was at `expected`: the CAS cannot have passed.
            if done.kv is None:
                raise errors.KeyNotFound(key) from None
            raise errors.Conflict(key, expected, done.kv) from None
        if response.get("succeeded"):
            deleted = codec.txn_kv(response)  # prev_kvs of the delete
            if deleted is None:  # cannot be: the compare saw the key
                raise errors.KeyNotFound(key)
            return deleted
        current = codec.txn_kv(response)
        if current is None:
            raise errors.KeyNotFound(key)
        if expected_revision:
            raise errors.Conflict(key, expected_revision, current)


async def _mod_revision(store: Writer, key: str) -> int:
    current = await store.get(key)
    if current is None:
        raise errors.KeyNotFound(key)
    return current.mod_revision
