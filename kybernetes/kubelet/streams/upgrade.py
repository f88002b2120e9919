"""Taking an aiohttp server connection over after an HTTP upgrade.

aiohttp hands the bytes that follow an upgrade request to a "payload
parser" (``RequestHandler.set_parser``), which is how its own websockets
work; we install one that feeds a SPDY session, answer ``101 Switching
Protocols`` ourselves and write frames straight to the transport.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web

HEADER_PROTOCOL = "X-Stream-Protocol-Version"


class _Feeder:
    """The payload-parser interface aiohttp calls with received bytes."""

    def __init__(self, feed: Callable[[bytes], None], eof: Callable[[], None]) -> None:
        self._feed, self._eof = feed, eof

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._feed(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self._eof()


def negotiate(request: web.Request, supported: list[str]) -> str | None:
    """The first protocol the client offers that we support ("" if it offered none)."""
    offered: list[str] = []
    for value in request.headers.getall(HEADER_PROTOCOL, []):
        offered += [v.strip() for v in value.split(",") if v.strip()]
    if not offered:
        return ""
    for proto in offered:
        if proto in supported:
            return proto
    return None


def is_upgrade(request: web.Request, to: str) -> bool:
    conn = request.headers.get("Connection", "").lower()
    return "upgrade" in conn and request.headers.get("Upgrade", "").lower() == to.lower()


async def switch(request: web.Request, protocol: str, feed: Callable[[bytes], None],
                 eof: Callable[[], None], extra_headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Answer 101 and route the connection's further bytes to ``feed``."""
    request.protocol.set_parser(_Feeder(feed, eof))  # type: ignore[union-attr]
    headers = {"Connection": "Upgrade", "Upgrade": protocol}
    headers.update(extra_headers or {})
    resp = web.StreamResponse(status=101, headers=headers)
    writer = await resp.prepare(request)
    send_headers = getattr(writer, "send_headers", None)
    if send_headers is not None:
        send_headers()
    await writer.drain()
    return resp


def raw_sender(request: web.Request):
    """An async ``send(bytes)`` writing to the upgraded connection."""
    transport = request.transport
    protocol = request.protocol

    async def send(data: bytes) -> None:
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        transport.write(data)
        drain = getattr(protocol, "_drain_helper", None)
        if drain is not None and transport.get_write_buffer_size() > 1 << 20:
            await drain()

    return send


def close(request: web.Request) -> None:
    if request.transport is not None and not request.transport.is_closing():
        request.transport.close()


async def until(event: asyncio.Event, timeout: float | None) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False
