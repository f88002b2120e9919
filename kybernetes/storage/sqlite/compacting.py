"""Compaction: drop the history no revision after the compaction point needs.

A row at or below the target revision is removed when it is a tombstone or
when a newer row of its key also lies at or below the target; the latest
row of every live key survives, so reads and watches after the target stay
whole. The compaction revision is recorded first, in the first chunk's
transaction, so no reader ever sees half-compacted history as valid. The
work is cut into chunks of revisions, each its own short transaction, so
writers are never held up for long.

``CompactionPolicy`` is the automatic part, as kube-apiserver compacts etcd
every 5 minutes: it samples the revision over time and compacts to the
revision that was current one history window ago. That keeps the table (and
with incremental vacuum and WAL checkpoints, the file) bounded by the write
rate over one window instead of growing forever, as kine files are known to.
"""

from __future__ import annotations

import sqlite3
from collections import deque

CHUNK = 5000  # revisions per transaction

_DELETE = """
DELETE FROM log WHERE rev > ? AND rev <= ? AND (
    deleted = 1 OR EXISTS (
        SELECT 1 FROM log AS newer
        WHERE newer.key = log.key AND newer.rev > log.rev AND newer.rev <= ?))
"""


def mark(conn: sqlite3.Connection, target: int) -> None:
    """Record the new compaction revision (before any row goes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision' AND value < ?",
                     (target, target))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def chunk(conn: sqlite3.Connection, lo: int, hi: int, target: int) -> int:
    """Remove compactable rows with lo < rev <= hi; returns rows removed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        removed = conn.execute(_DELETE, (lo, hi, target)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return removed


def reclaim(conn: sqlite3.Connection) -> None:
    """Give freed pages back and truncate the WAL after a compaction."""
    conn.execute("PRAGMA incremental_vacuum")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class CompactionPolicy:
    """Which revision to compact to, given samples of (time, revision)."""

    def __init__(self, window: float, min_keep: int = 1000):
        self.window = window
        self.min_keep = min_keep
        self._samples: deque[tuple[float, int]] = deque()

    def target(self, now: float, revision: int, compacted: int) -> int:
        """Record a sample; return the revision to compact to (0: nothing to do)."""
        self._samples.append((now, revision))
        target = 0
        while self._samples and self._samples[0][0] <= now - self.window:
            target = self._samples.popleft()[1]
        target = min(target, revision - self.min_keep)
        return target if target > compacted else 0
