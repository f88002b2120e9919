"""Talking to a kybernetes API server from the benchmarks: credentials, sessions, CPU.

The admin kubeconfig that ``kyb server`` writes carries the CA and the client
certificate and key inline (base64). ``Endpoint.from_kubeconfig`` writes them
to files in a private directory that the caller owns and removes, because
``ssl`` loads certificates from files only. Sessions are aiohttp (the fastest
client available here) over TLS with the admin's client certificate.

The clock is ``time.monotonic`` (CLOCK_MONOTONIC): one clock for every process
on the machine, so a writer process and watcher processes can compare times.
"""

from __future__ import annotations

import base64
import math
import os
import resource
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

now = time.monotonic

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """An answer the benchmark did not expect (status and the start of the body)."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    ca: str
    cert: str
    key: str

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str, secrets_dir: str) -> "Endpoint":
        with open(kubeconfig) as f:
            config = yaml.safe_load(f)
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
        paths = {}
        for name, data in (("ca.crt", cluster["certificate-authority-data"]),
                           ("client.crt", user["client-certificate-data"]),
                           ("client.key", user["client-key-data"])):
            path = os.path.join(secrets_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(data))
            paths[name] = path
        return cls(cluster["server"], paths["ca.crt"], paths["client.crt"], paths["client.key"])

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def session(self, connections: int) -> aiohttp.ClientSession:
        """Keep-alive connections, at most ``connections`` at once (0: no limit)."""
        connector = aiohttp.TCPConnector(ssl=self.ssl_context(), limit=connections,
                                         limit_per_host=0)
        return aiohttp.ClientSession(self.url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120))


async def call(session: aiohttp.ClientSession, method: str, path: str, body: bytes | None = None,
               expect: tuple[int, ...] = (200, 201)) -> tuple[int, bytes]:
    async with session.request(method, path, data=body, headers=JSON_HEADERS) as resp:
        data = await resp.read()
        if resp.status not in expect:
            raise BenchError(f"{method} {path}: HTTP {resp.status}: {data[:300]!r}")
        return resp.status, data


def raise_fd_limit(wanted: int = 8192) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process ``pid`` (all its threads), or NaN."""
    if pid is None:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class CpuMeter:
    """CPU used over a span by groups of processes (by PID), as percent of
    one core; this process counts in the group ``self_as`` when given."""

    def __init__(self, groups: dict[str, list[int | None]], self_as: str | None = None):
        self.groups = groups
        self.self_as = self_as
        self._start = 0.0
        self._cpu: dict[str, float] = {}
        self._own = 0.0

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._start = now()
        self._cpu = self._read()
        self._own = time.process_time()

    def stop(self) -> dict[str, float]:
        elapsed = max(now() - self._start, 1e-9)
        used = {name: cpu - self._cpu[name] for name, cpu in self._read().items()}
        if self.self_as is not None:
            used[self.self_as] = used.get(self.self_as, 0.0) + time.process_time() - self._own
        return {name: 100 * seconds / elapsed for name, seconds in used.items()}
