"""Datastore benchmark: the SQLite and etcd backends side by side.

    python3 bench/storage.py [--quick]

Measures, on each backend through the ``Store`` protocol (what the API server
uses): creates of 1 KiB values with 1 and 64 concurrent writers, gets of
existing keys with 1 and 64 concurrent readers, listing 10,000 keys in one
call and in pages of 500, and watch delivery latency under a paced writer.
Then raw baselines without any kybernetes code: etcd's JSON gateway driven
directly with aiohttp (plain puts and compare-and-put txns), and sqlite3
inserts with one row per commit and 64 rows per commit.

The SQLite file lives in a temporary directory; etcd is one member started
with ``tests/storage/etcdserver.EtcdCluster`` on 127.0.0.1. Both are removed
at the end, also on an error or Ctrl-C. Every measurement is bounded by a
count and a time. Results go to stdout as markdown (for BENCHMARKS.md),
progress to stderr. Never part of CI's pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import _root  # noqa: F401 - the repository's packages importable

import aiohttp  # noqa: E402

from kybernetes.storage import open_store  # noqa: E402
from kybernetes.storage.types import Store  # noqa: E402
from tests.storage.etcdserver import ETCD, EtcdCluster  # noqa: E402

PREFIX = "/registry/pods/bench/"
VALUE_SIZE = 1024
LIST_KEYS = 10_000
PAGE = 500
WATCH_RATE = 200.0  # writes/s during the watch latency measurement


@dataclass(frozen=True)
class Settings:
    duration: float  # seconds per throughput measurement
    max_ops: int  # operations per throughput measurement, at most
    list_repeats: int
    watch_events: int

    @classmethod
    def for_args(cls, quick: bool) -> "Settings":
        if quick:
            return cls(duration=2.0, max_ops=50_000, list_repeats=1, watch_events=300)
        return cls(duration=10.0, max_ops=200_000, list_repeats=3, watch_events=2_000)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- measuring -------------------------------------------------------------------


async def throughput(workers: int, op: Callable[[int], Awaitable[object]],
                     settings: Settings) -> tuple[float, int]:
    """Run ``op(i)`` for i = 0, 1, ... from ``workers`` tasks until
    ``settings.max_ops`` ops or ``settings.duration`` seconds; returns
    (ops/s, ops)."""
    counter = 0
    start = time.perf_counter()
    deadline = start + settings.duration

    async def worker() -> None:
        nonlocal counter
        while counter < settings.max_ops and time.perf_counter() < deadline:
            i = counter
            counter += 1
            await op(i)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    elapsed = time.perf_counter() - start
    return counter / elapsed, counter


async def concurrently(workers: int, items: list, op: Callable[[object], Awaitable[object]]) -> None:
    """Apply ``op`` to every item from ``workers`` tasks (unbounded by time)."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            await op(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    return percentile(values, 50)


# -- the Store measurements ---------------------------------------------------------


async def measure_store(name: str, store: Store, settings: Settings, value_of: Callable[[], bytes],
                        results: dict[str, dict[str, str]]) -> None:
    def record(metric: str, text: str) -> None:
        results.setdefault(metric, {})[name] = text
        progress(f"{name}: {metric}: {text}")

    # Warm up: open connections (etcd) and reader threads (SQLite).
    await concurrently(64, list(range(256)), lambda _: store.get(PREFIX + "missing"))

    written: list[str] = []
    for workers in (1, 64):
        async def create(i: int, workers: int = workers) -> None:
            key = f"{PREFIX}w{workers}/{i:08d}"
            await store.create(key, value_of())
            written.append(key)

        rate, n = await throughput(workers, create, settings)
        record(f"writes/s, {workers} writer{'s' * (workers > 1)} (create, 1 KiB)", f"{rate:,.0f}")

    rng = random.Random(1)
    for workers in (1, 64):
        async def get(_i: int) -> None:
            if await store.get(rng.choice(written)) is None:
                raise AssertionError("a written key is missing")

        rate, n = await throughput(workers, get, settings)
        record(f"reads/s, {workers} reader{'s' * (workers > 1)} (get)", f"{rate:,.0f}")

    # 10,000 keys under their own prefix, written by 64 writers.
    list_prefix = PREFIX + "list/"
    started = time.perf_counter()
    await concurrently(64, [f"{list_prefix}{i:06d}" for i in range(LIST_KEYS)],
                       lambda key: store.create(key, value_of()))
    progress(f"{name}: filled {LIST_KEYS:,} keys in {time.perf_counter() - started:.1f}s")

    one_call = []
    for _ in range(settings.list_repeats):
        started = time.perf_counter()
        result = await store.list(list_prefix)
        one_call.append(time.perf_counter() - started)
        if len(result.kvs) != LIST_KEYS:
            raise AssertionError(f"listed {len(result.kvs)} keys, wanted {LIST_KEYS}")
    record(f"list {LIST_KEYS:,} keys, one call (s)", f"{median(one_call):.3f}")

    paged = []
    for _ in range(settings.list_repeats):
        started = time.perf_counter()
        token, total, pages = None, 0, 0
        while True:
            result = await store.list(list_prefix, limit=PAGE, continue_token=token)
            total += len(result.kvs)
            pages += 1
            token = result.continue_token
            if token is None:
                break
        paged.append(time.perf_counter() - started)
        if total != LIST_KEYS:
            raise AssertionError(f"paged through {total} keys, wanted {LIST_KEYS}")
    record(f"list {LIST_KEYS:,} keys, limit={PAGE} ({pages} pages) (s)", f"{median(paged):.3f}")

    ack, submit, missing = await watch_latency(name, store, settings, value_of)
    record("watch latency ack→event p50 / p99 (ms)",
           f"{percentile(ack, 50) * 1e3:.3f} / {percentile(ack, 99) * 1e3:.3f}")
    record("watch latency submit→event p50 / p99 (ms)",
           f"{percentile(submit, 50) * 1e3:.3f} / {percentile(submit, 99) * 1e3:.3f}"
           + (f" ({missing} lost)" if missing else ""))


async def watch_latency(name: str, store: Store, settings: Settings,
                        value_of: Callable[[], bytes]) -> tuple[list[float], list[float], int]:
    """One watcher on a prefix, one writer creating keys at WATCH_RATE/s.
    For each key: submit (just before ``create`` is called), ack (when it
    returns) and the moment the watcher holds the event."""
    prefix = PREFIX + "watch/"
    received: dict[str, float] = {}
    arrived = asyncio.Event()
    stream = store.watch(prefix)

    async def watcher() -> None:
        async for batch in stream:
            now = time.perf_counter()
            for event in batch:
                received[event.kv.key] = now
            arrived.set()

    task = asyncio.create_task(watcher())
    try:
        # The watch is live once it delivers this (etcd opens it in the background).
        ready = prefix + "ready"
        await store.create(ready, b"ready")
        while ready not in received:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 10)

        submitted: dict[str, float] = {}
        acked: dict[str, float] = {}
        interval = 1 / WATCH_RATE
        start = time.perf_counter()
        deadline = start + max(settings.duration, settings.watch_events * interval * 2)
        for i in range(settings.watch_events):
            pause = start + i * interval - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            if time.perf_counter() > deadline:
                break
            key = f"{prefix}{i:06d}"
            submitted[key] = time.perf_counter()
            await store.create(key, value_of())
            acked[key] = time.perf_counter()
        give_up = time.perf_counter() + 10
        while not all(k in received for k in acked) and time.perf_counter() < give_up:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), 1)
            except TimeoutError:
                pass
    finally:
        await stream.close()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    keys = [k for k in acked if k in received]
    progress(f"{name}: watch: {len(keys)} of {len(acked)} writes seen")
    ack = [received[k] - acked[k] for k in keys]
    submit = [received[k] - submitted[k] for k in keys]
    return ack, submit, len(acked) - len(keys)


# -- raw baselines (no kybernetes code) ----------------------------------------------


async def raw_etcd(url: str, settings: Settings, value_of: Callable[[], bytes],
                   results: dict[str, dict[str, str]]) -> None:
    """etcd's v3 JSON gateway driven directly: what the backend costs on top."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def post(path: str, body: dict) -> dict:
            async with session.post(url + path, json=body) as resp:
                answer = await resp.json()
                if resp.status != 200:
                    raise AssertionError(f"{path}: HTTP {resp.status}: {answer}")
                return answer

        async def put(i: int, tag: str) -> None:
            await post("/v3/kv/put", {"key": b64(f"/bench-raw/put{tag}/{i:08d}".encode()),
                                      "value": b64(value_of())})

        async def cas(i: int, tag: str) -> None:
            key = b64(f"/bench-raw/txn{tag}/{i:08d}".encode())
            answer = await post("/v3/kv/txn", {
                "compare": [{"key": key, "target": "CREATE", "result": "EQUAL",
                             "create_revision": "0"}],
                "success": [{"request_put": {"key": key, "value": b64(value_of())}}],
            })
            if not answer.get("succeeded"):
                raise AssertionError("compare-and-put refused")

        await concurrently(64, list(range(256)), lambda i: put(i, "warmup"))
        rows = {"raw etcd gateway put (aiohttp, no CAS)": put,
                "raw etcd gateway txn: compare create_revision=0, put": cas}
        for label, op in rows.items():
            for workers in (1, 64):
                rate, _ = await throughput(workers, lambda i, op=op, w=workers: op(i, str(w)), settings)
                results.setdefault(label, {})[f"{workers}"] = f"{rate:,.0f}"
                progress(f"{label}, {workers} clients: {rate:,.0f}/s")


def raw_sqlite(path: str, settings: Settings, value_of: Callable[[], bytes],
               results: dict[str, dict[str, str]]) -> None:
    """sqlite3 alone, same durability as the backend (WAL, synchronous=FULL):
    one INSERT per commit, and 64 INSERTs per commit (group commit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL)")
        conn.execute("CREATE INDEX log_key_rev ON log (key, rev)")
        rev = 0
        for label, per_commit in (("raw sqlite3 insert, WAL synchronous=FULL, 1 row per commit", 1),
                                  ("raw sqlite3 insert, WAL synchronous=FULL, 64 rows per commit", 64)):
            rows = 0
            start = time.perf_counter()
            deadline = start + settings.duration
            while rows < settings.max_ops and time.perf_counter() < deadline:
                conn.execute("BEGIN IMMEDIATE")
                for _ in range(per_commit):
                    rev += 1
                    conn.execute("INSERT INTO log VALUES (?, ?, ?)",
                                 (rev, f"{PREFIX}raw/{rev:08d}", value_of()))
                conn.execute("COMMIT")
                rows += per_commit
            rate = rows / (time.perf_counter() - start)
            results.setdefault(label, {})["1" if per_commit == 1 else "64"] = f"{rate:,.0f}"
            progress(f"{label}: {rate:,.0f} rows/s")
    finally:
        conn.close()


# -- the run ---------------------------------------------------------------------------


def machine_facts(tmp: str) -> list[tuple[str, str]]:
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = first_line(["sh", "-c", f"df -T {tmp} | tail -1 | awk '{{print $2\" on \"$1}}'"])
    return [
        ("nproc", f"{len(os.sched_getaffinity(0))} ({cpu})"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("kernel", platform.release()),
        ("python", platform.python_version()),
        ("sqlite", sqlite3.sqlite_version),
        ("etcd", first_line([ETCD, "--version"]).replace("etcd Version: ", "")),
        ("aiohttp", aiohttp.__version__),
        ("temp dir filesystem (SQLite file, etcd data)", fs),
    ]


async def measure(settings: Settings, tmp: str, etcd_url: str) -> tuple[dict, dict]:
    results: dict[str, dict[str, str]] = {}
    baselines: dict[str, dict[str, str]] = {}
    payload = os.urandom(VALUE_SIZE * 4)
    offsets = iter(range(10**12))

    def value_of() -> bytes:  # 1 KiB, different from one write to the next
        start = next(offsets) % (VALUE_SIZE * 3)
        return payload[start:start + VALUE_SIZE]

    stores = {"SQLite": open_store(f"sqlite://{tmp}/state.db"), "etcd (1 member)": open_store(etcd_url)}
    started: list[Store] = []
    try:
        for name, store in stores.items():
            await store.start()
            started.append(store)
        for name, store in stores.items():
            progress(f"measuring {name}")
            await measure_store(name, store, settings, value_of, results)
    finally:
        for store in started:
            await store.close()
    progress("raw baselines")
    await raw_etcd(etcd_url, settings, value_of, baselines)
    await asyncio.to_thread(raw_sqlite, f"{tmp}/raw.db", settings, value_of, baselines)
    return results, baselines


def table(header: list[str], rows: list[list[str]], numeric: bool = True) -> str:
    rule = ["---"] + ["---:" if numeric else "---"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per measurement (~1 minute in all)")
    args = parser.parse_args()
    settings = Settings.for_args(args.quick)
    # SIGTERM cleans up as Ctrl-C does: stores closed, etcd killed, temp dirs removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    command = "python3 bench/storage.py" + (" --quick" if args.quick else "")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-") as tmp:
        facts = machine_facts(tmp)
        progress("starting etcd")
        with EtcdCluster(members=1) as cluster:
            results, baselines = asyncio.run(measure(settings, tmp, cluster.endpoints))
    took = time.perf_counter() - began

    names = ["SQLite", "etcd (1 member)"]
    print(f"Command: `{command}`  ")
    print(f"Date: {when} (took {took:.0f} s; at most {settings.duration:g} s or "
          f"{settings.max_ops:,} ops per throughput measurement)\n")
    print(table(["machine", ""], [[k, v] for k, v in facts], numeric=False))
    print()
    print(table(["measurement (through the Store protocol)"] + names,
                [[metric] + [row.get(n, "—") for n in names] for metric, row in results.items()]))
    print()
    print(table(["raw baseline, no kybernetes code (writes/s)", "1 client", "64 clients"],
                [[label, row.get("1", "—"), row.get("64", "—")] for label, row in baselines.items()]))
    print("\nWatch: one watcher on the prefix, one writer creating keys at "
          f"{WATCH_RATE:g}/s; \"submit\" is just before `create()` is called, \"ack\" when it "
          "returns. A negative ack→event means the watcher held the event before the writer "
          "resumed from its ack. Raw sqlite3 \"64 clients\" is one thread committing 64 rows "
          "per transaction.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; etcd stopped and temporary files removed", file=sys.stderr)
        sys.exit(130)
