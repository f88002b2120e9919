"""Shared fixtures and helpers for the controllers' integration tests.

``server`` is a real ``kyb server`` (one per test module) that runs no
controllers of its own, so only the controllers a test starts in its event
loop (``Controllers``) act; a module that needs other flags replaces it
(``SERVER_ARGS`` for the workload controllers' tests). ``client`` is a client
to it and ``namespace`` a fresh namespace. ``eventually`` polls for an outcome.

The unit-test doubles are in ``fakes``; the simulated kubelet in ``kubelet_sim``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import informer, rest
from kybernetes.controllers.context import Context, Settings
from tests import servers
from tests.e2e.cluster import API_ONLY

# The server's own controller manager runs only what the workload controllers' tests
# do not: the controllers under test run in the test process instead. No scheduler:
# the simulated kubelet binds pods.
SERVER_ARGS = ["--controllers", "namespace,serviceaccount", "--disable-scheduler"]

server = servers.server_fixture("kyb-controllers", API_ONLY)
client = servers.client_fixture("controllers-test")
namespace = servers.namespace_fixture()


class Controllers:
    """Controller classes on shared informers of their own, started as the controller
    manager does (informers synced first) and running until ``stop`` or the end of
    ``async with``; a fresh instance knows nothing of the last."""

    def __init__(self, client: rest.Client, classes: Sequence[Callable[[Context], Any]], *,
                 settings: Settings | None = None, clock: clocks.Clock | None = None):
        self.factory = informer.SharedInformerFactory(client)
        self.ctx = Context(client, self.factory, settings or Settings(), clock or clocks.RealClock())
        self.controllers = [cls(self.ctx) for cls in classes]
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> Controllers:
        self.factory.start()
        try:
            assert await self.factory.wait_for_sync(timeout=30)
        except BaseException:
            await self.stop()
            raise
        self.tasks = [asyncio.create_task(c.run(), name=f"test:{c.name}") for c in self.controllers]
        return self

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.factory.shutdown()
        await self.ctx.close()

    async def __aenter__(self) -> Controllers:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; that value.
    An AssertionError or StatusError it raises counts as "not yet"."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except (AssertionError, status.StatusError) as e:
            last = e
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


async def gone(client: rest.Client, res: registry.Resource, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(res, name, namespace)
    except status.StatusError as e:
        if e.code == 404:
            return True
        raise
    return False
