"""API server benchmark: kybernetes over HTTPS on SQLite and on etcd, side by side.

    python3 bench/api.py [--quick]

Starts a real ``kyb server`` on a free loopback port, the API server alone
(no agent, controller manager or scheduler: they would react to every
benchmark object on the same cores), first on its embedded SQLite file, then
on a one-member etcd 3.4 started with ``tests/storage/etcdserver.EtcdCluster``,
and drives each through HTTPS with the admin client certificate from its
kubeconfig:

- create, get, list (100 ConfigMaps, consistent) and update (PUT carrying the
  resourceVersion last seen; 409s counted apart) of small ConfigMaps, at 1 and
  64 concurrent clients: requests/s and latency p50/p99;
- watch delivery latency (create acknowledged → event received) with 1 and
  64 watchers under a writer doing 100 creates/s;
- 10,000 pods created by 64 clients, then LIST of all of them from the watch
  cache (``resourceVersion=0``) and consistent (no resourceVersion);
- 1,000 concurrent watches while a writer does 100 creates/s: every event
  delivered to every watcher? latency from ack to receipt across all of them.

Watchers and the writer run in helper processes of their own (``bench/
watchfanout.py``); the throughput clients are asyncio tasks in this process.
Client and server share the machine's cores: the CPU table says who used
what. Then, for reference in the same run, the datastore measurements of
``bench/storage.py`` (its ``measure_store``, with shorter bounds) on a fresh
SQLite file and a fresh etcd. Everything listens on 127.0.0.1; servers, etcd
and helper processes are ended by PID and temporary directories removed, also
on an error or Ctrl-C. Results go to stdout as markdown (for BENCHMARKS.md),
progress to stderr. Never part of CI's pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Awaitable, Callable

from _root import BENCH, ROOT

import orjson  # noqa: E402

import watchfanout  # noqa: E402
from apiclient import BenchError, CpuMeter, Endpoint, call, cpu_seconds, now, raise_fd_limit  # noqa: E402
from kybernetes.storage import open_store  # noqa: E402
from tests.e2e.cluster import Server, free_port  # noqa: E402
from tests.storage.etcdserver import EtcdCluster  # noqa: E402


def _load_storage_bench():
    spec = importlib.util.spec_from_file_location("bench_storage", BENCH / "storage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_storage"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


storage_bench = _load_storage_bench()
percentile = storage_bench.percentile
progress = storage_bench.progress

NS_OPS, NS_LIST, NS_WATCH, NS_PODS = "bench-ops", "bench-list", "bench-watch", "bench-pods"
LIST_SMALL = 100       # ConfigMaps in the small LIST
UPDATE_POOL = 1_000    # ConfigMaps the updaters pick from (64 updaters collide now and then)
PODS = 10_000
WRITE_RATE = 100.0     # creates/s under watchers
FANOUT = 1_000
PAD = "x" * 200        # ConfigMap payload

# The API server alone (Server adds --disable-agent): kyb server's in-process controller
# manager and scheduler would otherwise react to every benchmark object on the same cores.
SERVER_ARGS = ("--disable-controller-manager", "--disable-scheduler")

SQLITE, ETCD = "SQLite", "etcd (1 member)"
BACKENDS = [SQLITE, ETCD]

# The targets, for 2 cores.
CREATE_64_MIN = 2_000.0   # creates/s at 64 clients, on SQLite
GET_64_P99_MAX = 0.020    # s
LIST_10K_MAX = 0.300      # s
FANOUT_P99_MAX = 0.250    # s


@dataclass(frozen=True)
class Settings:
    duration: float      # seconds per throughput measurement
    max_ops: int         # requests per throughput measurement, at most
    list_repeats: int    # LISTs of 10,000 pods, each way
    watch_seconds: float  # writing under 1 and 64 watchers
    fanout_seconds: float  # writing under 1,000 watchers
    drain_timeout: float  # after the last ack, how long watchers may take
    storage: object      # bench/storage.py's Settings for the reference figures

    @classmethod
    def for_args(cls, quick: bool) -> "Settings":
        if quick:
            return cls(duration=2.0, max_ops=20_000, list_repeats=2, watch_seconds=3.0,
                       fanout_seconds=5.0, drain_timeout=15.0,
                       storage=storage_bench.Settings(duration=1.0, max_ops=20_000,
                                                      list_repeats=1, watch_events=200))
        return cls(duration=5.0, max_ops=100_000, list_repeats=5, watch_seconds=5.0,
                   fanout_seconds=10.0, drain_timeout=20.0,
                   storage=storage_bench.Settings(duration=2.0, max_ops=50_000,
                                                  list_repeats=2, watch_events=400))


class Report:
    """Cells of the result tables: metric → backend → text."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, str]] = {}
        self.targets: dict[str, str] = {}
        self.cpu: dict[str, dict[str, str]] = {}
        self.storage: dict[str, dict[str, str]] = {}
        self.errors: list[str] = []

    def record(self, backend: str, metric: str, text: str, target: str = "",
               cpu: dict[str, float] | None = None) -> None:
        self.results.setdefault(metric, {})[backend] = text
        if target:
            self.targets[metric] = target
        if cpu is not None:
            self.cpu.setdefault(metric, {})[backend] = " · ".join(
                f"{name} {value:.0f}%" for name, value in cpu.items() if value == value)
        progress(f"{backend}: {metric}: {text}")


def mark(ok: bool) -> str:
    return " ✓" if ok else " ✗"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


# -- objects -------------------------------------------------------------------------


def configmap(name: str, value: str = "0", resource_version: str | None = None) -> bytes:
    meta: dict = {"name": name, "labels": {"bench": "api"}}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                         "data": {"value": value, "pad": PAD}})


def pod(i: int) -> bytes:
    return orjson.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"pod-{i:05d}", "labels": {"app": "bench", "shard": str(i % 16)}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    })


def resource_version(body: bytes) -> str:
    return orjson.loads(body)["metadata"]["resourceVersion"]


# -- request throughput --------------------------------------------------------------


@dataclass
class Load:
    rate: float
    p50: float
    p99: float
    conflicts: int
    cpu: dict[str, float]

    def cell(self) -> str:
        return f"{self.rate:,.0f}/s · {ms(self.p50)} / {ms(self.p99)} ms"


async def load(workers: int, op: Callable[[int], Awaitable[bool]], settings: Settings,
               meter: CpuMeter) -> Load:
    """``op(i)`` from ``workers`` tasks until ``max_ops`` or ``duration``; an
    op returns False for a 409 (counted, not timed)."""
    latencies: list[float] = []
    counter = conflicts = 0
    start = now()
    deadline = start + settings.duration
    meter.start()

    async def worker() -> None:
        nonlocal counter, conflicts
        while counter < settings.max_ops and now() < deadline:
            i = counter
            counter += 1
            began = now()
            if await op(i):
                latencies.append(now() - began)
            else:
                conflicts += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    elapsed = now() - start
    cpu = meter.stop()
    return Load(len(latencies) / elapsed, percentile(latencies, 50), percentile(latencies, 99),
                conflicts, cpu)


async def measure_requests(backend: str, endpoint: Endpoint, settings: Settings,
                           pids: dict[str, list[int | None]], report: Report) -> None:
    meter = CpuMeter(pids, self_as="client")
    async with endpoint.session(64) as s:
        for ns in (NS_OPS, NS_LIST, NS_WATCH, NS_PODS):
            await call(s, "POST", "/api/v1/namespaces", orjson.dumps({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), expect=(201,))
        # Warm up: 64 open connections, so that no TLS handshake is timed.
        await storage_bench.concurrently(64, list(range(256)),
                                         lambda _: call(s, "GET", f"/api/v1/namespaces/{NS_OPS}"))
        await storage_bench.concurrently(16, list(range(LIST_SMALL)), lambda i: call(
            s, "POST", f"/api/v1/namespaces/{NS_LIST}/configmaps", configmap(f"item-{i:03d}")))

        path = f"/api/v1/namespaces/{NS_OPS}/configmaps"
        rvs: dict[str, str | None] = {}
        for workers in (1, 64):
            async def create(i: int, workers: int = workers) -> bool:
                name = f"c{workers}-{i:07d}"
                _, body = await call(s, "POST", path, configmap(name), expect=(201,))
                rvs[name] = resource_version(body)
                return True

            r = await load(workers, create, settings, meter)
            target = ""
            text = r.cell()
            if workers == 64:
                target = f"≥ {CREATE_64_MIN:,.0f}/s on SQLite"
                if backend == SQLITE:
                    text += mark(r.rate >= CREATE_64_MIN)
            report.record(backend, f"create ConfigMap, {workers} client{'s' * (workers > 1)}",
                          text, target, r.cpu)

        names = list(rvs)
        rng = random.Random(1)
        for workers in (1, 64):
            async def get(_i: int) -> bool:
                await call(s, "GET", f"{path}/{rng.choice(names)}", expect=(200,))
                return True

            r = await load(workers, get, settings, meter)
            text, target = r.cell(), ""
            if workers == 64:
                text += mark(r.p99 <= GET_64_P99_MAX)
                target = f"p99 ≤ {GET_64_P99_MAX * 1e3:.0f} ms"
            report.record(backend, f"get ConfigMap, {workers} client{'s' * (workers > 1)}",
                          text, target, r.cpu)

        list_path = f"/api/v1/namespaces/{NS_LIST}/configmaps"
        _, body = await call(s, "GET", list_path, expect=(200,))
        # The namespace may hold the server's own ConfigMaps too (kube-root-ca.crt).
        mine = [o for o in orjson.loads(body)["items"] if o["metadata"]["name"].startswith("item-")]
        if len(mine) != LIST_SMALL:
            raise BenchError(f"listed {len(mine)} of the {LIST_SMALL} ConfigMaps created")
        for workers in (1, 64):
            async def list_(_i: int) -> bool:
                await call(s, "GET", list_path, expect=(200,))
                return True

            r = await load(workers, list_, settings, meter)
            report.record(backend, f"list {LIST_SMALL} ConfigMaps (consistent), {workers} "
                          f"client{'s' * (workers > 1)}", r.cell(), "", r.cpu)

        pool = names[-UPDATE_POOL:]
        for workers in (1, 64):
            async def update(i: int) -> bool:
                name = rng.choice(pool)
                rv = rvs[name]
                if rv is None:  # lost a race last time: read the current version (untimed)
                    _, body = await call(s, "GET", f"{path}/{name}", expect=(200,))
                    rv = resource_version(body)
                status, body = await call(s, "PUT", f"{path}/{name}", configmap(name, str(i), rv),
                                          expect=(200, 409))
                if status == 409:
                    rvs[name] = None
                    return False
                rvs[name] = resource_version(body)
                return True

            r = await load(workers, update, settings, meter)
            report.record(backend, f"update ConfigMap (PUT with resourceVersion), {workers} "
                          f"client{'s' * (workers > 1)}", f"{r.cell()} · {r.conflicts:,} × 409",
                          "", r.cpu)


# -- 10,000 pods ------------------------------------------------------------------------


async def measure_pods(backend: str, endpoint: Endpoint, settings: Settings,
                       pids: dict[str, list[int | None]], report: Report) -> None:
    server_pid = pids["API server"][0]
    path = f"/api/v1/namespaces/{NS_PODS}/pods"
    async with endpoint.session(64) as s:
        meter = CpuMeter(pids, self_as="client")
        meter.start()
        started = now()
        await storage_bench.concurrently(64, list(range(PODS)),
                                         lambda i: call(s, "POST", path, pod(i), expect=(201,)))
        took = now() - started
        report.record(backend, f"create {PODS:,} pods, 64 clients", f"{PODS / took:,.0f}/s",
                      "", meter.stop())

        for label, query in (("from the watch cache (resourceVersion=0)", "?resourceVersion=0"),
                             ("consistent (no resourceVersion)", "")):
            times, server_cpu = [], []
            size = 0
            for k in range(settings.list_repeats):
                cpu_before = cpu_seconds(server_pid)
                began = now()
                _, body = await call(s, "GET", path + query, expect=(200,))
                times.append(now() - began)
                server_cpu.append(cpu_seconds(server_pid) - cpu_before)
                if k == 0:
                    size = len(body)
                    count = len(orjson.loads(body)["items"])
                    if count != PODS:
                        raise BenchError(f"LIST returned {count} pods, wanted {PODS}")
            typical = statistics.median(times)
            report.record(
                backend, f"LIST {PODS:,} pods {label}: s per call",
                f"{typical:.3f} s (max {max(times):.3f}; server CPU {statistics.median(server_cpu):.2f} s;"
                f" {size / 2**20:.1f} MiB){mark(typical <= LIST_10K_MAX)}",
                f"≤ {LIST_10K_MAX:.1f} s")


# -- watches ------------------------------------------------------------------------------


def measure_watches(backend: str, endpoint: Endpoint, settings: Settings, watchers: int,
                    pids: dict[str, list[int | None]], report: Report) -> None:
    seconds = settings.fanout_seconds if watchers == FANOUT else settings.watch_seconds
    progress(f"{backend}: {watchers:,} watcher(s), {WRITE_RATE:g} creates/s for {seconds:g}s")
    result = watchfanout.run(
        endpoint, NS_WATCH, f"w{watchers}", watchers=watchers, rate=WRITE_RATE, seconds=seconds,
        processes=2 if watchers >= 256 else 1, server_pids=pids,
        drain_timeout=settings.drain_timeout, progress=progress)
    plural = "s" * (watchers > 1)
    if not result.latencies:
        report.record(backend, f"watch, {watchers:,} watcher{plural}", "no event received")
        return
    p50, p99 = percentile(result.latencies, 50), percentile(result.latencies, 99)
    latency = f"{ms(p50)} / {ms(p99)} ms"
    if watchers != FANOUT:
        extra = f" ({result.missing:,} missing)" if result.missing else ""
        report.record(backend, f"watch, {watchers} watcher{plural}, {WRITE_RATE:g} creates/s: "
                      "ack→event p50 / p99", latency + extra, "", result.cpu)
        return
    title = f"{FANOUT:,} watchers, {WRITE_RATE:g} creates/s × {seconds:g} s"
    delivered = f"{result.received:,} / {result.expected:,}"
    if result.missing:
        delivered += f" ({result.missing:,} missing"
        delivered += f"; {result.cut_off} streams cut off)" if result.cut_off else ")"
    if result.connected < watchers:
        delivered += f"; only {result.connected} watches opened"
    if result.failed_writes:
        delivered += f"; {result.failed_writes} creates failed"
    report.record(backend, f"{title}: events received / owed",
                  delivered + mark(result.missing == 0 and result.connected == watchers),
                  "every one")
    report.record(backend, f"{title}: ack→event p50 / p99", latency + mark(p99 <= FANOUT_P99_MAX),
                  f"p99 ≤ {FANOUT_P99_MAX * 1e3:.0f} ms", result.cpu)
    report.record(backend, f"{title}: submit→event p50 / p99; create p50 / p99 meanwhile",
                  f"{ms(percentile(result.from_submit, 50))} / {ms(percentile(result.from_submit, 99))} ms; "
                  f"{ms(percentile(result.write_latencies, 50))} / "
                  f"{ms(percentile(result.write_latencies, 99))} ms")
    report.record(backend, f"{title}: last event received after the last ack",
                  f"{result.last_delivery:.2f} s")


# -- the run -------------------------------------------------------------------------------


def measure_backend(backend: str, tmp: str, settings: Settings, etcd: EtcdCluster | None,
                    report: Report) -> None:
    slug = "sqlite" if etcd is None else "etcd"
    data_dir = os.path.join(tmp, f"server-{slug}")
    os.makedirs(data_dir, mode=0o700)
    args = list(SERVER_ARGS) + ([] if etcd is None else ["--datastore-endpoint", etcd.endpoints])
    server = Server(data_dir, free_port(), args)
    progress(f"{backend}: starting kyb server")
    # Started with SIGINT blocked (the mask is inherited): a Ctrl-C at the
    # terminal reaches this script, which then stops the server by its PID.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        endpoint = Endpoint.from_kubeconfig(server.kubeconfig, os.path.join(tmp, f"secrets-{slug}"))
        pids: dict[str, list[int | None]] = {"API server": [server.proc.pid]}  # type: ignore[union-attr]
        if etcd is not None:
            pids["etcd"] = [etcd.pid(0)]
        run_async(measure_requests(backend, endpoint, settings, pids, report))
        for watchers in (1, 64):
            measure_watches(backend, endpoint, settings, watchers, pids, report)
        run_async(measure_pods(backend, endpoint, settings, pids, report))
        measure_watches(backend, endpoint, settings, FANOUT, pids, report)
    except Exception as e:  # one backend failing still leaves the other's figures
        if _interrupted:  # the error came from the interruption: stop, do not go on
            raise KeyboardInterrupt from e
        report.errors.append(f"{backend}: {type(e).__name__}: {e}")
        progress(f"{backend}: FAILED:\n{traceback.format_exc()}\nserver log:\n{server.log_tail()}")
    finally:
        server.stop()


async def storage_reference(tmp: str, etcd_url: str, settings: Settings, report: Report) -> None:
    """bench/storage.py's measurements of both stores, with shorter bounds."""
    payload = os.urandom(storage_bench.VALUE_SIZE * 4)
    offsets = iter(range(10**12))

    def value_of() -> bytes:
        start = next(offsets) % (storage_bench.VALUE_SIZE * 3)
        return payload[start:start + storage_bench.VALUE_SIZE]

    for backend, url in ((SQLITE, f"sqlite://{tmp}/reference.db"), (ETCD, etcd_url)):
        store = open_store(url)
        await store.start()
        try:
            progress(f"storage reference: {backend}")
            await storage_bench.measure_store(backend, store, settings.storage, value_of, report.storage)
        finally:
            await store.close()


_interrupted = False


def _interrupt(signum: int, frame) -> None:
    """Ctrl-C or SIGTERM: remembered (so that an error it causes in a helper is
    not taken for a failed measurement), then KeyboardInterrupt."""
    global _interrupted
    _interrupted = True
    signal.default_int_handler(signum, frame)


def run_async(coro: Awaitable[object]) -> object:
    """``asyncio.run`` with Python's own SIGINT handler in place, so that
    asyncio turns a Ctrl-C into a cancellation and then KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short bounds (~3 minutes in all)")
    args = parser.parse_args()
    settings = Settings.for_args(args.quick)
    # SIGTERM cleans up as Ctrl-C does: servers, etcd and helpers ended, temp dirs removed.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    raise_fd_limit(8192)

    command = "python3 bench/api.py" + (" --quick" if args.quick else "")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    began = time.perf_counter()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-api-") as tmp:
        facts = storage_bench.machine_facts(tmp) + [("code", code_version())]
        measure_backend(SQLITE, tmp, settings, None, report)
        progress("starting etcd for the API server")
        with EtcdCluster(members=1) as cluster:
            measure_backend(ETCD, tmp, settings, cluster, report)
        progress("starting a fresh etcd for the storage reference")
        with EtcdCluster(members=1) as cluster:
            run_async(storage_reference(tmp, cluster.endpoints, settings, report))
    took = time.perf_counter() - began
    print_report(command, when, took, settings, facts, report)
    return 1 if report.errors else 0


def code_version() -> str:
    """The commit the server runs, and whether kybernetes/ differs from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = len(git("status", "--porcelain", "--", "kybernetes").splitlines())
    return commit + (f" + uncommitted changes to {changed} files under kybernetes/" if changed else "")


def table(header: list[str], rows: list[list[str]]) -> str:
    return storage_bench.table(header, rows)


def print_report(command: str, when: str, took: float, settings: Settings,
                 facts: list[tuple[str, str]], report: Report) -> None:
    print(f"Command: `{command}`  ")
    print(f"Date: {when} (took {took:.0f} s; at most {settings.duration:g} s or "
          f"{settings.max_ops:,} requests per throughput measurement)\n")
    print(storage_bench.table(["machine", ""], [[k, v] for k, v in facts], numeric=False))
    print()
    print(f"`kyb server {' '.join(SERVER_ARGS)} --disable-agent`: the API server alone. Client "
          "and server share the machine's cores (the client is Python too: aiohttp over TLS); "
          "the CPU table below says who used what.\n")
    print(table(["API server over HTTPS (req/s · latency p50 / p99)"] + BACKENDS + ["target (2 cores)"],
                [[metric] + [row.get(b, "—") for b in BACKENDS] + [report.targets.get(metric, "")]
                 for metric, row in report.results.items()]))
    print()
    print(table(["CPU during the measurement (% of one core)"] + BACKENDS,
                [[metric] + [row.get(b, "—") for b in BACKENDS] for metric, row in report.cpu.items()]))
    print()
    print(table(["datastore alone, same run (bench/storage.py `measure_store`, "
                 f"{settings.storage.duration:g} s per figure)"] + BACKENDS,  # type: ignore[attr-defined]
                [[metric] + [row.get(b, "—") for b in BACKENDS] for metric, row in report.storage.items()]))
    print(f"\nConfigMaps carry ~{len(PAD)} bytes of data; pods one container with requests "
          "(≈2 KiB each once defaulted and admitted). \"ack→event\": the writer process notes "
          "when the create's 201 arrived, each watcher (in other processes) when the event's "
          "bytes arrived, on one monotonic clock. Updates pick among "
          f"{UPDATE_POOL:,} ConfigMaps and send the resourceVersion last seen; a 409 is "
          "counted, not timed, and the next update of that object reads it first.")
    for error in report.errors:
        print(f"\n**Error:** {error}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers, etcd and helper processes stopped, temporary files removed",
              file=sys.stderr)
        sys.exit(130)
