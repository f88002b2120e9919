"""Processes started inside a running container with ``runc exec``.

The exec'd process gets the container's own process settings (user, env,
cwd, capabilities, noNewPrivileges, seccomp) from its ``config.json``, with
the arguments replaced, as ``crictl exec`` / CRI ``Exec`` behave. Without a
tty its stdin/stdout/stderr are pipes (asyncio streams on the handle); with
a tty runc allocates a pty inside the container and relays it to a pty of
ours, whose master end the handle reads, writes and resizes. ``runc exec`` stays the parent of the process and exits
with its status (128+signal when killed), so ``wait()`` is runc's exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios

from kybernetes.runtime import errors


def exec_process(container_spec: dict, argv: list[str], tty: bool, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> dict:
    """An OCI process object for ``argv`` based on the container's own process."""
    base = container_spec.get("process") or {}
    proc = {k: v for k, v in base.items() if k not in ("args", "terminal", "consoleSize")}
    proc["args"] = list(argv)
    proc["terminal"] = tty
    merged = list(base.get("env") or [])
    extra = dict(env or {})
    if tty:
        extra.setdefault("TERM", "xterm")
    for key, value in extra.items():
        merged = [e for e in merged if not e.startswith(key + "=")] + [f"{key}={value}"]
    proc["env"] = merged
    if cwd:
        proc["cwd"] = cwd
    return proc


class ExecProcess:
    """A handle on one ``runc exec``."""

    def __init__(self, runc_proc: asyncio.subprocess.Process, pid_file: str, process_file: str,
                 master_fd: int | None = None) -> None:
        self._proc = runc_proc
        self._pid_file = pid_file
        self._process_file = process_file
        self.master_fd = master_fd
        self.stdin = runc_proc.stdin
        self.stdout = runc_proc.stdout
        self.stderr = runc_proc.stderr
        self.returncode: int | None = None
        if master_fd is not None:
            os.set_blocking(master_fd, False)

    @property
    def pid(self) -> int | None:
        """Host pid of the exec'd process (from runc's pid file)."""
        try:
            with open(self._pid_file) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    async def wait(self) -> int:
        """Wait for the process; return its exit code; release files and the pty.

        With a tty, ``read()`` until ``b""`` first: closing the pty drops unread output.
        """
        self.returncode = await self._proc.wait()
        self._cleanup()
        return self.returncode

    async def communicate(self, data: bytes | None = None) -> tuple[bytes, bytes]:
        """Pipes only: send ``data``, collect stdout and stderr until exit."""
        out, err = await self._proc.communicate(data)
        self.returncode = self._proc.returncode
        self._cleanup()
        return out or b"", err or b""

    def signal(self, sig: int = signal.SIGKILL) -> None:
        """Signal the exec'd process itself (runc does not forward SIGKILL)."""
        pid = self.pid
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    async def read(self, n: int = 65536) -> bytes:
        """Tty only: read from the pty; ``b""`` once the process side is closed."""
        fd = self._need_pty()
        while True:
            try:
                return os.read(fd, n)
            except BlockingIOError:
                await self._ready(fd, writing=False)
            except OSError as e:
                if e.errno == errno.EIO:  # the slave side is gone: end of output
                    return b""
                raise

    async def write(self, data: bytes) -> None:
        """Tty only: write to the pty."""
        fd = self._need_pty()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                await self._ready(fd, writing=True)

    def resize(self, rows: int, cols: int) -> None:
        """Tty only: set the window size (the kubelet's resize channel)."""
        fcntl.ioctl(self._need_pty(), termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _need_pty(self) -> int:
        if self.master_fd is None:
            raise errors.ContainerRuntimeError("this exec has no tty")
        return self.master_fd

    async def _ready(self, fd: int, writing: bool) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        add, remove = (loop.add_writer, loop.remove_writer) if writing else (loop.add_reader, loop.remove_reader)
        add(fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            remove(fd)

    def _cleanup(self) -> None:
        for path in (self._pid_file, self._process_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
            self.master_fd = None
