"""The SQLite file's layout: one log-structured table, as k3s's kine keeps it.

Every write appends a row to ``log`` under the next revision (the row id);
a delete appends a tombstone. The latest row of a key is its current value,
older rows are the history that watches and reads at past revisions use,
until compaction removes what no revision after the compaction point needs.
``meta`` keeps the revision counter and the compaction revision, so neither
goes backwards when compaction deletes the newest rows.
"""

from __future__ import annotations

import sqlite3

from kybernetes.storage.types import KeyValue

DDL = """
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    deleted    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    value      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compact_revision', 0);
"""

COLUMNS = "rev, key, deleted, create_rev, prev_rev, version, value"

BUSY_TIMEOUT_MS = 5000


def connect(path: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection with the settings every connection needs. Durability:
    WAL with synchronous=FULL syncs the log on every commit, so an
    acknowledged write survives a crash of the process or the machine."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def initialise(conn: sqlite3.Connection) -> None:
    """Create the tables on first use. auto_vacuum must be chosen before the
    first table exists; INCREMENTAL lets compaction give pages back."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL journal mode (got {mode})")
    conn.execute("BEGIN IMMEDIATE")
    for statement in DDL.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("COMMIT")


def check_integrity(conn: sqlite3.Connection) -> None:
    """Fail on a corrupt or truncated file before serving from it."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    problems = [r[0] for r in rows if r[0] != "ok"]
    if problems:
        raise sqlite3.DatabaseError("database failed its integrity check: " + "; ".join(problems[:3]))


def read_meta(conn: sqlite3.Connection) -> tuple[int, int]:
    """(revision, compact_revision) as last committed."""
    values = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    revision = max(values.get("revision", 0),
                   conn.execute("SELECT coalesce(max(rev), 0) FROM log").fetchone()[0])
    return revision, values.get("compact_revision", 0)


def to_kv(row: tuple) -> KeyValue:
    rev, key, _deleted, create_rev, _prev, version, value = row
    return KeyValue(key, bytes(value), create_rev, rev, version)
