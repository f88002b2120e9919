"""What only the SQLite backend has: its file, its lock, its compaction."""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from kybernetes import storage
from kybernetes.storage import errors


async def open_store(path, **options):
    s = storage.open_store(f"sqlite://{path}", **options)
    await s.start()
    return s


async def test_corrupt_file_gives_an_error_naming_the_datastore(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(errors.DatastoreError) as e:
        await open_store(path)
    assert f"datastore sqlite://{path}" in str(e.value)
    assert "corrupt" in str(e.value)


async def test_truncated_file_gives_an_error_naming_the_datastore(tmp_path):
    path = tmp_path / "state.db"
    s = await open_store(path)
    for i in range(2000):
        await s.create(f"/registry/pods/default/p{i}", os.urandom(200))
    await s.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(errors.DatastoreError) as e:
        await open_store(path)
    assert f"datastore sqlite://{path}" in str(e.value)


async def test_second_process_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "state.db"
    first = await open_store(path)
    try:
        with pytest.raises(errors.DatastoreError) as e:
            await open_store(path)
        assert "locked" in str(e.value) and str(path) in str(e.value)
        assert (await first.create("/registry/a", b"still works")).value == b"still works"
    finally:
        await first.close()


async def test_database_locked_by_a_foreign_writer(tmp_path):
    path = tmp_path / "state.db"
    s = await open_store(path)
    await s.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(errors.DatastoreError) as e:
            await open_store(path, busy_timeout_ms=200)
        assert "locked" in str(e.value) and f"sqlite://{path}" in str(e.value)
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_data_survives_reopening(tmp_path):
    path = tmp_path / "state.db"
    s = await open_store(path)
    kv = await s.create("/registry/a", b"one")
    await s.close()
    s = await open_store(path)
    try:
        assert await s.get("/registry/a") == kv
        assert await s.current_revision() == kv.mod_revision
        assert (await s.create("/registry/b", b"two")).mod_revision == kv.mod_revision + 1
    finally:
        await s.close()


async def test_automatic_compaction_keeps_the_file_bounded(tmp_path):
    path = tmp_path / "state.db"
    s = await open_store(path, compaction_window=0.3, compaction_interval=0.1,
                         compaction_min_keep=0)
    try:
        kvs = {f"/registry/k{i}": await s.create(f"/registry/k{i}", b"x") for i in range(10)}
        sizes = []
        for round_ in range(8):
            for _ in range(250):
                for key, kv in list(kvs.items()):
                    kvs[key] = await s.update(key, os.urandom(512), kv.mod_revision)
            await asyncio.sleep(0.5)
            sizes.append(sum(os.path.getsize(p) for p in [path, f"{path}-wal"] if os.path.exists(p)))
        # 20,000 updates of 512 bytes: ~10 MB of history without compaction.
        assert await s.compact_revision() > 0
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT count(*) FROM log").fetchone()[0]
        conn.close()
        assert rows < 6000
        assert max(sizes[4:]) < 8 * 1024 * 1024
        assert {kv.key: kv for kv in (await s.list("/registry/")).kvs} == kvs
    finally:
        await s.close()


async def test_a_watcher_that_cannot_keep_up_is_cut_off_not_skipped(tmp_path):
    s = await open_store(tmp_path / "state.db", watch_buffer=100)
    try:
        watch = s.watch("/registry/")
        written = [await s.create(f"/registry/k{i}", b"v") for i in range(150)]
        got = []
        with pytest.raises(errors.WatchOverflow):
            async for batch in watch:
                got.extend(batch)
        assert [e.kv for e in got] == written[:len(got)]
        await watch.close()
    finally:
        await s.close()


async def test_replaying_watch_catches_up_with_live_writes_in_order(tmp_path):
    s = await open_store(tmp_path / "state.db", watch_buffer=500)
    try:
        written = [await s.create(f"/registry/k{i}", b"v") for i in range(3000)]
        watch = s.watch("/registry/", from_revision=1)
        more = []

        async def write_more():
            for i in range(300):
                more.append(await s.create(f"/registry/m{i}", b"v"))

        task = asyncio.create_task(write_more())
        got = []
        async for batch in watch:
            got.extend(batch)
            await asyncio.sleep(0)
            if len(got) >= 2999 + 300:
                break
        await task
        await watch.close()
        assert [e.kv for e in got] == written[1:] + more
    finally:
        await s.close()


def test_unsupported_url_is_refused():
    with pytest.raises(errors.DatastoreError) as e:
        storage.open_store("mysql://localhost/db")
    assert "mysql://localhost/db" in str(e.value)
