"""CoreDNS's health and readiness endpoints: ``/health`` on :8080 answers 200
while the process serves (the Deployment's liveness probe), ``/ready`` on :8181
answers 200 once the API has been synchronised and the listeners are up, 503
before (the readiness probe; the kube-dns Service only sends to ready pods).
"""

from __future__ import annotations

import asyncio

from aiohttp import web


def _app(path: str, ready: asyncio.Event | None) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        if ready is not None and not ready.is_set():
            return web.Response(status=503, text="not ready")
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get(path, handle)
    return app


class Endpoints:
    """The two HTTP listeners; ports 0 pick free ones (``health_port``, ``ready_port``)."""

    def __init__(self, bind: str, health_port: int, ready_port: int, ready: asyncio.Event):
        self.bind = bind
        self.health_port = health_port
        self.ready_port = ready_port
        self.ready = ready
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        for attr, path, ready in (("health_port", "/health", None), ("ready_port", "/ready", self.ready)):
            runner = web.AppRunner(_app(path, ready), access_log=None)
            await runner.setup()
            self._runners.append(runner)
            site = web.TCPSite(runner, self.bind, getattr(self, attr))
            await site.start()
            setattr(self, attr, site._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
