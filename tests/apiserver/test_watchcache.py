"""The watch cache on a real SQLite store: list, resume, expire, filter."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kybernetes import storage
from kybernetes.api import status
from kybernetes.apiserver import watchcache

PREFIX = "/registry/configmaps/"


def cm(name: str, ns: str = "default", **labels) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": ns, "labels": labels}})


@pytest.fixture
async def store(tmp_path):
    s = storage.open_store(f"sqlite://{tmp_path}/state.db")
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def cache(store):
    c = watchcache.WatchCache(store, PREFIX, capacity=50)
    task = asyncio.create_task(c.run())
    await asyncio.wait_for(c.ready.wait(), 5)
    yield c
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def drain(watcher, count, timeout=5.0):
    got = []
    while len(got) < count:
        item = await watcher.next(timeout)
        assert item is not None, f"only {len(got)} events: {got}"
        got.append((item[0], item[1]["metadata"]["name"], item[1]["metadata"]["resourceVersion"]))
    return got


async def test_list_serves_current_state_at_a_fresh_revision(store, cache):
    a = await store.create(PREFIX + "default/a", cm("a"))
    await store.create(PREFIX + "other/b", cm("b", "other"))
    await cache.wait_fresh(await store.current_revision(), 2)
    items, rv = cache.list(PREFIX + "default/")
    assert [o["metadata"]["name"] for o in items] == ["a"]
    assert items[0]["metadata"]["resourceVersion"] == str(a.mod_revision)
    # A write elsewhere in the store moves the cache's fresh revision too.
    other = await store.create("/registry/secrets/default/s", b"{}")
    assert await cache.wait_fresh(other.mod_revision, 2)


async def test_watch_resumes_from_any_revision_in_history(store, cache):
    revs = [(await store.create(PREFIX + f"default/c{i}", cm(f"c{i}"))).mod_revision for i in range(5)]
    await cache.wait_fresh(revs[-1], 2)
    w = cache.watch(PREFIX, revs[1], None, initial=False)
    got = await drain(w, 3)
    assert [g[1] for g in got] == ["c2", "c3", "c4"]
    assert all(g[0] == "ADDED" for g in got)
    w.close()


async def test_too_old_revision_is_410_expired(store, cache):
    first = await store.create(PREFIX + "default/x0", cm("x0"))
    for i in range(1, 80):  # capacity 50: the oldest events fall out
        await store.create(PREFIX + f"default/x{i}", cm(f"x{i}"))
    await cache.wait_fresh(await store.current_revision(), 2)
    with pytest.raises(status.StatusError) as e:
        cache.watch(PREFIX, first.mod_revision, None, initial=False)
    assert e.value.code == 410 and e.value.reason == "Expired"
    assert e.value.message.startswith(f"too old resource version: {first.mod_revision} (")


async def test_initial_events_then_changes(store, cache):
    await store.create(PREFIX + "default/a", cm("a"))
    await cache.wait_fresh(await store.current_revision(), 2)
    w = cache.watch(PREFIX + "default/", 0, None, initial=True)
    kv = await store.create(PREFIX + "default/b", cm("b"))
    got = await drain(w, 2)
    assert [(t, n) for t, n, _ in got] == [("ADDED", "a"), ("ADDED", "b")]
    assert got[1][2] == str(kv.mod_revision)
    w.close()


async def test_selector_turns_label_changes_into_added_and_deleted(store, cache):
    def web(obj):
        return (obj["metadata"].get("labels") or {}).get("tier") == "web"

    start = await store.current_revision()
    w = cache.watch(PREFIX, start, web, initial=False)
    kv = await store.create(PREFIX + "default/p", cm("p", tier="db"))
    kv = await store.update(PREFIX + "default/p", cm("p", tier="web"), kv.mod_revision)
    kv = await store.update(PREFIX + "default/p", cm("p", tier="web", x="1"), kv.mod_revision)
    kv = await store.update(PREFIX + "default/p", cm("p", tier="db"), kv.mod_revision)
    got = await drain(w, 3)
    assert [t for t, _, _ in got] == ["ADDED", "MODIFIED", "DELETED"]
    assert got[2][2] == str(kv.mod_revision)
    w.close()


async def test_a_watcher_that_cannot_keep_up_is_closed(store, cache):
    w = cache.watch(PREFIX, await store.current_revision(), None, initial=False)
    w.limit = 10
    for i in range(20):
        await store.create(PREFIX + f"default/s{i}", cm(f"s{i}"))
    await cache.wait_fresh(await store.current_revision(), 2)
    assert w.closed and w.overflowed
    assert cache.watcher_count == 0


async def test_a_watch_may_start_just_before_the_oldest_event_held(store, cache):
    revs = [(await store.create(PREFIX + f"default/h{i}", cm(f"h{i}"))).mod_revision for i in range(80)]
    await cache.wait_fresh(revs[-1], 2)
    oldest = cache.history[0].rv
    assert oldest == revs[30]  # capacity 50
    # kube-apiserver: "too old resource version: X (oldest-1)"; oldest-1 itself is fine.
    with pytest.raises(status.StatusError) as e:
        cache.watch(PREFIX, oldest - 2, None, initial=False)
    assert e.value.message == f"too old resource version: {oldest - 2} ({oldest - 1})"
    w = cache.watch(PREFIX, oldest - 1, None, initial=False)
    got = await drain(w, 50)
    assert [g[1] for g in got] == [f"h{i}" for i in range(30, 80)]
    w.close()
