"""The datastore contract: etcd's semantics, the same on SQLite and on etcd.

Every test runs against both backends (see conftest.py). The properties are
those etcd's robustness tests check: writes are linearizable CAS on one
revision counter; watches are ordered, unique, atomic, reliable, resumable.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from kybernetes.storage import errors
from kybernetes.storage.types import DELETE, PUT


async def collect(watch, count, timeout=10.0):
    """The next ``count`` events of a watch, flattened."""
    got = []

    async def run():
        async for batch in watch:
            got.extend(batch)
            if len(got) >= count:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_create_get_and_revisions(store, prefix):
    before = await store.current_revision()
    kv = await store.create(prefix + "a", b"one")
    assert kv.key == prefix + "a" and kv.value == b"one"
    assert kv.mod_revision > before
    assert kv.create_revision == kv.mod_revision and kv.version == 1
    assert await store.current_revision() >= kv.mod_revision
    got = await store.get(prefix + "a")
    assert got == kv
    assert await store.get(prefix + "missing") is None


async def test_create_existing_key_fails_with_key_exists(store, prefix):
    kv = await store.create(prefix + "a", b"one")
    with pytest.raises(errors.KeyExists) as e:
        await store.create(prefix + "a", b"two")
    assert e.value.key == prefix + "a"
    assert (await store.get(prefix + "a")).value == b"one"
    assert (await store.get(prefix + "a")).mod_revision == kv.mod_revision


async def test_update_is_compare_and_swap(store, prefix):
    first = await store.create(prefix + "a", b"one")
    second = await store.update(prefix + "a", b"two", first.mod_revision)
    assert second.value == b"two" and second.version == 2
    assert second.create_revision == first.create_revision
    assert second.mod_revision > first.mod_revision
    with pytest.raises(errors.Conflict) as e:
        await store.update(prefix + "a", b"stale", first.mod_revision)
    assert e.value.current == second
    assert (await store.get(prefix + "a")).value == b"two"
    with pytest.raises(errors.KeyNotFound):
        await store.update(prefix + "missing", b"x", 5)


async def test_delete_with_and_without_expected_revision(store, prefix):
    kv = await store.create(prefix + "a", b"one")
    with pytest.raises(errors.Conflict):
        await store.delete(prefix + "a", kv.mod_revision + 1000)
    deleted = await store.delete(prefix + "a", kv.mod_revision)
    assert deleted == kv
    assert await store.get(prefix + "a") is None
    with pytest.raises(errors.KeyNotFound):
        await store.delete(prefix + "a")
    again = await store.create(prefix + "a", b"new life")
    assert again.version == 1 and again.create_revision == again.mod_revision
    assert (await store.delete(prefix + "a")).value == b"new life"


async def test_get_at_past_and_future_revisions(store, prefix):
    one = await store.create(prefix + "a", b"one")
    two = await store.update(prefix + "a", b"two", one.mod_revision)
    await store.delete(prefix + "a", two.mod_revision)
    assert (await store.get(prefix + "a", revision=one.mod_revision)).value == b"one"
    assert (await store.get(prefix + "a", revision=two.mod_revision)).value == b"two"
    assert await store.get(prefix + "a") is None
    assert await store.get(prefix + "a", revision=one.mod_revision - 1) is None
    current = await store.current_revision()
    with pytest.raises(errors.FutureRevision):
        await store.get(prefix + "a", revision=current + 1000)


async def test_list_prefix_in_key_order_at_a_revision(store, prefix):
    for name in ["c", "a", "b/x", "b"]:
        await store.create(prefix + name, name.encode())
    await store.create(prefix[:-1] + "-other/a", b"outside")
    result = await store.list(prefix)
    assert [kv.key for kv in result.kvs] == [prefix + k for k in ["a", "b", "b/x", "c"]]
    assert result.continue_token is None
    at = result.revision
    b = result.kvs[1]
    await store.update(prefix + "b", b"changed", b.mod_revision)
    await store.delete(prefix + "a")
    now = await store.list(prefix)
    assert [kv.key for kv in now.kvs] == [prefix + k for k in ["b", "b/x", "c"]]
    assert now.kvs[0].value == b"changed"
    past = await store.list(prefix, revision=at)
    assert [(kv.key, kv.value) for kv in past.kvs] == [(kv.key, kv.value) for kv in result.kvs]
    assert await store.count(prefix) == 3


async def test_list_pages_are_consistent_with_the_first_page(store, prefix):
    names = [f"k{i:03d}" for i in range(25)]
    for name in names:
        await store.create(prefix + name, name.encode())
    page = await store.list(prefix, limit=10)
    assert len(page.kvs) == 10 and page.continue_token and page.remaining == 15
    first_revision = page.revision
    # Writes between pages do not show in later pages.
    await store.delete(prefix + "k015")
    await store.create(prefix + "k0155", b"new")
    seen = [kv.key for kv in page.kvs]
    while page.continue_token:
        page = await store.list(prefix, limit=10, continue_token=page.continue_token)
        assert page.revision == first_revision
        seen.extend(kv.key for kv in page.kvs)
    assert seen == [prefix + n for n in names]
    assert page.remaining == 0


async def test_invalid_continue_token(store, prefix):
    with pytest.raises(errors.InvalidContinue):
        await store.list(prefix, limit=1, continue_token="not-a-token")


async def test_watch_from_now_delivers_put_and_delete_with_previous_values(store, prefix):
    watch = store.watch(prefix)
    await asyncio.sleep(0.2)  # the watch is established before we write
    one = await store.create(prefix + "a", b"one")
    await store.create(prefix[:-1] + "-other/a", b"not mine")
    two = await store.update(prefix + "a", b"two", one.mod_revision)
    gone = await store.delete(prefix + "a", two.mod_revision)
    events = await collect(watch, 3)
    await watch.close()
    assert [e.type for e in events] == [PUT, PUT, DELETE]
    assert events[0].kv == one and events[0].prev_kv is None and events[0].created
    assert events[1].kv == two and events[1].prev_kv == one and not events[1].created
    assert events[2].kv.key == prefix + "a" and events[2].prev_kv == two
    assert gone == two
    assert events[2].revision > two.mod_revision


async def test_watch_from_a_revision_yields_exactly_the_events_after_it(store, prefix):
    written = []
    for i in range(20):
        written.append(await store.create(prefix + f"k{i}", b"v"))
    start = written[9].mod_revision
    watch = store.watch(prefix, from_revision=start)
    events = await collect(watch, 10)
    await watch.close()
    assert [e.kv for e in events] == written[10:]


async def test_watch_resumed_mid_stream_has_no_gap_or_duplicate(store, prefix):
    watch = store.watch(prefix, from_revision=await store.current_revision())
    writer_done = asyncio.Event()
    revisions = []

    async def write():
        for i in range(60):
            kv = await store.create(prefix + f"k{i}", b"v")
            revisions.append(kv.mod_revision)
            if i % 10 == 0:
                await asyncio.sleep(0.01)
        writer_done.set()

    writer = asyncio.create_task(write())
    first = await collect(watch, 20)
    await watch.close()
    last = first[19].revision
    resumed = store.watch(prefix, from_revision=last)
    await writer_done.wait()
    await writer
    rest = await collect(resumed, 40)
    await resumed.close()
    seen = [e.revision for e in first[:20]] + [e.revision for e in rest]
    assert seen == revisions


async def test_concurrent_writers_racing_on_one_key_exactly_one_wins(store, prefix):
    kv = await store.create(prefix + "race", b"0")
    for round_ in range(10):
        async def attempt(i, expected=kv.mod_revision):
            try:
                return await store.update(prefix + "race", f"{round_}-{i}".encode(), expected)
            except errors.Conflict:
                return None

        results = await asyncio.gather(*(attempt(i) for i in range(16)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        kv = winners[0]
        assert (await store.get(prefix + "race")) == kv


async def test_compaction(store, prefix):
    one = await store.create(prefix + "a", b"one")
    two = await store.update(prefix + "a", b"two", one.mod_revision)
    await store.create(prefix + "b", b"b")
    gone = await store.create(prefix + "c", b"c")
    await store.delete(prefix + "c", gone.mod_revision)
    watcher = store.watch(prefix)  # a live watcher is not disturbed by compaction
    await asyncio.sleep(0.2)
    target = await store.current_revision()
    await store.compact(target)
    assert await store.compact_revision() >= target
    with pytest.raises(errors.Compacted):
        await store.get(prefix + "a", revision=one.mod_revision)
    with pytest.raises(errors.Compacted):
        await store.list(prefix, revision=one.mod_revision)
    # The latest state survives compaction.
    assert (await store.get(prefix + "a")) == two
    assert [kv.key for kv in (await store.list(prefix)).kvs] == [prefix + "a", prefix + "b"]
    assert [kv.key for kv in (await store.list(prefix, revision=target)).kvs] == [prefix + "a", prefix + "b"]
    old = store.watch(prefix, from_revision=one.mod_revision)
    with pytest.raises(errors.Compacted):
        await collect(old, 1)
    await old.close()
    three = await store.update(prefix + "a", b"three", two.mod_revision)
    events = await collect(watcher, 1)
    await watcher.close()
    assert events[0].kv == three and events[0].prev_kv == two
    since = store.watch(prefix, from_revision=target)
    events = await collect(since, 1)
    await since.close()
    assert events[0].kv == three


async def test_ten_thousand_mixed_writes_match_a_replay_of_the_event_stream(store, prefix, backend):
    total = 10_000 if backend == "sqlite" else 3_000  # etcd fsyncs each write: keep CI time sane
    rng = random.Random(7)
    start = await store.current_revision()
    watch = store.watch(prefix, from_revision=start)
    keys = [prefix + f"k{i:03d}" for i in range(200)]
    acknowledged: dict[int, tuple[str, str, bytes]] = {}

    async def writer(worker: int, count: int):
        for n in range(count):
            key = rng.choice(keys)
            current = await store.get(key)
            try:
                if current is None:
                    kv = await store.create(key, f"{worker}-{n}".encode())
                    acknowledged[kv.mod_revision] = (PUT, key, kv.value)
                elif rng.random() < 0.25:
                    await store.delete(key, current.mod_revision)
                    acknowledged[-current.mod_revision] = (DELETE, key, b"")
                else:
                    kv = await store.update(key, f"{worker}-{n}".encode(), current.mod_revision)
                    acknowledged[kv.mod_revision] = (PUT, key, kv.value)
            except (errors.Conflict, errors.KeyExists, errors.KeyNotFound):
                pass

    workers = 16
    consumed = []

    async def consume():
        async for batch in watch:
            consumed.extend(batch)

    consumer = asyncio.create_task(consume())
    await asyncio.gather(*(writer(w, total // workers) for w in range(workers)))
    end = await store.current_revision()
    while not consumed or consumed[-1].revision < end:
        await asyncio.sleep(0.05)
        if consumer.done():
            consumer.result()
    consumer.cancel()
    await watch.close()

    # Ordered, unique, with every acknowledged write and nothing else.
    revisions = [e.revision for e in consumed]
    assert revisions == sorted(set(revisions))
    puts = {e.revision: (PUT, e.kv.key, e.kv.value) for e in consumed if e.type == PUT}
    assert puts == {r: v for r, v in acknowledged.items() if r > 0}
    deletes = {e.prev_kv.mod_revision for e in consumed if e.type == DELETE}
    assert deletes == {-r for r in acknowledged if r < 0}

    # An independent replay of the stream gives exactly the stored state,
    # and every event's prev_kv is what the replay held before it.
    model: dict[str, object] = {}
    for e in consumed:
        assert e.prev_kv == model.get(e.kv.key)
        if e.type == PUT:
            model[e.kv.key] = e.kv
        else:
            del model[e.kv.key]
    listed = await store.list(prefix, revision=end)
    assert {kv.key: kv for kv in listed.kvs} == model
