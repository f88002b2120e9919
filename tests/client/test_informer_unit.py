"""Reflector and handler semantics of the informer, against a scripted client."""

import asyncio

import pytest

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, rest

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
END = object()


def cm(name, rv, data="x"):
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)},
            "data": {"k": data}}


def page(items, rv, continue_=None):
    meta = {"resourceVersion": str(rv)}
    if continue_:
        meta["continue"] = continue_
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": items}


class ScriptedClient:
    def __init__(self):
        self.list_results: list = []
        self.list_calls: list[dict] = []
        self.watch_calls: list[dict] = []
        self.events: asyncio.Queue = asyncio.Queue()

    async def list(self, res, namespace=None, **kw):
        self.list_calls.append(kw)
        result = self.list_results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def watch(self, res, namespace=None, **kw):
        self.watch_calls.append(kw)
        while True:
            item = await self.events.get()
            if item is END:
                return
            if isinstance(item, Exception):
                raise item
            yield item


class Recorder:
    def __init__(self, inf):
        self.calls = []
        inf.add_event_handler(
            lambda o: self.calls.append(("add", o["metadata"]["name"])),
            lambda old, new: self.calls.append(("update", new["metadata"]["name"])),
            lambda o: self.calls.append(("delete", o["metadata"]["name"])))


async def settle():
    for _ in range(30):
        await asyncio.sleep(0)


@pytest.fixture
async def setup():
    clk = clocks.FakeClock()
    client = ScriptedClient()
    inf = informer.Informer(client, CONFIGMAPS, namespace="ns", clock=clk)
    rec = Recorder(inf)
    task = None

    def start():
        nonlocal task
        task = asyncio.create_task(inf.run())

    yield clk, client, inf, rec, start
    if task:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_list_then_watch_delivers_changes(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [page([cm("a", 5)], 7)]
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    assert client.list_calls[0]["resource_version"] == "0"
    assert rec.calls == [("add", "a")]
    assert inf.store.get("ns/a")["kind"] == "ConfigMap"  # list items get their TypeMeta back
    await settle()
    assert client.watch_calls[0]["resource_version"] == "7"
    assert client.watch_calls[0]["allow_bookmarks"] is True
    assert 300 <= client.watch_calls[0]["timeout_seconds"] <= 600
    for event in (("ADDED", cm("b", 8)), ("MODIFIED", cm("a", 9, "y")), ("DELETED", cm("b", 10)),
                  ("BOOKMARK", {"metadata": {"resourceVersion": "15"}})):
        client.events.put_nowait(event)
    await settle()
    assert rec.calls[1:] == [("add", "b"), ("update", "a"), ("delete", "b")]
    assert inf.store.keys() == ["ns/a"] and inf.store.get("ns/a")["data"]["k"] == "y"
    assert inf.last_sync_resource_version == "15"
    client.events.put_nowait(END)  # the server ended the watch: re-watch from the bookmark
    await settle()
    assert client.watch_calls[-1]["resource_version"] == "15"
    assert len(client.list_calls) == 1


async def test_expired_watch_relists_and_diffs_against_the_store(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [page([cm("a", 1), cm("b", 2), cm("c", 3)], 3),
                           page([cm("a", 1), cm("b", 20), cm("d", 21)], 22)]
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    await settle()
    rec.calls.clear()
    client.events.put_nowait(status.expired("too old resource version: 3 (10)"))
    await settle()
    clk.step(60)  # the back-off between list-and-watch rounds
    await settle()
    assert client.list_calls[1]["resource_version"] == "3"  # at least as fresh as what we had
    assert sorted(rec.calls) == [("add", "d"), ("delete", "c"), ("update", "b")]
    assert sorted(inf.store.keys()) == ["ns/a", "ns/b", "ns/d"]
    assert client.watch_calls[-1]["resource_version"] == "22"


async def test_expired_list_falls_back_to_paged_quorum_list(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [status.expired("too old"), page([cm("a", 1)], 9, continue_="tok"),
                           page([cm("b", 2)], 9)]
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    first, quorum, second = client.list_calls
    assert first["resource_version"] == "0"
    assert quorum["resource_version"] == "" and quorum["limit"] == 500
    assert second["continue_"] == "tok" and second["resource_version"] is None
    assert sorted(inf.store.keys()) == ["ns/a", "ns/b"]


async def test_broken_watch_rewatches_from_last_rv_without_relisting(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [page([cm("a", 1)], 4)]
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    await settle()
    client.events.put_nowait(("MODIFIED", cm("a", 6)))
    client.events.put_nowait(rest.ClientError("https://x", "connection reset"))
    await settle()
    assert len(client.watch_calls) == 1  # backing off
    clk.step(60)
    await settle()
    assert len(client.watch_calls) == 2
    assert client.watch_calls[1]["resource_version"] == "6"
    assert len(client.list_calls) == 1


async def test_failed_list_backs_off_and_retries(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [rest.ClientError("https://x", "refused"), page([], 1)]
    start()
    await settle()
    assert not inf.has_synced.is_set()
    clk.step(60)
    await asyncio.wait_for(inf.has_synced.wait(), 1)


async def test_late_handler_gets_existing_objects_and_handler_errors_are_contained(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [page([cm("a", 1), cm("b", 1)], 1)]

    def broken(obj):
        raise RuntimeError("handler bug")

    inf.add_event_handler(on_add=broken)
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    late = []
    inf.add_event_handler(on_add=lambda o: late.append(o["metadata"]["name"]))
    assert sorted(late) == ["a", "b"]
    assert sorted(rec.calls) == [("add", "a"), ("add", "b")]


async def test_resync_redelivers_cached_objects_as_updates():
    clk = clocks.FakeClock()
    client = ScriptedClient()
    client.list_results = [page([cm("a", 1)], 1)]
    inf = informer.Informer(client, CONFIGMAPS, resync_period=30, clock=clk)
    updates = []
    inf.add_event_handler(on_update=lambda old, new: updates.append(old is new))
    task = asyncio.create_task(inf.run())
    try:
        await asyncio.wait_for(inf.has_synced.wait(), 1)
        await settle()
        clk.step(30)
        await settle()
        assert updates == [True]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_factory_shares_informers_per_resource_and_selector():
    client = ScriptedClient()
    factory = informer.SharedInformerFactory(client)
    a = factory.informer(CONFIGMAPS, namespace="ns")
    assert factory.informer(CONFIGMAPS, namespace="ns") is a
    assert factory.informer(CONFIGMAPS, namespace="ns", label_selector="x=y") is not a
    client.list_results = [page([], 1), page([], 1)]
    async with factory:
        factory.start()
        assert await factory.wait_for_sync(timeout=1)


async def test_factory_wait_for_sync_times_out_while_the_server_fails():
    clk = clocks.FakeClock()
    client = ScriptedClient()
    client.list_results = [rest.ClientError("https://x", "refused")]
    factory = informer.SharedInformerFactory(client, clock=clk)
    factory.informer(CONFIGMAPS)
    async with factory:
        factory.start()
        assert not await factory.wait_for_sync(timeout=0.05)


async def test_list_of_unserved_resource_syncs_empty_and_retries(setup):
    clk, client, inf, rec, start = setup
    client.list_results = [status.not_found_path(), page([cm("a", 1)], 2)]
    start()
    await asyncio.wait_for(inf.has_synced.wait(), 1)
    assert len(inf.store) == 0
    clk.step(60)
    await settle()
    assert rec.calls == [("add", "a")]
