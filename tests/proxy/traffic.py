"""Small programs run inside namespaces for the traffic tests, and their runners.

`SERVER` answers every TCP connection with its name and closes it; `CLIENT`
opens N connections to one address and prints how many answers came from
whom. They only ever talk to addresses the test created."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from tests.network import probes

SERVER = r"""
import socket, sys, threading
name, port = sys.argv[1].encode(), int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(128); print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(name)
    finally:
        c.close()
"""

CLIENT = r"""
import collections, json, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
for _ in range(n):
    try:
        c = socket.create_connection((host, port), timeout=2)
        seen[c.recv(100).decode() or "(empty)"] += 1
        c.close()
    except OSError as e:
        seen["error: " + (e.strerror or type(e).__name__)] += 1
print(json.dumps(seen))
"""


class Servers:
    """Echo servers started in pod namespaces, killed by PID at the end."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, netns: str, name: str, port: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            *probes.in_netns(netns, sys.executable, "-c", SERVER, name, str(port)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        self.procs.append(proc)
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line.strip() == b"ready", line

    async def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self.procs.clear()


async def connect_many(netns: str | None, host: str, port: int, n: int) -> dict[str, int]:
    """Answers by server name (and errors) for n connections from netns (None: the machine)."""
    proc = await asyncio.create_subprocess_exec(
        *probes.in_netns(netns, sys.executable, "-c", CLIENT, host, str(port), str(n)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def until(predicate, timeout: float = 15.0, interval: float = 0.1):
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout}s: last {result!r}")
        await asyncio.sleep(interval)
