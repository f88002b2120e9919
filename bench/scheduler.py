"""Scheduler benchmark: scheduling throughput on hollow nodes, and a 1,000-replica rollout.

    python3 bench/scheduler.py [--quick] [--nodes 100,1000,5000] [--pods 10000]

For each node count, on a fresh ``kyb server --disable-scheduler
--cluster-cidr 10.128.0.0/9`` (its controller manager running, as in a real
control plane; the /9 leaves node IPAM a podCIDR for every node) with its own
SQLite file on a free loopback port:

1. ``kyb hollow-nodes --count N`` (a process of its own) registers N
   simulated nodes (4 cpu, 16Gi, 110 pods each); the time until all are Ready
   is reported, with the Lease renewals per second the server then absorbs.
2. The pods (10m cpu, 10Mi each) are created by 64 concurrent clients with
   no scheduler running (creates/s: the API figure beside the result).
3. ``kyb scheduler`` (a process of its own, leader election on) starts; a
   watch records when each pod gets its node. Throughput is pods bound per
   second between the first and the last binding (kube-scheduler's
   scheduler_perf "SchedulingThroughput"); the time from the scheduler's
   start to the last binding includes its informers' initial LIST. The
   hollow nodes set every pod Running meanwhile.

Then, on a fresh 100-node cluster with ``kyb scheduler`` running, a
Deployment of 1,000 replicas is created and the time until its status
reports 1,000 ready replicas is measured (deployment and replicaset
controllers, scheduler and hollow kubelets all in the loop).

Processes are ended by PID and temporary directories removed, also on error
or Ctrl-C. Results go to stdout as markdown (for BENCHMARKS.md), progress to
stderr. CPU per process is reported as percent of one core (2 cores shared).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from _root import ROOT

from apiclient import CpuMeter, raise_fd_limit  # noqa: E402
from kybernetes.api import registry  # noqa: E402
from kybernetes.api.status import StatusError  # noqa: E402
from kybernetes.client import kubeconfig, rest  # noqa: E402
from tests.e2e.cluster import Server, free_port  # noqa: E402

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
NAMESPACES = registry.lookup("", "v1", "namespaces")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
DEPLOYMENTS = registry.lookup("apps", "v1", "deployments")
NS = "bench-sched"
CREATORS = 64


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pod(i: int) -> dict:
    return {"metadata": {"name": f"p{i:05d}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}}


class Component:
    """A ``kyb <component>`` subprocess, logging to a file, ended by PID."""

    def __init__(self, args: list[str], log_path: str):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", *args],
                                     cwd=ROOT, stdout=self.log, stderr=self.log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Cluster:
    """A fresh server plus hollow nodes (and, on demand, a scheduler)."""

    def __init__(self, tmp: str, nodes: int):
        self.dir = tempfile.mkdtemp(prefix=f"sched-{nodes}-", dir=tmp)
        self.nodes = nodes
        # A /9 of /24s: room for 32,768 nodes' podCIDRs (10.244.0.0/16 holds only 256).
        self.server = Server(self.dir, free_port(),
                             args=["--disable-scheduler", "--cluster-cidr", "10.128.0.0/9"])
        self.hollow: Component | None = None
        self.scheduler: Component | None = None

    def __enter__(self) -> "Cluster":
        self.server.start(timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for c in (self.scheduler, self.hollow):
            if c is not None:
                c.stop()
        self.server.stop()

    def start_hollow(self) -> None:
        self.hollow = Component(["hollow-nodes", "--kubeconfig", self.server.kubeconfig,
                                 "--count", str(self.nodes)], os.path.join(self.dir, "hollow.log"))

    def start_scheduler(self) -> None:
        self.scheduler = Component(["scheduler", "--kubeconfig", self.server.kubeconfig],
                                   os.path.join(self.dir, "scheduler.log"))

    def client(self) -> rest.Client:
        return rest.Client(kubeconfig.load(self.server.kubeconfig), component="bench", timeout=120)

    def pids(self) -> dict[str, list[int | None]]:
        return {"kyb server": [self.server.proc.pid if self.server.proc else None],
                "kyb scheduler": [self.scheduler.pid if self.scheduler else None],
                "kyb hollow-nodes": [self.hollow.pid if self.hollow else None]}


async def wait_nodes_ready(client: rest.Client, count: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        items = (await client.list(NODES))["items"]
        ready = sum(1 for n in items if any(c["type"] == "Ready" and c["status"] == "True"
                                             for c in n["status"].get("conditions") or ()))
        if ready >= count:
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    raise TimeoutError(f"only {ready}/{count} nodes Ready after {timeout}s")


async def lease_times(client: rest.Client) -> dict[str, str]:
    items = (await client.list(LEASES, "kube-node-lease"))["items"]
    return {i["metadata"]["name"]: i["spec"].get("renewTime", "") for i in items}


async def not_ready(client: rest.Client) -> int:
    items = (await client.list(NODES))["items"]
    return sum(1 for n in items if not any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"].get("conditions") or ()))


async def create_pods(client: rest.Client, n: int) -> float:
    await client.create(NAMESPACES, {"metadata": {"name": NS}})
    todo = iter(range(n))
    started = time.monotonic()

    async def creator() -> None:
        for i in todo:
            await client.create(PODS, pod(i), NS)
    await asyncio.gather(*(creator() for _ in range(CREATORS)))
    return n / (time.monotonic() - started)


async def watch_bindings(client: rest.Client, n: int, rv: str, bound: dict[str, float],
                         running: dict[str, float], done: asyncio.Event) -> None:
    while len(running) < n:
        try:
            async for type_, obj in client.watch(PODS, NS, resource_version=rv, timeout_seconds=3600):
                rv = obj["metadata"].get("resourceVersion", rv)
                if type_ not in ("ADDED", "MODIFIED"):
                    continue
                name = obj["metadata"]["name"]
                if obj["spec"].get("nodeName") and name not in bound:
                    bound[name] = time.monotonic()
                    if len(bound) == n:
                        done.set()
                if obj.get("status", {}).get("phase") == "Running" and name not in running:
                    running[name] = time.monotonic()
                if len(running) >= n:
                    return
        except (StatusError, rest.ClientError) as e:
            progress(f"watch restarted: {e}")


async def measure_throughput(tmp: str, nodes: int, pods: int) -> dict:
    with Cluster(tmp, nodes) as cluster:
        async with cluster.client() as client:
            cluster.start_hollow()
            progress(f"{nodes} nodes: registering hollow nodes")
            register_s = await wait_nodes_ready(client, nodes, timeout=max(120, nodes / 10))
            await asyncio.sleep(12)  # a full lease round: renewals are now steady
            meter = CpuMeter(cluster.pids(), self_as="bench")
            before = await lease_times(client)
            meter.start()
            await asyncio.sleep(10)
            idle_cpu = meter.stop()
            after = await lease_times(client)
            renewed = sum(1 for k, v in after.items() if before.get(k) != v)
            progress(f"{nodes} nodes: Ready in {register_s:.1f}s; creating {pods} pods")
            create_rate = await create_pods(client, pods)
            listed = await client.list(PODS, NS, limit=1)
            rv = listed["metadata"]["resourceVersion"]
            bound: dict[str, float] = {}
            running: dict[str, float] = {}
            done = asyncio.Event()
            watcher = asyncio.create_task(watch_bindings(client, pods, rv, bound, running, done))
            progress(f"{nodes} nodes: {create_rate:.0f} creates/s; starting kyb scheduler")
            start = time.monotonic()
            cluster.start_scheduler()
            meter = CpuMeter(cluster.pids(), self_as="bench")
            meter.start()
            await asyncio.wait_for(done.wait(), timeout=max(600, pods / 10))
            cpu = meter.stop()
            times = sorted(bound.values())
            try:
                await asyncio.wait_for(watcher, timeout=max(300, pods / 20))
            except TimeoutError:
                progress(f"{nodes} nodes: only {len(running)} pods Running")
            all_running = max(running.values()) - start if len(running) == pods else float("nan")
            result = {"nodes": nodes, "pods": pods, "register_s": register_s,
                      "create_rate": create_rate, "throughput": (pods - 1) / (times[-1] - times[0]),
                      "first_bind_s": times[0] - start, "last_bind_s": times[-1] - start,
                      "running_s": all_running, "cpu": cpu, "idle_cpu": idle_cpu,
                      "renewed": renewed, "not_ready": await not_ready(client)}
            progress(f"{nodes} nodes: {result['throughput']:.0f} pods/s")
            return result


async def measure_deployment(tmp: str, nodes: int, replicas: int) -> dict:
    with Cluster(tmp, nodes) as cluster:
        async with cluster.client() as client:
            cluster.start_hollow()
            await wait_nodes_ready(client, nodes, timeout=120)
            cluster.start_scheduler()
            await client.create(NAMESPACES, {"metadata": {"name": NS}})
            await asyncio.sleep(5)  # the scheduler takes its lease and syncs
            progress(f"deployment: {replicas} replicas on {nodes} nodes")
            dep = {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "big", "namespace": NS},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "big"}},
                            "template": {"metadata": {"labels": {"app": "big"}},
                                         "spec": {"containers": [{"name": "c", "image": "pause",
                                                                  "resources": {"requests": {"cpu": "10m"}}}]}}}}
            meter = CpuMeter(cluster.pids(), self_as="bench")
            start = time.monotonic()
            meter.start()
            await client.create(DEPLOYMENTS, dep, NS)
            ready, note = 0, ""
            while time.monotonic() - start < 600:
                await asyncio.sleep(0.5)
                st = (await client.get(DEPLOYMENTS, "big", NS)).get("status") or {}
                ready = st.get("readyReplicas") or 0
                if ready >= replicas:
                    break
                if time.monotonic() - start > 60 and not (await client.list(PODS, NS, limit=1))["items"]:
                    note = "no pod created within 60 s: is the deployment controller running?"
                    break
            else:
                note = "not all ready within 600 s"
            if note:
                progress(f"deployment: {note}")
            took = time.monotonic() - start
            cpu = meter.stop()
            running = sum(1 for p in (await client.list(PODS, NS))["items"]
                          if p["status"].get("phase") == "Running")
            return {"nodes": nodes, "replicas": replicas, "ready": ready, "running": running,
                    "seconds": took, "cpu": cpu, "note": note}


def cpu_cell(cpu: dict) -> str:
    return ", ".join(f"{name} {pct:.0f}%" for name, pct in cpu.items() if pct == pct and pct > 0.5)


def report(args, results: list[dict], deployment: dict | None, took: float) -> None:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"Command: `{' '.join(['python3', 'bench/scheduler.py', *sys.argv[1:]])}`  ")
    print(f"Date: {when} (took {took:.0f} s)\n")
    print("| machine |  |\n|---|---|")
    print(f"| nproc | {os.cpu_count()} |\n| load average at start | {args.load} |")
    print(f"| python | {platform.python_version()} |\n")
    print("| hollow nodes | pods | nodes Ready after (s) | pod creates/s "
          "(64 clients, API) | scheduling throughput (pods/s) | scheduler start → first / last "
          "bind (s) | all Running after scheduler start (s) | CPU while scheduling |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['nodes']:,} | {r['pods']:,} | {r['register_s']:.1f} | "
              f"{r['create_rate']:,.0f} | **{r['throughput']:,.0f}** | "
              f"{r['first_bind_s']:.1f} / {r['last_bind_s']:.1f} | {r['running_s']:.1f} | "
              f"{cpu_cell(r['cpu'])} |")
    print()
    print("| hollow nodes | Leases renewed in a 10 s window (due: all) | nodes not Ready at the end "
          "| CPU with the cluster idle (Lease renewals) |\n|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['nodes']:,} | {r['renewed']:,} | {r['not_ready']} | {cpu_cell(r['idle_cpu'])} |")
    if deployment is not None:
        d = deployment
        print(f"\n| Deployment of {d['replicas']:,} replicas on {d['nodes']} hollow nodes | |\n|---|---:|")
        took = f"**{d['seconds']:.1f}**" if not d["note"] else f"not measured: {d['note']}"
        print(f"| create → status.readyReplicas = {d['replicas']:,} (s) | {took} "
              f"({d['ready']} ready, {d['running']} Running) |")
        print(f"| CPU meanwhile | {cpu_cell(d['cpu'])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 nodes, 2,000 pods")
    parser.add_argument("--nodes", default=None, help="comma-separated node counts")
    parser.add_argument("--pods", type=int, default=None)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--no-deployment", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    nodes = [int(n) for n in (args.nodes or ("100,1000" if args.quick else "100,1000,5000")).split(",")]
    pods = args.pods or (2000 if args.quick else 10000)
    args.load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="kyb-bench-sched-")
    started = time.monotonic()
    results, deployment = [], None
    try:
        for n in nodes:
            results.append(asyncio.run(measure_throughput(tmp, n, pods)))
        if not args.no_deployment:
            deployment = asyncio.run(measure_deployment(tmp, 100, args.replicas))
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    finally:
        if args.keep:
            progress(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(args, results, deployment, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
