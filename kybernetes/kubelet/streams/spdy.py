"""SPDY/3.1 framing and sessions, as kubectl's transport (moby/spdystream) speaks it.

Kubernetes' exec, attach and port-forward fall back to (or, through the API
server, still use) SPDY/3.1 after an HTTP ``Upgrade: SPDY/3.1``: one TCP
connection carries many streams, each opened with a SYN_STREAM whose
name/value header block (zlib-compressed with the SPDY/3 dictionary, one
compression context per direction for the connection's life) says what it is
(``streamtype: stdout``, ``port: 8080`` ...).

Only what spdystream needs is implemented: SYN_STREAM/SYN_REPLY, DATA with
FIN, RST_STREAM, PING echo, GOAWAY, HEADERS; SETTINGS and WINDOW_UPDATE are
parsed and ignored. spdystream does no flow control (it never sends a
WINDOW_UPDATE and ignores ours), so neither side may wait on a send window:
we send without one, and grant none.

``Session`` is transport-agnostic: ``feed()`` takes received bytes (from a
raw upgraded socket or from websocket binary messages, as kubectl 1.32
tunnels SPDY through the API server) and ``send`` is an async callable for
outgoing bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from typing import Awaitable, Callable

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_DATA = (1 << 24) - 1
CHUNK = 32 * 1024

_WORDS = ("options head post put delete trace accept accept-charset accept-encoding "
          "accept-language accept-ranges age allow authorization cache-control connection "
          "content-base content-encoding content-language content-length content-location "
          "content-md5 content-range content-type date etag expect expires from host if-match "
          "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
          "server te trailer transfer-encoding upgrade user-agent vary via warning "
          "www-authenticate method get status").split() + ["200 OK", "version", "HTTP/1.1", "url",
                                                           "public", "set-cookie", "keep-alive",
                                                           "origin"]
_TAIL = (b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
         b"504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
         b"400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
         b"501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
         b"Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
         b"image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
         b"publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
# The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00 2.6.10.1).
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


class HeaderCodec:
    """One direction's header-block (de)compression context."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, str | list[str]]) -> bytes:
        parts = [struct.pack(">I", len(headers))]
        for name, value in headers.items():
            values = value if isinstance(value, list) else [value]
            n, v = name.lower().encode(), "\x00".join(values).encode()
            parts += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
        return self._deflate.compress(b"".join(parts)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"header block: {e}") from None
        out: dict[str, list[str]] = {}
        try:
            (count,), pos = struct.unpack_from(">I", raw, 0), 4
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + n].decode().lower()
                pos += 4 + n
                (n,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + n].decode()
                pos += 4 + n
                out.setdefault(name, []).extend(value.split("\x00"))
        except (struct.error, UnicodeDecodeError) as e:
            raise ProtocolError(f"header block: {e}") from None
        return out


def control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


class Frame:
    """A parsed frame: ``kind`` is 0 for DATA, else the control type."""

    __slots__ = ("kind", "flags", "stream_id", "payload", "headers", "status", "associated")

    def __init__(self, kind: int, flags: int, stream_id: int = 0, payload: bytes = b"",
                 headers: dict[str, list[str]] | None = None, status: int = 0, associated: int = 0):
        self.kind, self.flags, self.stream_id, self.payload = kind, flags, stream_id, payload
        self.headers, self.status, self.associated = headers or {}, status, associated

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Incremental parser: ``feed`` bytes, get complete frames back."""

    def __init__(self, codec: HeaderCodec) -> None:
        self._buf = bytearray()
        self._codec = codec

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk
        frames = []
        while len(self._buf) >= 8:
            word, flen = struct.unpack_from(">II", self._buf, 0)
            flags, length = flen >> 24, flen & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            body = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if not word & 0x80000000:
                frames.append(Frame(0, flags, word & 0x7FFFFFFF, body))
                continue
            version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
            if version != VERSION:
                raise ProtocolError(f"unsupported SPDY version {version}")
            frames.append(self._control(kind, flags, body))
        return frames

    def _control(self, kind: int, flags: int, body: bytes) -> Frame:
        try:
            if kind == SYN_STREAM:
                sid, assoc = struct.unpack_from(">II", body, 0)
                return Frame(kind, flags, sid & 0x7FFFFFFF, headers=self._codec.decode(body[10:]),
                             associated=assoc & 0x7FFFFFFF)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", body, 0)
                return Frame(kind, flags, sid & 0x7FFFFFFF, headers=self._codec.decode(body[4:]))
            if kind in (RST_STREAM, WINDOW_UPDATE, GOAWAY):
                sid, value = struct.unpack_from(">II", body, 0)
                return Frame(kind, flags, sid & 0x7FFFFFFF, status=value)
            if kind == PING:
                (pid,) = struct.unpack_from(">I", body, 0)
                return Frame(kind, flags, status=pid, payload=body)
        except struct.error:
            raise ProtocolError(f"short control frame of type {kind}") from None
        return Frame(kind, flags, payload=body)  # SETTINGS and anything unknown: ignored


class Stream:
    """One SPDY stream: ``read()`` until ``b""``; ``write``; ``close`` (half-close, FIN)."""

    def __init__(self, session: "Session", stream_id: int, headers: dict[str, list[str]]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False
        self.reset = False
        self.replied = asyncio.Event()

    def header(self, name: str, default: str = "") -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else default

    async def read(self) -> bytes:
        """Next chunk of data; ``b""`` once the peer half-closed or reset the stream."""
        if self.remote_closed and self._incoming.empty():
            return b""
        return await self._incoming.get()

    async def write(self, payload: bytes) -> None:
        if self.local_closed or self.reset:
            raise ConnectionResetError(f"SPDY stream {self.id} is closed")
        view = memoryview(payload)
        while view:
            await self.session._send(data(self.id, bytes(view[:CHUNK])))
            view = view[CHUNK:]

    async def close(self) -> None:
        """Half-close our side (an empty DATA frame with FIN)."""
        if self.local_closed or self.reset or self.session.closed:
            self.local_closed = True
            return
        self.local_closed = True
        await self.session._send(data(self.id, b"", fin=True))
        self.session._maybe_forget(self)

    async def send_reset(self, status: int = CANCEL) -> None:
        if not self.reset:
            self._on_reset()
            await self.session._send(control(RST_STREAM, 0, struct.pack(">II", self.id, status)))

    def _on_data(self, payload: bytes, fin: bool) -> None:
        if self.remote_closed:
            return
        if payload:
            self._incoming.put_nowait(payload)
        if fin:
            self._on_remote_close()

    def _on_remote_close(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._incoming.put_nowait(b"")

    def _on_reset(self) -> None:
        self.reset = True
        self.local_closed = True
        self._on_remote_close()
        self.replied.set()


class Session:
    """A SPDY/3.1 connection, server or client side."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], *, server: bool = True,
                 on_stream: Callable[[Stream], None] | None = None) -> None:
        self._write = send
        self.server = server
        self.on_stream = on_stream
        self.streams: dict[int, Stream] = {}
        self._reader = FrameReader(HeaderCodec())
        self._codec_out = HeaderCodec()
        self._next_id = 2 if server else 1
        self._last_received = 0
        self._lock = asyncio.Lock()
        self.closed = False
        self.done = asyncio.Event()  # the peer went away (EOF, GOAWAY or protocol error)
        self._tasks: set[asyncio.Task] = set()

    # -- receiving -----------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if self.done.is_set():
            return
        try:
            frames = self._reader.feed(chunk)
        except ProtocolError:
            self._spawn(self._goaway(1))
            self.feed_eof()
            return
        for frame in frames:
            self._dispatch(frame)

    def feed_eof(self) -> None:
        self.closed = True
        for stream in list(self.streams.values()):
            stream._on_reset()
        self.done.set()

    def _dispatch(self, f: Frame) -> None:
        if f.kind == 0:
            stream = self.streams.get(f.stream_id)
            if stream is not None:
                stream._on_data(f.payload, f.fin)
                self._maybe_forget(stream)
        elif f.kind == SYN_STREAM:
            if f.stream_id in self.streams or f.stream_id == 0:
                self._spawn(self._send(control(RST_STREAM, 0, struct.pack(">II", f.stream_id, PROTOCOL_ERROR))))
                return
            self._last_received = max(self._last_received, f.stream_id)
            stream = Stream(self, f.stream_id, f.headers)
            self.streams[f.stream_id] = stream
            if f.fin:
                stream._on_remote_close()
            if self.on_stream is not None:
                self.on_stream(stream)
        elif f.kind == SYN_REPLY:
            stream = self.streams.get(f.stream_id)
            if stream is not None:
                stream.headers.update(f.headers)
                stream.replied.set()
                if f.fin:
                    stream._on_remote_close()
        elif f.kind == HEADERS:
            stream = self.streams.get(f.stream_id)
            if stream is not None and f.fin:
                stream._on_remote_close()
        elif f.kind == RST_STREAM:
            stream = self.streams.pop(f.stream_id, None)
            if stream is not None:
                stream._on_reset()
        elif f.kind == PING:
            # Echo the peer's pings (odd ids from a client, even from a server).
            if (f.status & 1) == (1 if self.server else 0):
                self._spawn(self._send(control(PING, 0, f.payload)))
        elif f.kind == GOAWAY:
            self.closed = True
            self.done.set()

    # -- sending -------------------------------------------------------------

    async def _send(self, frame: bytes) -> None:
        async with self._lock:
            await self._write(frame)

    async def reply(self, stream: Stream, headers: dict[str, str] | None = None) -> None:
        """Accept a stream the peer opened (SYN_REPLY)."""
        async with self._lock:
            block = self._codec_out.encode(headers or {})
            await self._write(control(SYN_REPLY, 0, struct.pack(">I", stream.id) + block))
        stream.replied.set()

    async def open_stream(self, headers: dict[str, str], *, wait: bool = True,
                          fin: bool = False) -> Stream:
        """Open a stream (SYN_STREAM) and, by default, wait for the SYN_REPLY."""
        async with self._lock:
            sid = self._next_id
            self._next_id += 2
            stream = Stream(self, sid, {k.lower(): [v] for k, v in headers.items()})
            stream.local_closed = fin
            self.streams[sid] = stream
            block = self._codec_out.encode(headers)
            payload = struct.pack(">IIBB", sid, 0, 0, 0) + block
            await self._write(control(SYN_STREAM, FLAG_FIN if fin else 0, payload))
        if wait:
            await stream.replied.wait()
            if stream.reset:
                raise ConnectionResetError(f"SPDY stream {sid} was reset")
        return stream

    async def ping(self, ping_id: int) -> None:
        await self._send(control(PING, 0, struct.pack(">I", ping_id)))

    async def _goaway(self, status: int = 0) -> None:
        with contextlib.suppress(OSError, ConnectionError, RuntimeError):
            await self._send(control(GOAWAY, 0, struct.pack(">II", self._last_received, status)))

    async def close(self) -> None:
        """GOAWAY; the caller then closes the transport."""
        if not self.closed:
            self.closed = True
            await self._goaway(0)
        for t in list(self._tasks):
            t.cancel()

    def _maybe_forget(self, stream: Stream) -> None:
        if stream.local_closed and stream.remote_closed:
            self.streams.pop(stream.id, None)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done_task)

    def _done_task(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.feed_eof()
