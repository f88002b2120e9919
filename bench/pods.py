"""Pod startup benchmark: real pods on one real node (runc, netns, kubelet).

    python3 bench/pods.py [--pods 100] [--agents 0] [--keep-dir]

Starts ``kyb server`` with its in-process agent (its node is the one this
machine runs; ``--agents N`` adds ``kyb agent`` nodes beside it) on a free
network plan in a temporary directory, waits for the node(s) to be Ready,
then in a namespace of its own:

1. creates ``--pods`` pods at once (32 concurrent clients), each one
   container ``sleep 3600`` on the host fallback image ("busybox"), and
   waits until all are Running; then deletes them and waits until they are
   gone (the kubelet stops the containers and confirms the deletion);
2. creates ``--pods`` pods one at a time, each only after the previous one
   is Running; then deletes them the same way.

A watch on the namespace, opened before the first create, records when each
pod is first seen Running. Startup latency is reported two ways: from the
client's create call (sub-second precision) and from the pod's
``metadata.creationTimestamp`` (whole seconds, as kube's pod-startup SLI
measures it) to the Running observation. Throughput is pods Running per
second between the first create and the last Running. p50/p90/p99 are
nearest-rank percentiles. The machine has 2 cores shared with other work:
the server process's CPU time and the whole machine's busy core-seconds
are printed beside the results.

Everything is removed afterwards (processes by PID, ``kyb killall`` on each
data dir, the plan's network), also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import math
import os
import shutil
import sys
import tempfile
import time
import uuid

import _root  # noqa: F401 - the repository's packages importable

from kybernetes.api import registry  # noqa: E402
from kybernetes.api.status import StatusError  # noqa: E402
from kybernetes.client import kubeconfig, rest  # noqa: E402
from tests.e2e.cluster import NodeCluster, node_cluster  # noqa: E402

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
NAMESPACES = registry.lookup("", "v1", "namespaces")
SERVICE_ACCOUNTS = registry.lookup("", "v1", "serviceaccounts")


def progress(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def parse_time(s: str) -> float:
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def pod(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": "bench-pods"}},
            "spec": {"containers": [{"name": "sleep", "image": "busybox", "command": ["sleep", "3600"]}],
                     "terminationGracePeriodSeconds": 1}}


class Watcher:
    """Records the first time each pod of the namespace is seen Running, and deletions."""

    def __init__(self, client: rest.Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.running: dict[str, float] = {}
        self.created: dict[str, float] = {}  # creationTimestamp
        self.gone: dict[str, float] = {}
        self.changed = asyncio.Event()
        self.synced = asyncio.Event()

    async def run(self) -> None:
        rv = None
        while True:
            try:
                if rv is None:
                    listed = await self.client.list(PODS, self.namespace)
                    rv = listed["metadata"]["resourceVersion"]
                    for item in listed["items"]:
                        self._see("ADDED", item)
                    self.synced.set()
                async for kind, obj in self.client.watch(PODS, self.namespace, resource_version=rv,
                                                         timeout_seconds=600):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if kind != "BOOKMARK":
                        self._see(kind, obj)
            except StatusError as e:
                if e.code == 410:
                    rv = None
                    continue
                raise
            except rest.ClientError as e:
                progress(f"watch broke ({e}); resuming")
                await asyncio.sleep(0.5)

    def _see(self, kind: str, obj: dict) -> None:
        now = time.time()
        name = obj["metadata"]["name"]
        self.created.setdefault(name, parse_time(obj["metadata"]["creationTimestamp"]))
        if kind == "DELETED":
            self.gone.setdefault(name, now)
        elif (obj.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(name, now)
        self.changed.set()

    async def until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not done after {timeout:.0f}s")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))


async def wait_ready(client: rest.Client, names: list[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        nodes = {n["metadata"]["name"]: n for n in (await client.list(NODES))["items"]}
        ready = [n for n in names if n in nodes and any(
            c["type"] == "Ready" and c["status"] == "True" for c in nodes[n]["status"].get("conditions", []))]
        if len(ready) == len(names):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes not Ready after {timeout:.0f}s: {sorted(set(names) - set(ready))}")
        await asyncio.sleep(1)


async def create(client: rest.Client, namespace: str, name: str, sent: dict[str, float]) -> None:
    delay = 0.1
    while True:
        sent.setdefault(name, time.time())
        try:
            await client.create(PODS, pod(name), namespace)
            return
        except StatusError as e:  # the service account may not exist yet (403 Forbidden)
            if e.code not in (403, 429, 500, 503):
                raise
            sent.pop(name, None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def delete_all(client: rest.Client, watcher: Watcher, namespace: str, names: list[str],
                     timeout: float) -> float:
    start = time.time()
    sem = asyncio.Semaphore(32)

    async def one(name: str) -> None:
        async with sem:
            with contextlib.suppress(StatusError):
                await client.delete(PODS, name, namespace)
    await asyncio.gather(*(one(n) for n in names))
    await watcher.until(lambda: all(n in watcher.gone for n in names), timeout, "pods deleted")
    return time.time() - start


def report(title: str, names: list[str], sent: dict[str, float], watcher: Watcher) -> dict:
    from_create = [watcher.running[n] - sent[n] for n in names]
    from_stamp = [watcher.running[n] - watcher.created[n] for n in names]
    span = max(watcher.running[n] for n in names) - min(sent[n] for n in names)
    row = {"title": title, "pods": len(names), "seconds": span, "rate": len(names) / span,
           **{f"c{p}": percentile(from_create, p) for p in (50, 90, 99)},
           **{f"s{p}": percentile(from_stamp, p) for p in (50, 90, 99)}}
    progress(f"{title}: {len(names)} pods Running in {span:.1f}s ({row['rate']:.2f} pods/s);"
             f" create->Running p50 {row['c50']:.2f}s p99 {row['c99']:.2f}s")
    return row


def machine_busy() -> float:
    """Core-seconds the whole machine spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


async def bench(cluster: NodeCluster, count: int) -> list[dict]:
    async with rest.Client(kubeconfig.load(cluster.server.kubeconfig), component="bench-pods") as client:
        progress(f"waiting for nodes {cluster.node_names} to be Ready")
        await wait_ready(client, cluster.node_names)
        namespace = f"bench-pods-{uuid.uuid4().hex[:6]}"
        await client.create(NAMESPACES, {"metadata": {"name": namespace}})
        watcher = Watcher(client, namespace)
        watching = asyncio.create_task(watcher.run())
        rows = []
        try:
            await watcher.synced.wait()
            timeout = 60 + 6 * count
            # 1. all at once
            names = [f"burst-{i:03d}" for i in range(count)]
            sent: dict[str, float] = {}
            sem = asyncio.Semaphore(32)
            cpu0, busy0 = cpu_seconds(cluster.server.proc.pid), machine_busy()

            async def limited(name: str) -> None:
                async with sem:
                    await create(client, namespace, name, sent)
            progress(f"creating {count} pods at once")
            await asyncio.gather(*(limited(n) for n in names))
            await watcher.until(lambda: all(n in watcher.running for n in names), timeout, "burst Running")
            row = report(f"{count} at once", names, sent, watcher)
            row["busy"] = machine_busy() - busy0
            sample = await client.get(PODS, names[-1], namespace)
            st = sample["status"]
            progress(f"  e.g. {names[-1]}: node {sample['spec'].get('nodeName')}, podIP {st.get('podIP')},"
                     f" container {(st.get('containerStatuses') or [{}])[0].get('containerID', '')[:24]}")
            row["cpu"] = cpu_seconds(cluster.server.proc.pid) - cpu0
            row["delete"] = await delete_all(client, watcher, namespace, names, timeout)
            progress(f"deleted in {row['delete']:.1f}s")
            rows.append(row)
            # 2. one at a time
            names = [f"serial-{i:03d}" for i in range(count)]
            sent = {}
            cpu0, busy0 = cpu_seconds(cluster.server.proc.pid), machine_busy()
            progress(f"creating {count} pods one at a time")
            for i, name in enumerate(names):
                await create(client, namespace, name, sent)
                await watcher.until(lambda: name in watcher.running, 120, f"{name} Running")
                if (i + 1) % 20 == 0:
                    progress(f"  {i + 1}/{count}")
            row = report(f"{count} one at a time", names, sent, watcher)
            row["busy"] = machine_busy() - busy0
            row["cpu"] = cpu_seconds(cluster.server.proc.pid) - cpu0
            row["delete"] = await delete_all(client, watcher, namespace, names, timeout)
            progress(f"deleted in {row['delete']:.1f}s")
            rows.append(row)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            with contextlib.suppress(StatusError, rest.ClientError):
                await client.delete(NAMESPACES, namespace)
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--agents", type=int, default=0, help="kyb agent nodes beside the server's")
    parser.add_argument("--keep-dir", action="store_true", help="keep the temporary dir (logs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        progress("bench/pods.py needs root (runc, network namespaces)")
        return 2
    directory = tempfile.mkdtemp(prefix="kyb-bench-pods-")
    started = time.time()
    try:
        with node_cluster(directory, agents=args.agents) as cluster:
            try:
                rows = asyncio.run(bench(cluster, args.pods))
            except BaseException:
                progress(cluster.logs())
                raise
    finally:
        if args.keep_dir:
            progress(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    nodes = 1 + args.agents
    print(f"## Pod startup on {nodes} real node{'s' if nodes > 1 else ''}"
          f" ({os.cpu_count()} cores, {datetime.date.today()})\n")
    print("| run | pods | all Running after | pods/s | create→Running p50 / p90 / p99 |"
          " creationTimestamp→Running p50 / p99 | server CPU | machine CPU | delete all |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['title']} | {r['pods']} | {r['seconds']:.1f} s | {r['rate']:.2f} |"
              f" {r['c50']:.2f} / {r['c90']:.2f} / {r['c99']:.2f} s | {r['s50']:.1f} / {r['s99']:.1f} s |"
              f" {r['cpu']:.1f} s | {r['busy']:.0f} s |"
              f" {r['delete']:.1f} s |")
    print(f"\n(total {time.time() - started:.0f} s with cluster start and cleanup;"
          " server CPU is the kyb server process: API server, controllers, scheduler and the kubelet;"
          " machine CPU is every core's busy time, shims, runc and other work on the machine included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
