"""exec and attach: a process's stdio over websocket channels or SPDY streams.

As the kubelet's CRI streaming server (remotecommand): the transport gives
us stdin (with end of input), resize events and writers for stdout, stderr
and the error channel; the command's end is reported on the error channel,
for protocol v4 and later as a ``metav1.Status`` (``Success``, or
``Failure``/``NonZeroExitCode`` with the code in ``details.causes``), for
older ones as plain text and only on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiohttp import web

from kybernetes.kubelet.streams import channels, spdy, upgrade

log = logging.getLogger(__name__)

STREAM_CREATION_TIMEOUT = 30.0
SPDY_PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4


@dataclass
class Options:
    command: list[str] = field(default_factory=list)
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False

    @classmethod
    def from_query(cls, request: web.Request, *, attach: bool = False) -> "Options":
        q = request.query

        def flag(name: str, default: bool) -> bool:
            v = q.get(name)
            return default if v is None else v.lower() in ("1", "true", "yes", "")

        return cls(command=q.getall("command", []) if not attach else [],
                   stdin=flag("stdin", False), stdout=flag("stdout", False),
                   stderr=flag("stderr", False), tty=flag("tty", False))


def success_status() -> dict:
    return {"metadata": {}, "status": "Success"}


def exit_status(cmd: list[str], code: int) -> dict:
    go_list = "[" + " ".join(cmd) + "]"
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"{go_list}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


class IO:
    """What a command sees of its client, whatever the transport."""

    def __init__(self, opts: Options, version: int) -> None:
        self.opts = opts
        self.version = version
        self.stdin: asyncio.Queue[bytes] = asyncio.Queue()  # b"" = end of input
        self.resize: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self.gone = asyncio.Event()  # the client went away
        self._resize_buf = b""

    async def write(self, channel: int, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def on_resize_data(self, data: bytes) -> None:
        """Resize events: a stream of JSON objects {"Width": w, "Height": h}."""
        self._resize_buf += data
        dec = json.JSONDecoder()
        text = self._resize_buf.decode(errors="replace")
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            try:
                obj, end = dec.raw_decode(text, pos)
            except ValueError:
                break
            pos = end
            if isinstance(obj, dict):
                self.resize.put_nowait((int(obj.get("Width") or 0), int(obj.get("Height") or 0)))
        self._resize_buf = text[pos:].encode()

    async def finish(self, status: dict | None) -> None:
        """Report the outcome on the error channel, then close."""
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            if status is not None:
                if self.version >= 4:
                    await self.write(ERROR, json.dumps(status).encode())
                elif status.get("status") != "Success":
                    await self.write(ERROR, status.get("message", "").encode())
        await self.close()


class WebSocketIO(IO):
    def __init__(self, sock: channels.ChannelSocket, opts: Options) -> None:
        super().__init__(opts, sock.version)
        self.sock = sock

    async def write(self, channel: int, data: bytes) -> None:
        await self.sock.send(channel, data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sock.ws.close()

    async def pump(self) -> None:
        try:
            async for ch, data in self.sock.messages():
                if ch == STDIN and data:
                    self.stdin.put_nowait(data)
                elif ch == RESIZE:
                    self.on_resize_data(data)
                elif ch == channels.CLOSE_CHANNEL and self.version >= 5 and data[:1] == bytes([STDIN]):
                    self.stdin.put_nowait(b"")
        finally:
            self.stdin.put_nowait(b"")
            self.gone.set()


class SpdyIO(IO):
    def __init__(self, session: spdy.Session, streams: dict[str, spdy.Stream], opts: Options,
                 version: int, request: web.Request) -> None:
        super().__init__(opts, version)
        self.session = session
        self.streams = streams
        self.request = request
        self._names = {STDOUT: "stdout", STDERR: "stderr", ERROR: "error"}

    async def write(self, channel: int, data: bytes) -> None:
        stream = self.streams.get(self._names[channel])
        if stream is not None:
            await stream.write(data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            for name in ("stdout", "stderr", "error"):
                if name in self.streams:
                    await self.streams[name].close()
            await self.session.close()
        upgrade.close(self.request)

    async def pump(self) -> None:
        async def copy_stdin(stream: spdy.Stream) -> None:
            while data := await stream.read():
                self.stdin.put_nowait(data)
            self.stdin.put_nowait(b"")

        async def copy_resize(stream: spdy.Stream) -> None:
            while data := await stream.read():
                self.on_resize_data(data)

        tasks = []
        if "stdin" in self.streams:
            tasks.append(asyncio.create_task(copy_stdin(self.streams["stdin"])))
        else:
            self.stdin.put_nowait(b"")
        if "resize" in self.streams:
            tasks.append(asyncio.create_task(copy_resize(self.streams["resize"])))
        try:
            await self.session.done.wait()
        finally:
            for t in tasks:
                t.cancel()
            self.stdin.put_nowait(b"")
            self.gone.set()


Runner = Callable[[IO], Awaitable[dict | None]]


async def serve(request: web.Request, opts: Options, run: Runner) -> web.StreamResponse:
    """Upgrade to websocket or SPDY, then run ``run(io)`` and report its status."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        sock = await channels.accept(request, channels.EXEC_PROTOCOLS)
        io: IO = WebSocketIO(sock, opts)
        # An empty message on the lowest writable channel says "connected".
        first = STDOUT if opts.stdout else STDERR if opts.stderr else ERROR
        await io.write(first, b"")
        return await _run(io, run, sock.ws)
    if not upgrade.is_upgrade(request, "SPDY/3.1"):
        raise web.HTTPBadRequest(text="Upgrade request required")
    proto = upgrade.negotiate(request, SPDY_PROTOCOLS)
    if proto is None:
        raise web.HTTPForbidden(text="unable to upgrade: unable to negotiate protocol: client supports "
                                f"{request.headers.getall(upgrade.HEADER_PROTOCOL, [])}, server accepts "
                                f"{SPDY_PROTOCOLS}")
    version = {"v4.channel.k8s.io": 4, "v3.channel.k8s.io": 3, "v2.channel.k8s.io": 2}.get(proto, 1)
    arrived: dict[str, spdy.Stream] = {}
    ready = asyncio.Event()
    expected = {"error"} | ({"stdin"} if opts.stdin else set()) | ({"stdout"} if opts.stdout else set())
    if opts.stderr and not opts.tty:
        expected.add("stderr")
    if opts.tty and version >= 3:
        expected.add("resize")

    session: spdy.Session

    def on_stream(stream: spdy.Stream) -> None:
        kind = stream.header("streamtype")
        arrived[kind] = stream
        asyncio.get_running_loop().create_task(session.reply(stream))
        if expected <= set(arrived):
            ready.set()

    session = spdy.Session(upgrade.raw_sender(request), server=True, on_stream=on_stream)
    resp = await upgrade.switch(request, "SPDY/3.1", session.feed, session.feed_eof,
                                {upgrade.HEADER_PROTOCOL: proto} if proto else None)
    if not await upgrade.until(ready, STREAM_CREATION_TIMEOUT) or session.done.is_set():
        await session.close()
        upgrade.close(request)
        return resp
    io = SpdyIO(session, arrived, opts, version, request)
    await _run(io, run, None)
    return resp


async def _run(io: IO, run: Runner, ws) -> web.StreamResponse:
    pump = asyncio.create_task(io.pump())  # type: ignore[attr-defined]
    try:
        status = await run(io)
    except Exception as e:  # noqa: BLE001 - reported to the client as the kubelet does
        log.warning("stream command failed: %s", e)
        status = error_status(str(e))
    await io.finish(status)
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pump
    return ws


# -- the commands -----------------------------------------------------------


async def run_exec(runtime, container_id: str, opts: Options, io: IO) -> dict:
    proc = await runtime.exec(container_id, opts.command, stdin=opts.stdin, tty=opts.tty)
    tasks: list[asyncio.Task] = []

    async def feed_stdin() -> None:
        while True:
            data = await io.stdin.get()
            if not data:
                if not opts.tty and proc.stdin is not None:
                    proc.stdin.close()
                return
            if opts.tty:
                await proc.write(data)
            elif proc.stdin is not None:
                proc.stdin.write(data)
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()

    async def resizes() -> None:
        while True:
            width, height = await io.resize.get()
            if opts.tty and proc.master_fd is not None:
                proc.resize(height, width)

    async def copy(reader, channel: int) -> None:
        while data := await reader.read(65536):
            if (channel == STDOUT and opts.stdout) or (channel == STDERR and opts.stderr):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await io.write(channel, data)

    async def copy_tty() -> None:
        while data := await proc.read():
            if opts.stdout:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await io.write(STDOUT, data)

    if opts.stdin:
        tasks.append(asyncio.create_task(feed_stdin()))
    tasks.append(asyncio.create_task(resizes()))
    outputs = [asyncio.create_task(copy_tty())] if opts.tty else [
        asyncio.create_task(copy(proc.stdout, STDOUT)), asyncio.create_task(copy(proc.stderr, STDERR))]
    gone = asyncio.create_task(io.gone.wait())
    try:
        await asyncio.wait([asyncio.gather(*outputs), gone], return_when=asyncio.FIRST_COMPLETED)
        if io.gone.is_set() and not all(t.done() for t in outputs):
            proc.signal()  # the client went away: end the command, as a closed stream does
        code = await proc.wait()
        await asyncio.gather(*outputs, return_exceptions=True)
    finally:
        for t in tasks + outputs + [gone]:
            t.cancel()
        if proc.returncode is None:
            proc.signal()
            with contextlib.suppress(Exception):
                await proc.wait()
    return success_status() if code == 0 else exit_status(opts.command, code)
