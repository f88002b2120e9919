"""Reads from the log table: a key or a prefix as of a revision, and history.

Pure functions over a connection, run in the backend's reader threads. The
latest row of a key at revision R is ``max(rev) WHERE rev <= R``; SQLite
returns the other (bare) columns from that same row, so one indexed query
gives the state of a whole prefix at any revision still held.
"""

from __future__ import annotations

import sqlite3

from kybernetes.storage.sqlite import schema
from kybernetes.storage.types import DELETE, PUT, Event, KeyValue

_AT = ("SELECT max(rev), key, deleted, create_rev, prev_rev, version, value FROM log "
       "WHERE key >= ? AND key < ? AND rev <= ? GROUP BY key HAVING deleted = 0")


def get(conn: sqlite3.Connection, key: str, revision: int) -> KeyValue | None:
    row = conn.execute(
        f"SELECT {schema.COLUMNS} FROM log WHERE key = ? AND rev <= ? ORDER BY rev DESC LIMIT 1",
        (key, revision)).fetchone()
    if row is None or row[2]:
        return None
    return schema.to_kv(row)


def list_range(conn: sqlite3.Connection, start: str, end: str, revision: int,
               limit: int) -> list[KeyValue]:
    """Live keys in [start, end) as of ``revision``, in key order."""
    sql = _AT + " ORDER BY key"
    params: tuple = (start, end, revision)
    if limit > 0:
        sql += " LIMIT ?"
        params += (limit,)
    return [schema.to_kv(row) for row in conn.execute(sql, params)]


def count_range(conn: sqlite3.Connection, start: str, end: str, revision: int) -> int:
    return conn.execute(f"SELECT count(*) FROM ({_AT})", (start, end, revision)).fetchone()[0]


def history(conn: sqlite3.Connection, start: str, end: str, after: int, upto: int,
            limit: int) -> tuple[list[Event], int]:
    """Events for keys in [start, end) with after < rev <= upto, oldest first,
    at most ``limit`` rows scanned; returns them and the last revision scanned.
    Read in one transaction so that the compaction revision checked by the
    caller and the rows belong to the same snapshot."""
    rows = conn.execute(
        f"SELECT {schema.COLUMNS} FROM log WHERE rev > ? AND rev <= ? ORDER BY rev LIMIT ?",
        (after, upto, limit)).fetchall()
    scanned = rows[-1][0] if len(rows) == limit else upto
    mine = [r for r in rows if start <= r[1] < end]
    prev_revs = sorted({r[4] for r in mine if r[4]})
    prev: dict[int, KeyValue] = {}
    for i in range(0, len(prev_revs), 500):
        chunk = prev_revs[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {schema.COLUMNS} FROM log WHERE rev IN ({marks})", chunk):
            prev[row[0]] = schema.to_kv(row)
    events = []
    for row in mine:
        rev, key, deleted, _c, prev_rev, _v, _value = row
        before = prev.get(prev_rev)
        if deleted:
            events.append(Event(DELETE, KeyValue(key, b"", 0, rev, 0), before))
        else:
            events.append(Event(PUT, schema.to_kv(row), before))
    return events, scanned


def compact_revision(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = 'compact_revision'").fetchone()[0]
