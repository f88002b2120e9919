"""Watch fan-out: many HTTP watchers, one paced writer, each in processes of their own.

``run`` starts ``watchers`` long-lived watches on the ConfigMaps of one
namespace (``?watch=1&resourceVersion=<rv>``, so none can miss an event that
follows the start revision), spread over ``processes`` helper processes; a
writer process then creates ConfigMaps named ``<tag>-<seq>`` at ``rate`` per
second for ``seconds``. The writer notes when each create was acknowledged,
each watcher when each event arrived (a byte search for the name: no JSON
parsing, to keep the client cheap), on the machine-wide monotonic clock. The
collector (the calling process) does neither: it only waits, then matches
acks with receipts. A watcher that does not hold every event within
``drain_timeout`` seconds after the last ack counts its events as missing.

Helper processes are started with ``spawn`` and ended by their PID in any
case (SIGTERM, then SIGKILL), also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import re
import traceback
from array import array
from dataclasses import dataclass, field
from typing import Callable

import aiohttp
import orjson

from apiclient import BenchError, CpuMeter, Endpoint, call, now, raise_fd_limit

CONNECT_AT_ONCE = 32  # TLS handshakes in flight per watcher process
PAD = "x" * 200       # a small ConfigMap, as in the throughput measurements


@dataclass
class FanoutResult:
    watchers: int
    connected: int
    writes: int             # acknowledged creates
    failed_writes: int
    expected: int           # events owed: connected watchers × acknowledged writes
    received: int
    cut_off: int            # watch streams the server ended before the drain was over
    latencies: list[float]  # ack → receipt, every event received, seconds
    from_submit: list[float]  # submit → receipt, every event received, seconds
    write_latencies: list[float]  # submit → ack, seconds
    last_delivery: float    # last receipt − last ack, seconds
    cpu: dict[str, float] = field(default_factory=dict)  # percent of one core

    @property
    def missing(self) -> int:
        return self.expected - self.received


def run(endpoint: Endpoint, namespace: str, tag: str, *, watchers: int, rate: float,
        seconds: float, processes: int, server_pids: dict[str, list[int | None]],
        drain_timeout: float, progress: Callable[[str], None]) -> FanoutResult:
    rv = asyncio.run(_collection_revision(endpoint, namespace))
    path = (f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={rv}"
            "&timeoutSeconds=1800")
    ctx = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    try:
        pipes = []
        sizes = [watchers // processes + (1 if i < watchers % processes else 0) for i in range(processes)]
        for size in sizes:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_watcher_main, args=(endpoint, path, tag, size, theirs),
                               name=f"bench-watchers-{len(procs)}", daemon=True)
            proc.start()
            theirs.close()
            procs.append(proc)
            pipes.append(mine)
        writer_pipe, theirs = ctx.Pipe()
        writer = ctx.Process(target=_writer_main, args=(endpoint, namespace, tag, rate, seconds, theirs),
                             name="bench-writer", daemon=True)
        writer.start()
        theirs.close()
        procs.append(writer)

        connected = 0
        for pipe, proc in zip(pipes, procs):
            _, ok, failed = _receive(pipe, proc, 300, "ready")
            connected += ok
            if failed:
                progress(f"  {failed} watches could not be opened")
        _receive(writer_pipe, writer, 120, "ready")
        progress(f"  {connected} watcher(s) connected; writing {rate:g}/s for {seconds:g}s")

        meter = CpuMeter({**server_pids, "client": [p.pid for p in procs]})
        meter.start()
        writer_pipe.send(("go",))
        _, submits_raw, acks_raw, failed_writes = _receive(writer_pipe, writer, seconds * 4 + 120, "done")
        submits, acks = array("d"), array("d")
        submits.frombytes(submits_raw)
        acks.frombytes(acks_raw)
        acked = [i for i, t in enumerate(acks) if not math.isnan(t)]
        for pipe in pipes:
            pipe.send(("drain", len(acks), len(acked), now() + drain_timeout))
        receipts: list[array] = []
        cut_off = 0
        for pipe, proc in zip(pipes, procs):
            _, arrays, ended = _receive(pipe, proc, drain_timeout + 120, "done")
            for raw in arrays:
                receipt = array("d")
                receipt.frombytes(raw)
                receipts.append(receipt)
            cut_off += ended
        cpu = meter.stop()
    finally:
        _end(procs)

    latencies: list[float] = []
    from_submit: list[float] = []
    last_receipt = -math.inf
    for receipt in receipts:
        for i in acked:
            t = receipt[i]
            if t == t:  # not NaN
                latencies.append(t - acks[i])
                from_submit.append(t - submits[i])
                last_receipt = max(last_receipt, t)
    last_ack = max((acks[i] for i in acked), default=math.nan)
    return FanoutResult(
        watchers=watchers, connected=connected, writes=len(acked), failed_writes=failed_writes,
        expected=connected * len(acked), received=len(latencies), cut_off=cut_off,
        latencies=latencies, from_submit=from_submit, write_latencies=[acks[i] - submits[i] for i in acked],
        last_delivery=last_receipt - last_ack, cpu=cpu)


async def _collection_revision(endpoint: Endpoint, namespace: str) -> str:
    async with endpoint.session(1) as session:
        _, body = await call(session, "GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1")
        return orjson.loads(body)["metadata"]["resourceVersion"]


def _receive(pipe, proc, timeout: float, want: str) -> tuple:
    deadline = now() + timeout
    while not pipe.poll(0.2):
        if not proc.is_alive():
            raise BenchError(f"{proc.name} exited (code {proc.exitcode}) before '{want}'")
        if now() > deadline:
            raise BenchError(f"{proc.name}: no '{want}' within {timeout:.0f}s")
    message = pipe.recv()
    if message[0] == "error":
        raise BenchError(f"{proc.name} failed:\n{message[1]}")
    if message[0] != want:
        raise BenchError(f"{proc.name}: got {message[0]!r}, wanted {want!r}")
    return message


def _end(procs: list) -> None:
    """End the helper processes by PID: SIGTERM, then SIGKILL."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _child(main: Callable, *args) -> None:
    conn = args[-1]
    try:
        asyncio.run(main(*args))
    except KeyboardInterrupt:
        pass
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()


# -- watchers ---------------------------------------------------------------------------


def _watcher_main(endpoint: Endpoint, path: str, tag: str, count: int, conn) -> None:
    _child(_watchers, endpoint, path, tag, count, conn)


async def _watchers(endpoint: Endpoint, path: str, tag: str, count: int, conn) -> None:
    raise_fd_limit(2 * count + 256)
    loop = asyncio.get_running_loop()
    pattern = re.compile(rb'"name":"' + re.escape(tag.encode()) + rb'-(\d+)"')
    receipts: list[dict[int, float]] = [{} for _ in range(count)]
    ended = [False] * count
    opened = failed = 0
    all_open = asyncio.Event()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    watch_timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)

    async def watch(k: int, session: aiohttp.ClientSession) -> None:
        nonlocal opened, failed
        try:
            async with gate:
                resp = await session.get(path, timeout=watch_timeout)
            if resp.status != 200:
                raise BenchError(f"watch: HTTP {resp.status}: {(await resp.read())[:200]!r}")
        except Exception:
            failed += 1
            ended[k] = True
            if opened + failed == count:
                all_open.set()
            raise
        opened += 1
        if opened + failed == count:
            all_open.set()
        got = receipts[k]
        tail = b""
        try:
            async for chunk in resp.content.iter_any():
                t = now()
                data = tail + chunk if tail else chunk
                cut = data.rfind(b"\n") + 1  # a frame ends with a newline
                for m in pattern.finditer(data, 0, cut):
                    got.setdefault(int(m.group(1)), t)
                tail = data[cut:]
        finally:
            ended[k] = True
            resp.release()

    async with endpoint.session(0) as session:
        tasks = [asyncio.create_task(watch(k, session)) for k in range(count)]
        await asyncio.wait_for(all_open.wait(), 240)
        conn.send(("ready", opened, failed))
        _, total, acked, deadline = await loop.run_in_executor(None, conn.recv)
        while now() < deadline:
            if all(ended[k] or len(receipts[k]) >= acked for k in range(count)):
                break
            await asyncio.sleep(0.05)
        cut_off = sum(1 for k in range(count) if ended[k]) - failed
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    arrays = []
    for got in receipts:
        receipt = array("d", [math.nan]) * total
        for seq, t in got.items():
            if seq < total:
                receipt[seq] = t
        arrays.append(receipt.tobytes())
    conn.send(("done", arrays, cut_off))


# -- the writer -----------------------------------------------------------------------


def _writer_main(endpoint: Endpoint, namespace: str, tag: str, rate: float, seconds: float, conn) -> None:
    _child(_writer, endpoint, namespace, tag, rate, seconds, conn)


async def _writer(endpoint: Endpoint, namespace: str, tag: str, rate: float, seconds: float, conn) -> None:
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    submits = array("d", [math.nan]) * total
    acks = array("d", [math.nan]) * total
    failures = 0
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    async with endpoint.session(64) as session:
        # Open a few connections first: no TLS handshake inside the timed writes.
        await asyncio.gather(*(call(session, "GET", f"/api/v1/namespaces/{namespace}") for _ in range(8)))
        conn.send(("ready",))
        await loop.run_in_executor(None, conn.recv)

        async def write(i: int) -> None:
            nonlocal failures
            body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": f"{tag}-{i:06d}"},
                                 "data": {"seq": str(i), "pad": PAD}})
            submits[i] = now()
            try:
                await call(session, "POST", path, body, expect=(201,))
                acks[i] = now()
            except (BenchError, aiohttp.ClientError, asyncio.TimeoutError):
                failures += 1

        interval = 1 / rate
        start = now()
        tasks = []
        for i in range(total):
            pause = start + i * interval - now()
            if pause > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(write(i)))
        await asyncio.gather(*tasks)
    conn.send(("done", submits.tobytes(), acks.tobytes(), failures))


if __name__ == "__main__":
    raise SystemExit("a helper of bench/api.py; run that instead")
