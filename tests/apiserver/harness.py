"""The API server's application in process, on a real SQLite file.

What ``kyb server`` runs minus TLS: the state (stores, watch caches,
admission), the bootstrap objects, and the aiohttp app, reached through
aiohttp's test client with a bearer token for an admin user. Tests can look
straight into the datastore underneath (``api.store``) to check what a
request did or did not write.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from kybernetes import storage
from kybernetes.apiserver import authn, bootstrap
from kybernetes.apiserver import server as apiserver
from kybernetes.apiserver.admission import UserInfo
from kybernetes.storage.types import Store

TOKEN = "harness-admin-token"


@dataclass
class API:
    client: TestClient
    state: apiserver.State
    store: Store

    async def call(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                   data: bytes | str | None = None, params: dict | None = None,
                   token: str = TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            import orjson
            data = orjson.dumps(body)
        if data is not None:
            headers["Content-Type"] = content_type
        async with self.client.request(method, path, data=data, params=params, headers=headers) as r:
            text = await r.text()
            try:
                import orjson
                return r.status, orjson.loads(text)
            except ValueError:
                return r.status, text


@contextlib.asynccontextmanager
async def running(path: str, **settings: Any) -> AsyncIterator[API]:
    store = storage.open_store(f"sqlite://{path}/state.db")
    await store.start()
    tasks: list[asyncio.Task] = []
    try:
        auth = authn.Authenticator({TOKEN: UserInfo("admin", ("system:masters",))})
        state = apiserver.build_state(store, apiserver.Settings(**settings), auth)
        tasks = [asyncio.create_task(c.run()) for c in state.caches.values()]
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in state.caches.values())), 10)
        await bootstrap.ensure(state)
        state.ready.set()
        async with TestClient(TestServer(apiserver.make_app(state))) as client:
            yield API(client, state, store)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await store.close()
