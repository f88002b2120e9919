"""Port-forward into a pod's network namespace.

Transports, as the kubelet serves them:
* SPDY/3.1 (``X-Stream-Protocol-Version: portforward.k8s.io``): the client
  opens a pair of streams per connection, ``streamtype`` ``error`` and
  ``data``, with the same ``requestid`` and the ``port``; data is relayed to
  a TCP connection to 127.0.0.1:port made inside the pod's netns, failures
  written to the error stream.
* the same SPDY frames inside websocket binary messages (subprotocol
  ``SPDY/3.1+portforward.k8s.io``, kubectl 1.32's tunnel through the API server);
* websocket ``v4.channel.k8s.io`` (the Python client): ports from the query,
  channels 2i (data) and 2i+1 (error) per port, each starting with the port
  as two little-endian bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

from kybernetes.kubelet.streams import channels, spdy, upgrade
from kybernetes.network import sockets

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CONNECT_TIMEOUT = 10.0

Connector = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def netns_connector(netns_path: str) -> Connector:
    async def connect(port: int):
        try:
            return await sockets.open_connection_in_netns(netns_path, "127.0.0.1", port, CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectionError(f"failed to connect to localhost:{port} inside namespace "
                                  f"\"{netns_path}\": {e or type(e).__name__}") from None
    return connect


def error_message(port: int, pod: str, uid: str, err: Exception) -> str:
    return f"error forwarding port {port} to pod {pod}, uid {uid}: {err}"


def ports_from_query(request: web.Request) -> list[int]:
    out = []
    for value in request.query.getall("port", []) + request.query.getall("ports", []):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                port = int(part)
            except ValueError:
                raise web.HTTPBadRequest(text=f"unable to parse \"{part}\" as a port: invalid syntax") from None
            if not 0 < port < 65536:
                raise web.HTTPBadRequest(text=f"port {port} must be > 0 and < 65536")
            out.append(port)
    return out


async def _relay(connect: Connector, port: int, read: Callable[[], Awaitable[bytes]],
                 write: Callable[[bytes], Awaitable[None]]) -> None:
    """Copy client data to 127.0.0.1:port and back until both sides are done."""
    reader, writer = await connect(port)

    async def upstream() -> None:
        while data := await read():
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()

    up = asyncio.create_task(upstream())
    try:
        while data := await reader.read(65536):
            await write(data)
        # The pod closed its side: done, as the kubelet ends the stream pair.
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await up
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


# -- SPDY ---------------------------------------------------------------------


async def _spdy_session(session: spdy.Session, streams: asyncio.Queue, connect: Connector,
                        pod: str, uid: str) -> None:
    pairs: dict[str, dict[str, spdy.Stream]] = {}
    tasks: set[asyncio.Task] = set()

    async def forward(pair: dict[str, spdy.Stream]) -> None:
        data_stream, err_stream = pair["data"], pair["error"]
        port_text = data_stream.header("port")
        try:
            port = int(port_text)
            await _relay(connect, port, data_stream.read, data_stream.write)
        except Exception as e:  # noqa: BLE001 - reported on the error stream
            with contextlib.suppress(Exception):
                await err_stream.write(error_message(int(port_text or 0) if port_text.isdigit() else 0,
                                                     pod, uid, e).encode())
        finally:
            for s in (data_stream, err_stream):
                with contextlib.suppress(Exception):
                    await s.close()

    waiter = asyncio.create_task(session.done.wait())
    try:
        while True:
            getter = asyncio.create_task(streams.get())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            stream: spdy.Stream = getter.result()
            await session.reply(stream)
            kind = stream.header("streamtype")
            rid = stream.header("requestid") or str(stream.id if kind == "error" else stream.id - 2)
            if kind not in ("data", "error"):
                await stream.send_reset(spdy.PROTOCOL_ERROR)
                continue
            pair = pairs.setdefault(rid, {})
            pair[kind] = stream
            if len(pair) == 2:
                del pairs[rid]
                t = asyncio.create_task(forward(pair))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
    finally:
        waiter.cancel()
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve_spdy(request: web.Request, connect: Connector, pod: str, uid: str) -> web.StreamResponse:
    proto = upgrade.negotiate(request, [PROTOCOL])
    if proto is None:
        raise web.HTTPForbidden(text="unable to upgrade: unable to negotiate protocol: client supports "
                                f"{request.headers.getall(upgrade.HEADER_PROTOCOL, [])}, server accepts "
                                f"[{PROTOCOL}]")
    streams: asyncio.Queue = asyncio.Queue()
    session = spdy.Session(upgrade.raw_sender(request), server=True, on_stream=streams.put_nowait)
    resp = await upgrade.switch(request, "SPDY/3.1", session.feed, session.feed_eof,
                                {upgrade.HEADER_PROTOCOL: proto} if proto else None)
    try:
        await _spdy_session(session, streams, connect, pod, uid)
    finally:
        await session.close()
        upgrade.close(request)
    return resp


async def serve_tunnel(request: web.Request, connect: Connector, pod: str, uid: str) -> web.WebSocketResponse:
    """SPDY frames carried in websocket binary messages."""
    ws = web.WebSocketResponse(protocols=[TUNNEL_PROTOCOL], max_msg_size=0)
    await ws.prepare(request)
    streams: asyncio.Queue = asyncio.Queue()

    async def send(data: bytes) -> None:
        await ws.send_bytes(data)

    session = spdy.Session(send, server=True, on_stream=streams.put_nowait)

    async def pump() -> None:
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    session.feed(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            session.feed_eof()

    reader = asyncio.create_task(pump())
    try:
        await _spdy_session(session, streams, connect, pod, uid)
    finally:
        await session.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await ws.close()
    return ws


# -- websocket channels ----------------------------------------------------------


async def serve_websocket(request: web.Request, connect: Connector, pod: str, uid: str,
                          ports: list[int]) -> web.WebSocketResponse:
    sock = await channels.accept(request, channels.PORTFORWARD_PROTOCOLS)
    inbound: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await sock.send(2 * i, prefix)
        await sock.send(2 * i + 1, prefix)

    async def pump() -> None:
        try:
            async for ch, data in sock.messages():
                if ch % 2 == 0 and ch // 2 < len(ports) and data:
                    inbound[ch // 2].put_nowait(data)
        finally:
            for q in inbound:
                q.put_nowait(b"")

    async def forward(i: int, port: int) -> None:
        async def write(data: bytes) -> None:
            await sock.send(2 * i, data)
        try:
            await _relay(connect, port, inbound[i].get, write)
        except Exception as e:  # noqa: BLE001 - reported on the error channel
            with contextlib.suppress(Exception):
                await sock.send(2 * i + 1, error_message(port, pod, uid, e).encode())

    reader = asyncio.create_task(pump())
    try:
        await asyncio.gather(*(forward(i, p) for i, p in enumerate(ports)))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await sock.ws.close()
    return sock.ws
