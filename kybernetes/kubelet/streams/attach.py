"""attach: a running container's own output (and, where held, its stdin).

The container's stdout/stderr belong to its shim, which writes them to the
CRI log; attaching follows that log from its current end, so the client sees
what the main process writes from now on, on the right channels. Input
goes to the FIFO the shim holds as the container's stdin (``stdin`` in the
container dir), when the container was created with ``stdin: true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Awaitable, Callable

from kybernetes.kubelet.streams import logs, remotecommand


async def run_attach(log_path: str, stdin_path: str | None, opts: remotecommand.Options,
                     io: remotecommand.IO, running: Callable[[], Awaitable[bool]]) -> dict:
    async def write(stream: bytes, data: bytes) -> None:
        channel = remotecommand.STDERR if stream == b"stderr" and not opts.tty else remotecommand.STDOUT
        if (channel == remotecommand.STDOUT and opts.stdout) or (channel == remotecommand.STDERR and opts.stderr):
            await io.write(channel, data)

    async def outputs() -> None:
        try:
            f = open(log_path, "rb")
        except FileNotFoundError:
            return
        with f:
            f.seek(0, os.SEEK_END)
            buf = b""
            while True:
                chunk = f.read(65536)
                if chunk:
                    buf += chunk
                    *complete, buf = buf.split(b"\n")
                    for raw in complete:
                        rec = logs.parse(raw)
                        if rec is not None:
                            await write(rec.stream, rec.content if rec.partial else rec.content + b"\n")
                    continue
                try:
                    if os.stat(log_path).st_ino != os.fstat(f.fileno()).st_ino:
                        f.close()
                        f = open(log_path, "rb")
                        continue
                except FileNotFoundError:
                    pass
                if not await running():
                    return
                await asyncio.sleep(logs.POLL)

    async def feed_stdin() -> None:
        fd = None
        try:
            while data := await io.stdin.get():
                if fd is None:
                    fd = await asyncio.to_thread(os.open, stdin_path, os.O_WRONLY)
                await asyncio.to_thread(os.write, fd, data)
        finally:
            if fd is not None:
                os.close(fd)

    tasks = []
    if opts.stdin and stdin_path and os.path.exists(stdin_path):
        tasks.append(asyncio.create_task(feed_stdin()))
    out = asyncio.create_task(outputs())
    gone = asyncio.create_task(io.gone.wait())
    try:
        await asyncio.wait([out, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks + [out, gone]:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    return remotecommand.success_status()
