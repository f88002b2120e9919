"""Informers against a real API server: events, restarts, relist on 410."""

import asyncio

from kybernetes.api import registry
from kybernetes.client import informer
from tests.servers import NAMESPACES, connect

CM = registry.lookup("", "v1", "configmaps")


def configmap(name, **data):
    return {"metadata": {"name": name}, "data": data}


class Seen:
    """Handler calls, and a way to wait for one."""

    def __init__(self, inf):
        self.calls = []
        self.changed = asyncio.Event()
        inf.add_event_handler(
            lambda o: self._add(("add", o["metadata"]["name"])),
            lambda old, new: self._add(("update", new["metadata"]["name"], (new.get("data") or {}).get("k"))),
            lambda o: self._add(("delete", o["metadata"]["name"])))

    def _add(self, call):
        self.calls.append(call)
        self.changed.set()

    async def wait_for(self, call, timeout=30):
        async with asyncio.timeout(timeout):
            while call not in self.calls:
                self.changed.clear()
                await self.changed.wait()


async def run_informer(inf):
    task = asyncio.create_task(inf.run())
    await asyncio.wait_for(inf.has_synced.wait(), 10)
    return task


async def stop(task):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_informer_sees_adds_updates_deletes(client, namespace):
    await client.create(CM, configmap("before", k="0"), namespace)
    inf = informer.Informer(client, CM, namespace=namespace)
    seen = Seen(inf)
    task = await run_informer(inf)
    try:
        assert seen.calls == [("add", "before")]
        obj = await client.create(CM, configmap("new", k="1"), namespace)
        await seen.wait_for(("add", "new"))
        await client.update(CM, {**obj, "data": {"k": "2"}})
        await seen.wait_for(("update", "new", "2"))
        await client.delete(CM, "before", namespace)
        await seen.wait_for(("delete", "before"))
        assert inf.store.keys() == [f"{namespace}/new"]
        assert inf.store.get(f"{namespace}/new")["data"] == {"k": "2"}
        assert inf.store.by_index("namespace", namespace)[0]["metadata"]["name"] == "new"
    finally:
        await stop(task)


async def test_factory_informers_sync_and_share(client, namespace):
    await client.create(CM, configmap("f"), namespace)
    async with informer.SharedInformerFactory(client) as factory:
        cms = factory.informer(CM, namespace=namespace)
        nss = factory.informer(NAMESPACES)
        assert factory.informer(CM, namespace=namespace) is cms
        factory.start()
        assert await factory.wait_for_sync(timeout=10)
        assert cms.store.keys() == [f"{namespace}/f"]
        assert namespace in nss.store


async def test_informer_recovers_after_server_restart_and_relists_on_410(own_server):
    async with connect(own_server, "client-test") as writer, connect(own_server, "informer") as reader:
        await writer.create(NAMESPACES, {"metadata": {"name": "watched"}})
        await writer.create(NAMESPACES, {"metadata": {"name": "elsewhere"}})
        keep = await writer.create(CM, configmap("keep", k="1"), "watched")
        await writer.create(CM, configmap("gone", k="1"), "watched")

        lists = []
        original_list = reader.list

        async def counting_list(*args, **kw):
            lists.append(kw.get("resource_version"))
            return await original_list(*args, **kw)

        reader.list = counting_list
        inf = informer.Informer(reader, CM, namespace="watched")
        seen = Seen(inf)
        task = await run_informer(inf)
        try:
            assert sorted(inf.store.keys()) == ["watched/gone", "watched/keep"]
            seen_rv = inf.last_sync_resource_version
            # Writes the informer does not watch move the revision past what it has seen,
            # so after a restart (watch cache history starts at the current revision) its
            # re-watch is answered 410 Expired and it must relist.
            for i in range(3):
                await writer.create(CM, configmap(f"other-{i}"), "elsewhere")
            own_server.kill()
            own_server.start()
            # Changes made right after the restart reach the informer either through
            # the relist diff or through the new watch.
            await writer.update(CM, {**keep, "data": {"k": "2"}})
            await writer.delete(CM, "gone", "watched")
            await writer.create(CM, configmap("added", k="1"), "watched")
            await seen.wait_for(("update", "keep", "2"))
            await seen.wait_for(("delete", "gone"))
            await seen.wait_for(("add", "added"))
            assert sorted(inf.store.keys()) == ["watched/added", "watched/keep"]
            assert lists[0] == "0"
            assert seen_rv in lists[1:], "the informer should have relisted from its last RV"
            # And it keeps watching after all that.
            await writer.create(CM, configmap("later"), "watched")
            await seen.wait_for(("add", "later"))
        finally:
            await stop(task)
