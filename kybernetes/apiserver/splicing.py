"""Upgraded connections relayed to a kubelet (UpgradeAwareHandler.tryUpgrade).

exec, attach and port-forward are upgrades: websocket (``v5.channel.k8s.io``
and older, ``SPDY/3.1+portforward.k8s.io``) or SPDY/3.1. The API server
understands none of these framings and needs none: it dials the kubelet,
sends the request line and the client's headers (its upgrade headers
included, its credentials not), and reads the kubelet's response head.

- 101: the head goes to the client byte for byte, then bytes are copied both
  ways until either side closes, and both are closed.
- 400 or more: status, headers and body go to the client and the connection
  is closed; nothing more is forwarded.
- anything else: a 500 ``invalid upgrade response: status code N``.

aiohttp has no hijack: the client connection is taken over by giving its
transport a protocol of ours (``transport.set_protocol``), after picking up
any bytes aiohttp had already read past the request, and the handler
returns a response that writes nothing.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web
from multidict import CIMultiDict

from kybernetes.apiserver import kubelets

HEAD_TIMEOUT = 30.0
ERROR_BODY_TIMEOUT = 10.0  # upstream's deadline for relaying an error answer
MAX_HEAD = 1 << 20
HIGH_WATER = 1 << 20
NOT_FORWARDED = {"authorization", "host", "content-length", "transfer-encoding", "cookie",
                 "impersonate-user", "impersonate-group", "impersonate-uid"}


async def upgrade(request: web.Request, client: kubelets.KubeletClient, loc: kubelets.Location,
                  target: str) -> web.StreamResponse:
    try:
        reader, writer = await client.open(loc)
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
        raise kubelets.unknown_error(f"error dialing backend: {kubelets.dial_error(e, loc)}") from None
    try:
        writer.write(_request_head(request, loc, target))
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        code, reason, headers = _parse_head(raw)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError) as e:
        writer.close()
        raise kubelets.unknown_error(f"error proxying data from backend: {e or type(e).__name__}") from None
    if code != 101:
        try:
            if code < 400:
                raise kubelets.unknown_error(f"invalid upgrade response: status code {code}")
            body = await asyncio.wait_for(_read_body(reader, headers), ERROR_BODY_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            body = b""
        finally:
            writer.close()
        response = web.Response(status=code, reason=reason or None, body=body)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "keep-alive"):
                response.headers.add(k, v)
        response.force_close()
        return response
    return await _splice(request, raw, reader, writer)


def _request_head(request: web.Request, loc: kubelets.Location, target: str) -> bytes:
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {loc.netloc}"]
    for k, v in request.headers.items():
        if k.lower() not in NOT_FORWARDED and not k.lower().startswith("impersonate-extra-"):
            lines.append(f"{k}: {v}")
    if request.remote:
        prior = request.headers.get("X-Forwarded-For")
        if not prior:
            lines.append(f"X-Forwarded-For: {request.remote}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(raw: bytes) -> tuple[int, str, CIMultiDict]:
    text = raw.decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"malformed HTTP response {status_line!r}")
    headers: CIMultiDict = CIMultiDict()
    for line in header_lines:
        if line and ":" in line:
            k, v = line.split(":", 1)
            headers.add(k.strip(), v.strip())
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


async def _read_body(reader: asyncio.StreamReader, headers: CIMultiDict) -> bytes:
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        out = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)
    length = headers.get("Content-Length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read(MAX_HEAD)


class _Hijacked(web.StreamResponse):
    """The answer of a connection taken over: aiohttp writes nothing for it."""

    def __init__(self) -> None:
        super().__init__(status=101)

    async def prepare(self, request):  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _ClientSide(asyncio.Protocol):
    """The client connection once taken over: what it sends goes to the
    kubelet; its flow control paces what the kubelet sends."""

    def __init__(self, original: asyncio.BaseProtocol, transport: asyncio.Transport,
                 kubelet: asyncio.StreamWriter):
        self.original = original
        self.transport = transport
        self.kubelet = kubelet
        self.closed = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self._resuming: asyncio.Task | None = None

    def data_received(self, data: bytes) -> None:
        if self.kubelet.is_closing():
            return
        self.kubelet.write(data)
        if self.kubelet.transport.get_write_buffer_size() > HIGH_WATER and self._resuming is None:
            self.transport.pause_reading()
            self._resuming = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        try:
            await self.kubelet.drain()
        except (OSError, RuntimeError):
            self._finish()
            return
        finally:
            self._resuming = None
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()
        self.writable.set()
        # aiohttp's protocol still counts this connection: let it clean up.
        self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def _finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _splice(request: web.Request, head: bytes, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> web.StreamResponse:
    transport = request.transport
    protocol = request.protocol
    if transport is None or transport.is_closing():
        writer.close()
        return _Hijacked()
    # Bytes the client sent after its request head (aiohttp keeps them once
    # it saw a websocket upgrade) belong to the upgraded stream.
    tail = bytes(getattr(protocol, "_message_tail", b"") or b"")
    if tail:
        protocol._message_tail = b""  # type: ignore[attr-defined]
    side = _ClientSide(protocol, transport, writer)
    transport.set_protocol(side)
    if tail:
        writer.write(tail)
    if not transport.is_reading():
        transport.resume_reading()
    transport.write(head)

    async def kubelet_to_client() -> None:
        while True:
            data = await reader.read(65536)
            if not data or transport.is_closing():
                return
            transport.write(data)
            await side.writable.wait()

    down = asyncio.create_task(kubelet_to_client())
    try:
        await asyncio.wait({down, side.closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        down.cancel()
        await asyncio.gather(down, return_exceptions=True)
        writer.close()
        transport.close()
    return _Hijacked()
