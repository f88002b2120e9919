"""Reading CRI log files as the kubelet's ``/containerLogs`` serves them.

Records are ``<RFC3339Nano> <stream> <F|P> <content>`` (``runtime.logwriter``);
``P`` records are joined with what follows into one line. Options are
``v1.PodLogOptions``': ``tailLines``, ``sinceSeconds``/``sinceTime``,
``timestamps`` (the record's time and a space before each line),
``limitBytes`` and ``follow`` (keep reading as the file grows, reopen it
when the writer rotates it, and end once the container has exited and the
file is drained). Rotated files (``logwriter.rotated_files``) are read
before the current one.
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import datetime
import os
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from kybernetes.runtime import logwriter

POLL = 0.1


class OptionsError(ValueError):
    """A query parameter that does not parse (400)."""


@dataclass
class LogOptions:
    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, q) -> "LogOptions":
        def flag(name: str) -> bool:
            return q.get(name, "false").lower() in ("1", "true", "yes", "")

        def integer(name: str) -> int | None:
            v = q.get(name)
            if v is None or v == "":
                return None
            try:
                return int(v)
            except ValueError:
                raise OptionsError(f"invalid {name}: {v!r}") from None

        tail = q.get("tail")  # the kubelet's backwards-compatible alias
        opts = cls(follow=flag("follow"), previous=flag("previous"), timestamps=flag("timestamps"),
                   tail_lines=integer("tailLines"), limit_bytes=integer("limitBytes"))
        if tail is not None and tail != "all":
            opts.tail_lines = integer("tail")
        seconds = integer("sinceSeconds")
        if seconds is not None:
            if seconds < 1:
                raise OptionsError("sinceSeconds must be greater than 0")
            opts.since_ns = time.time_ns() - seconds * 1_000_000_000
        if q.get("sinceTime"):
            if seconds is not None:
                raise OptionsError("at most one of sinceTime or sinceSeconds may be specified")
            try:
                when = datetime.datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
            except ValueError:
                raise OptionsError(f"invalid sinceTime: {q['sinceTime']!r}") from None
            opts.since_ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
        if opts.tail_lines is not None and opts.tail_lines < 0:
            raise OptionsError("tailLines must be greater than or equal to 0")
        if opts.limit_bytes is not None and opts.limit_bytes < 1:
            raise OptionsError("limitBytes must be greater than 0")
        return opts


def timestamp_ns(ts: bytes) -> int:
    secs = calendar.timegm(time.strptime(ts[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
    frac = ts[20:].rstrip(b"Z").split(b"+")[0]
    return secs * 1_000_000_000 + int((frac.decode() or "0").ljust(9, "0")[:9])


@dataclass
class Record:
    ts: bytes
    stream: bytes
    partial: bool
    content: bytes


def parse(line: bytes) -> Record | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    content = parts[3] if len(parts) > 3 else b""
    return Record(parts[0], parts[1], parts[2] == b"P", content)


class _Formatter:
    """Records to output bytes: partials joined, timestamps at line starts, the byte limit."""

    def __init__(self, opts: LogOptions, write: Callable[[bytes], Awaitable[None]]) -> None:
        self.opts = opts
        self._write = write
        self.left = opts.limit_bytes
        self._mid_line: dict[bytes, bool] = {}

    @property
    def full(self) -> bool:
        return self.left is not None and self.left <= 0

    async def emit(self, rec: Record) -> None:
        if self.full:
            return
        if self.opts.since_ns is not None and not self._mid_line.get(rec.stream):
            try:
                if timestamp_ns(rec.ts) < self.opts.since_ns:
                    return
            except ValueError:
                pass
        out = b""
        if self.opts.timestamps and not self._mid_line.get(rec.stream):
            out = rec.ts + b" "
        out += rec.content if rec.partial else rec.content + b"\n"
        self._mid_line[rec.stream] = rec.partial
        if self.left is not None:
            out = out[: self.left]
            self.left -= len(out)
        await self._write(out)


def _lines(records: list[Record]) -> list[list[Record]]:
    """Group records into logical lines (P... then F) per stream, in order of their ends."""
    out: list[list[Record]] = []
    pending: dict[bytes, list[Record]] = {}
    for r in records:
        pending.setdefault(r.stream, []).append(r)
        if not r.partial:
            out.append(pending.pop(r.stream))
    out.extend(v for v in pending.values())
    return out


async def stream_logs(path: str, opts: LogOptions, write: Callable[[bytes], Awaitable[None]],
                      running: Callable[[], Awaitable[bool]]) -> None:
    """Write the container's log to ``write`` per ``opts``."""
    fmt = _Formatter(opts, write)
    files = [p for p in logwriter.rotated_files(path)] + [path]
    current = None
    try:
        current = open(path, "rb")
    except FileNotFoundError:
        pass
    if opts.tail_lines is not None:
        lines: collections.deque = collections.deque(maxlen=opts.tail_lines or 1)
        for p in files[:-1]:
            _collect(p, lines, opts)
        if current is not None:
            data = current.read()
            tail = data.rsplit(b"\n", 1)
            complete = data if data.endswith(b"\n") else (tail[0] + b"\n" if len(tail) > 1 else b"")
            current.seek(len(complete))
            recs = [r for r in map(parse, complete.splitlines()) if r is not None]
            for line in _lines(recs):
                lines.append(line)
        if opts.tail_lines:
            for line in lines:
                for rec in line:
                    await fmt.emit(rec)
    else:
        for p in files[:-1]:
            try:
                with open(p, "rb") as f:
                    for raw in f:
                        rec = parse(raw)
                        if rec is not None:
                            await fmt.emit(rec)
                        if fmt.full:
                            return
            except FileNotFoundError:
                continue
    if current is None:
        return
    try:
        await _follow(current, path, opts, fmt, running)
    finally:
        current.close()


def _collect(path: str, lines: collections.deque, opts: LogOptions) -> None:
    try:
        with open(path, "rb") as f:
            recs = [r for r in map(parse, f.read().splitlines()) if r is not None]
    except FileNotFoundError:
        return
    for line in _lines(recs):
        lines.append(line)


async def _follow(f, path: str, opts: LogOptions, fmt: _Formatter,
                  running: Callable[[], Awaitable[bool]]) -> None:
    try:
        await _follow_file(f, path, opts, fmt, running)
    except _Reopened as r:
        with r.file:
            await _follow(r.file, path, opts, fmt, running)


class _Reopened(Exception):
    def __init__(self, file) -> None:
        self.file = file


async def _follow_file(f, path: str, opts: LogOptions, fmt: _Formatter,
                       running: Callable[[], Awaitable[bool]]) -> None:
    buf = b""
    last_check = 0.0
    while not fmt.full:
        chunk = f.read(65536)
        if chunk:
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                rec = parse(raw)
                if rec is not None:
                    await fmt.emit(rec)
            continue
        if not opts.follow:
            return
        # At the end: has the writer rotated the file away?
        try:
            if os.stat(path).st_ino != os.fstat(f.fileno()).st_ino:
                raise _Reopened(open(path, "rb"))
        except FileNotFoundError:
            pass
        now = time.monotonic()
        if now - last_check >= 0.5:
            last_check = now
            if not await running():
                # One more pass: output written just before the exit.
                chunk = f.read()
                if not chunk:
                    return
                buf += chunk
                continue
        await asyncio.sleep(POLL)
