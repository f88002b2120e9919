"""Writing a container's output as a CRI log file, rotated by size.

The CRI logging format (kubernetes/cri-api, as containerd and CRI-O write
it, and as the kubelet's ``kuberuntime/logs`` parses it) is one record per
line::

    2016-10-06T00:17:09.669794202Z stdout F hello world

an RFC 3339 timestamp with nanoseconds, the stream (``stdout``/``stderr``),
a tag (``F`` full line, ``P`` partial: a line longer than the maximum line
size, 16 KiB as containerd's ``max_container_log_line_size`` default, is cut
into ``P`` records ending with an ``F`` one; output that ends without a
newline is flushed as ``P``, as containerd does), then the content.

Rotation is the kubelet's (``containerLogMaxSize`` 10 MiB,
``containerLogMaxFiles`` 5): when the file passes the size it is renamed to
``<path>.<YYYYmmdd-HHMMSS>`` and a new file opened; the oldest rotated files
beyond the count are deleted. (The kubelet also gzips older rotated files;
we leave them plain.) Imports only the standard library: the shim uses it.
"""

from __future__ import annotations

import os
import time

MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
MAX_LINE = 16 * 1024
STREAMS = ("stdout", "stderr")


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 UTC with nine fractional digits."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class CRILogWriter:
    """Turns raw stdout/stderr bytes into CRI records in ``path``."""

    def __init__(self, path: str, max_size: int = MAX_SIZE, max_files: int = MAX_FILES,
                 max_line: int = MAX_LINE) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.max_line = max_line
        self._pending = {s: b"" for s in STREAMS}
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file = open(path, "ab", buffering=0)

    def feed(self, stream: str, data: bytes) -> None:
        """Add output of ``stream``; complete lines are written at once."""
        buf = self._pending[stream] + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0 or nl > self.max_line:
                if len(buf) < self.max_line:
                    break
                self._record(stream, b"P", buf[: self.max_line])
                buf = buf[self.max_line:]
                continue
            line = buf[:nl]
            if line.endswith(b"\r"):
                line = line[:-1]
            self._record(stream, b"F", line)
            buf = buf[nl + 1:]
        self._pending[stream] = buf

    def close(self) -> None:
        """Flush unterminated output as partial records and close the file."""
        for stream in STREAMS:
            if self._pending[stream]:
                self._record(stream, b"P", self._pending[stream])
                self._pending[stream] = b""
        self._file.close()

    def _record(self, stream: str, tag: bytes, content: bytes) -> None:
        data = b" ".join((timestamp().encode(), stream.encode(), tag, content)) + b"\n"
        try:
            self._file.write(data)
        except OSError:
            return  # disk full or log dir gone: keep draining the container's output
        if self._file.tell() >= self.max_size:
            self.rotate()

    def rotate(self) -> None:
        """Rename the current file aside, open a fresh one, prune old ones."""
        self._file.close()
        suffix = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        target = f"{self.path}.{suffix}"
        n = 0
        while os.path.exists(target):
            n += 1
            target = f"{self.path}.{suffix}.{n}"
        try:
            os.rename(self.path, target)
        except FileNotFoundError:
            pass
        self._file = open(self.path, "ab", buffering=0)
        for old in rotated_files(self.path)[: -(self.max_files - 1) or None]:
            try:
                os.unlink(old)
            except FileNotFoundError:
                pass


def rotated_files(path: str) -> list[str]:
    """Rotated siblings of ``path``, oldest first."""
    out = []
    # os.listdir, not glob: the shim imports this module, and glob (re) costs it ~10 ms to start.
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        names = []
    for name in names:
        p = os.path.join(directory, name)
        if name.startswith(base + ".") and name[len(base) + 1:len(base) + 2].isdigit():
            try:
                out.append((os.stat(p).st_mtime_ns, p))
            except FileNotFoundError:
                continue
    # By time, not name: several rotations in one second get .1, .2 ... .10
    return [p for _, p in sorted(out)]
