"""Group commit: many writers' operations applied in one transaction, one fsync.

Runs in the backend's single writer thread. Each operation is checked in
order against the latest row of its key (as left by earlier operations of
the same batch), so concurrent writers racing on one key see exactly one
winner; every successful operation takes the next revision. One commit, so
one fsync, covers the whole batch; only after it returns are the callers
answered and the events published.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from kybernetes.storage import errors
from kybernetes.storage.sqlite import schema
from kybernetes.storage.types import DELETE, PUT, Event, KeyValue

CREATE, UPDATE, REMOVE = "create", "update", "delete"


@dataclass(slots=True)
class WriteOp:
    kind: str
    key: str
    value: bytes = b""
    expected: int = 0
    result: KeyValue | errors.StorageError | None = field(default=None)


@dataclass(slots=True)
class _Latest:
    rev: int
    deleted: bool
    create_rev: int
    version: int
    value: bytes

    def kv(self, key: str) -> KeyValue:
        return KeyValue(key, self.value, self.create_rev, self.rev, self.version)


def _latest(conn: sqlite3.Connection, key: str) -> _Latest | None:
    row = conn.execute(
        "SELECT rev, deleted, create_rev, version, value FROM log "
        "WHERE key = ? ORDER BY rev DESC LIMIT 1", (key,)).fetchone()
    if row is None:
        return None
    return _Latest(row[0], bool(row[1]), row[2], row[3], bytes(row[4]))


def apply_batch(conn: sqlite3.Connection, ops: list[WriteOp], revision: int) -> tuple[int, list[Event]]:
    """Apply ``ops`` after ``revision``; set each op's result; return the new
    revision and the events in order. Raises sqlite3.Error with the whole
    batch rolled back (no op took effect)."""
    latest: dict[str, _Latest | None] = {}
    rows: list[tuple] = []
    events: list[Event] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            cur = latest[op.key] if op.key in latest else _latest(conn, op.key)
            live = cur is not None and not cur.deleted
            if op.kind == CREATE:
                if live:
                    op.result = errors.KeyExists(op.key, cur.kv(op.key))
                    continue
                revision += 1
                new = _Latest(revision, False, revision, 1, op.value)
                rows.append((revision, op.key, 0, revision, 0, 1, op.value))
                events.append(Event(PUT, new.kv(op.key), None))
            else:
                if not live:
                    op.result = errors.KeyNotFound(op.key)
                    continue
                if op.expected and op.expected != cur.rev:
                    op.result = errors.Conflict(op.key, op.expected, cur.kv(op.key))
                    continue
                revision += 1
                prev = cur.kv(op.key)
                if op.kind == UPDATE:
                    new = _Latest(revision, False, cur.create_rev, cur.version + 1, op.value)
                    rows.append((revision, op.key, 0, cur.create_rev, cur.rev, new.version, op.value))
                    events.append(Event(PUT, new.kv(op.key), prev))
                else:
                    new = _Latest(revision, True, cur.create_rev, 0, b"")
                    rows.append((revision, op.key, 1, cur.create_rev, cur.rev, 0, b""))
                    events.append(Event(DELETE, KeyValue(op.key, b"", 0, revision, 0), prev))
                    op.result = prev
            latest[op.key] = new
            if op.result is None:
                op.result = new.kv(op.key)
        if rows:
            conn.executemany(f"INSERT INTO log ({schema.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        for op in ops:
            op.result = None
        raise
    return revision, events
