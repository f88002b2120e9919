"""What only the etcd backend does: endpoints, failover, lost answers, compaction.

The shared contract (test_contract.py) covers the semantics both backends
share. Here: a 3-member cluster losing a member under load (reads, writes and
an open watch carry on, no gap, no duplicate), an unreachable etcd, writes
whose answer was lost, the compaction revision etcd does not expose, large
values, and watch streams that end on the server when closed.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.request
import uuid

import pytest

from kybernetes import storage
from kybernetes.storage import errors
from kybernetes.storage.etcd import EtcdStore
from kybernetes.storage.etcd.endpoints import parse
from kybernetes.storage.etcd.gateway import OutcomeUnknown
from kybernetes.storage.types import DELETE, PUT
from tests.storage.etcdserver import EtcdCluster

pytestmark = pytest.mark.etcd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_prefix() -> str:
    return f"/registry/e{uuid.uuid4().hex[:12]}/"


async def open_store(endpoints: str, **options) -> EtcdStore:
    store = EtcdStore(endpoints, **options)
    await store.start()
    return store


def watchers_on(url: str) -> int:
    """etcd's own count of open watchers on one member (its /metrics)."""
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    return int(float(re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M).group(1)))


def leader_index(cluster: EtcdCluster) -> int:
    for i, url in enumerate(cluster.client_urls):
        request = urllib.request.Request(url + "/v3/maintenance/status", data=b"{}", method="POST")
        status = json.loads(urllib.request.urlopen(request, timeout=5).read())
        if status["leader"] == status["header"]["member_id"]:
            return i
    raise AssertionError("no leader")


# -- endpoints -------------------------------------------------------------------

def test_endpoint_list_is_parsed_like_etcdctl_endpoints():
    assert parse("http://10.0.0.1:2379, https://etcd-b:2380 ,http://[::1]:3000,", "x") == [
        "http://10.0.0.1:2379", "https://etcd-b:2380", "http://[::1]:3000"]
    assert parse("http://etcd/", "x") == ["http://etcd:2379"]  # etcd's client port
    assert parse("http://a:1,http://a:1", "x") == ["http://a:1"]
    store = EtcdStore("http://127.0.0.1:1,http://127.0.0.1:2")
    assert store.name == "http://127.0.0.1:1,http://127.0.0.1:2"
    assert store.endpoints == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert EtcdStore("http://127.0.0.1:1", name="main etcd").name == "main etcd"


@pytest.mark.parametrize("bad", ["", " , ", "etcd:2379", "unix:///run/etcd.sock",
                                 "http://a:notaport", "http://a:2379/v3", "http://:2379"])
def test_a_bad_endpoint_is_a_datastore_error_naming_the_datastore(bad):
    with pytest.raises(errors.DatastoreError) as e:
        EtcdStore(bad, name="my-etcd")
    assert str(e.value).startswith("datastore my-etcd: ")


# -- unreachable -------------------------------------------------------------------

async def test_unreachable_etcd_is_a_datastore_error_within_seconds():
    url = f"http://127.0.0.1:{free_port()}"
    store = storage.open_store(url)
    began = time.monotonic()
    with pytest.raises(errors.DatastoreError) as e:
        await store.start()
    assert time.monotonic() - began < 8
    assert str(e.value).startswith(f"datastore {url}: cannot reach any etcd member")
    assert e.value.__cause__ is not None  # no raw aiohttp traceback, but the cause is kept


async def test_losing_the_only_member_fails_requests_and_watches_with_datastore_error():
    with EtcdCluster(members=1) as cluster:
        store = await open_store(cluster.endpoints, retry_timeout=2.0)
        try:
            watch = store.watch("/registry/x/")
            await asyncio.sleep(0.2)
            cluster.kill(0)
            began = time.monotonic()
            with pytest.raises(errors.DatastoreError, match=re.escape(cluster.endpoints)):
                await store.get("/registry/x/a")
            with pytest.raises(errors.DatastoreError, match="watch on '/registry/x/' lost"):
                async for _batch in watch:
                    pass
            assert time.monotonic() - began < 10
        finally:
            await store.close()


async def test_start_skips_a_dead_endpoint(etcd_endpoints):
    dead = f"http://127.0.0.1:{free_port()}"
    store = await open_store(f"{dead},{etcd_endpoints}")
    try:
        assert store.member == etcd_endpoints
        kv = await store.create(new_prefix() + "a", b"v")
        assert kv.version == 1
    finally:
        await store.close()


async def test_https_endpoints_with_the_clusters_certificate():
    with EtcdCluster(members=1, tls=True) as cluster:
        assert cluster.endpoints.startswith("https://127.0.0.1:")
        with pytest.raises(errors.DatastoreError, match="certificate"):
            await open_store(cluster.endpoints, start_timeout=1.0)  # not trusted
        store = await open_store(cluster.endpoints, ssl=cluster.ssl_context())
        try:
            watch = store.watch("/registry/tls/")
            await asyncio.sleep(0.2)
            kv = await store.create("/registry/tls/a", b"secret")
            assert await store.get("/registry/tls/a") == kv
            async for batch in watch:
                assert [e.kv for e in batch] == [kv]
                break
            await watch.close()
        finally:
            await store.close()


# -- a 3-member cluster losing a member -----------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("case", ["follower in use", "leader in use", "leader elsewhere"])
async def test_three_member_cluster_survives_a_sigkilled_member(case):
    with EtcdCluster(members=3) as cluster:
        leader = leader_index(cluster)
        follower = (leader + 1) % 3
        in_use = leader if case == "leader in use" else follower
        killed = follower if case == "follower in use" else leader
        urls = cluster.client_urls
        store = await open_store(",".join([urls[in_use]] + [u for u in urls if u != urls[in_use]]))
        try:
            assert store.member == urls[in_use]
            prefix = new_prefix()
            watch = store.watch(prefix, from_revision=await store.current_revision())
            watched = []

            async def consume():
                async for batch in watch:
                    watched.extend(batch)

            consumer = asyncio.create_task(consume())
            acked: list[int] = []
            counter = iter(range(1_000_000))
            target = 20

            async def writer():
                for n in counter:
                    if len(acked) >= target:
                        return
                    kv = await store.create(f"{prefix}{n:06d}", b"v%d" % n)
                    acked.append(kv.mod_revision)

            await asyncio.gather(*(writer() for _ in range(4)))
            target = 120
            writers = asyncio.gather(*(writer() for _ in range(4)))
            await asyncio.sleep(0.05)  # writes in flight when the member dies
            cluster.kill(killed)
            await asyncio.wait_for(writers, 60)

            # Reads and CAS writes are served by the survivors.
            listed = await store.list(prefix)
            assert len(listed.kvs) == len(acked) and len(acked) >= 120
            first = listed.kvs[0]
            updated = await store.update(first.key, b"after", first.mod_revision)
            acked.append(updated.mod_revision)
            if killed == in_use:
                assert store.member != urls[killed]

            # The watch moved to a survivor: every write exactly once, in order.
            deadline = time.monotonic() + 30
            while (not watched or watched[-1].revision < max(acked)) and time.monotonic() < deadline:
                assert not consumer.done(), consumer.exception()
                await asyncio.sleep(0.05)
            assert [e.revision for e in watched] == sorted(acked)
            assert [e.type for e in watched] == [PUT] * len(acked)
            assert watched[-1].kv == updated and watched[-1].prev_kv == first

            # The member comes back and catches up.
            cluster.start_member(killed)
            consumer.cancel()
            await watch.close()
        finally:
            await store.close()


# -- writes whose answer is lost -------------------------------------------------------

class LossyStore(EtcdStore):
    """Simulates a member dying around one write: ``mode`` says how.

    answer lost:    the txn is applied, its answer never arrives;
    request lost:   the txn never reaches raft;
    committed late: the txn is not answered and commits only after our retry
                    was sent (as a proposal left in raft by a dying leader).
    """

    mode = ""
    late: dict | None = None

    async def txn(self, body):
        mode, self.mode = self.mode, ""
        if mode == "answer lost":
            await super().txn(body)
            raise OutcomeUnknown("answer lost (test)")
        if mode in ("request lost", "committed late"):
            if mode == "committed late":
                self.late = body
            raise OutcomeUnknown("request lost (test)")
        if self.late is not None:
            late, self.late = self.late, None
            await super().txn(late)
        return await super().txn(body)


@pytest.mark.parametrize("mode", ["answer lost", "request lost", "committed late"])
async def test_a_write_whose_answer_was_lost_is_applied_exactly_once(etcd_endpoints, mode):
    store = LossyStore(etcd_endpoints)
    await store.start()
    try:
        key = new_prefix() + "a"
        start = await store.current_revision()
        store.mode = mode
        created = await store.create(key, b"one")
        assert created.value == b"one" and created.version == 1
        store.mode = mode
        updated = await store.update(key, b"two", created.mod_revision)
        assert updated.version == 2 and updated.create_revision == created.create_revision
        store.mode = mode
        unconditional = await store.update(key, b"three", 0)
        assert unconditional.version == 3
        store.mode = mode
        deleted = await store.delete(key, unconditional.mod_revision)
        assert deleted == unconditional
        assert await store.get(key) is None
        store.mode = mode
        again = await store.create(key, b"four")
        store.mode = mode
        assert await store.delete(key) == again

        history = store.watch(key, from_revision=start)
        events = []
        async for batch in history:
            events.extend(batch)
            if len(events) == 6:
                break
        await history.close()
        assert [(e.type, e.kv.value) for e in events] == [
            (PUT, b"one"), (PUT, b"two"), (PUT, b"three"), (DELETE, b""), (PUT, b"four"), (DELETE, b"")]
        assert await store.get(key) is None
    finally:
        await store.close()


async def test_a_lost_write_overtaken_by_another_writer_is_reported_as_a_conflict(etcd_endpoints):
    store = LossyStore(etcd_endpoints)
    await store.start()
    try:
        key = new_prefix() + "a"
        kv = await store.create(key, b"one")
        other = await store.update(key, b"someone else", kv.mod_revision)
        store.mode = "request lost"
        with pytest.raises(errors.Conflict) as e:
            await store.update(key, b"mine", kv.mod_revision)
        assert e.value.current == other
    finally:
        await store.close()


# -- compaction ----------------------------------------------------------------------------

async def test_compaction_revision_is_found_by_a_store_that_did_not_compact(etcd_endpoints):
    prefix = new_prefix()
    a = await open_store(etcd_endpoints)
    b = await open_store(etcd_endpoints)
    try:
        one = await a.create(prefix + "k", b"1")
        await a.update(prefix + "k", b"2", one.mod_revision)
        target = await a.current_revision()
        await a.compact(target)
        assert await a.compact_revision() == target
        assert await b.compact_revision() == target  # etcd never says; b finds it
        with pytest.raises(errors.Compacted) as e:
            await b.get(prefix + "k", revision=one.mod_revision)
        assert e.value.compact_revision == target
        with pytest.raises(errors.Compacted):
            await b.compact(target)
        with pytest.raises(errors.FutureRevision):
            await b.compact(target + 1000)
    finally:
        await a.close()
        await b.close()


async def test_watch_from_a_compacted_revision_fails_with_compacted(etcd_endpoints):
    prefix = new_prefix()
    store = await open_store(etcd_endpoints)
    try:
        one = await store.create(prefix + "k", b"1")
        await store.update(prefix + "k", b"2", one.mod_revision)
        target = await store.current_revision()
        await store.compact(target)
        watch = store.watch(prefix, from_revision=one.mod_revision - 1)
        with pytest.raises(errors.Compacted) as e:
            async for _batch in watch:
                pass
        assert e.value.compact_revision == target
        await watch.close()
    finally:
        await store.close()


# -- values, streams, closing ------------------------------------------------------------

async def test_values_of_one_and_a_half_mebibytes(etcd_endpoints):
    prefix = new_prefix()
    store = await open_store(etcd_endpoints)
    try:
        watch = store.watch(prefix)
        await asyncio.sleep(0.2)
        big = bytes(range(256)) * (1536 * 1024 // 256)
        kvs = [await store.create(prefix + f"k{i}", big) for i in range(3)]
        assert (await store.get(prefix + "k1")).value == big
        assert [kv.value for kv in (await store.list(prefix)).kvs] == [big] * 3
        events = []
        async for batch in watch:
            events.extend(batch)
            if len(events) == 3:
                break
        assert [e.kv for e in events] == kvs
        await watch.close()
    finally:
        await store.close()


async def test_closing_a_watch_ends_it_on_the_etcd_member(etcd_endpoints):
    store = await open_store(etcd_endpoints)
    try:
        before = watchers_on(store.member)
        watches = [store.watch(new_prefix()) for _ in range(3)]
        await asyncio.sleep(0.3)
        assert watchers_on(store.member) == before + 3
        for watch in watches:
            await watch.close()
        deadline = time.monotonic() + 5
        while watchers_on(store.member) > before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert watchers_on(store.member) == before
    finally:
        await store.close()


async def test_closing_the_store_ends_open_watches_with_datastore_error(etcd_endpoints):
    store = await open_store(etcd_endpoints)
    watch = store.watch(new_prefix())
    await asyncio.sleep(0.1)
    await store.close()
    with pytest.raises(errors.DatastoreError, match="closed"):
        async for _batch in watch:
            pass
    with pytest.raises(errors.DatastoreError, match="closed"):
        await store.get("/registry/x")


async def test_history_is_paced_to_the_consumer_but_a_slow_live_consumer_is_cut_off(etcd_endpoints):
    prefix = new_prefix()
    store = await open_store(etcd_endpoints, watch_buffer=10)
    try:
        start = await store.current_revision()
        written = [await store.create(prefix + f"k{i:02d}", b"v") for i in range(50)]
        # 50 events of history through a 10-event buffer: replay waits for room.
        replay = store.watch(prefix, from_revision=start)
        await asyncio.sleep(0.3)
        got = []
        async for batch in replay:
            got.extend(batch)
            if len(got) == 50:
                break
        assert [e.kv for e in got] == written
        # Live events are not held back for a consumer that does not read.
        for i in range(20):
            await store.update(written[i].key, b"again", written[i].mod_revision)
        with pytest.raises(errors.WatchOverflow):
            async for _batch in replay:
                await asyncio.sleep(0)
        await replay.close()
    finally:
        await store.close()
