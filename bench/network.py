"""Service programming latency of kube-proxy: an informer event → rules applied in a node host.

    python3 bench/network.py [--sizes 10,1000,5000] [--changes 20] [--modes iptables,nftables]

For each mode and each number of Services N: a node host namespace of its own
(a ClusterNetwork on free ranges, removed at the end, even on Ctrl-C), the
proxy's real sync loop (proxier.SyncRunner) over in-memory caches holding N
Services with two endpoints each, and the real proxier writing with
iptables-restore or nft inside the node host. First the initial full sync is
timed; then, `--changes` times, one EndpointSlice changes (an endpoint
replaced), the informer handler is called as the informer would, and the time
until the sync that includes it has been applied is recorded: p50 and p99.
The loop runs with min_sync_period 0 so that the figure is the programming
time itself (kube-proxy's default of 1 s would add up to a second of
coalescing). Driving the same events through a real API server's watch adds
its delivery latency (see bench/api.py); DNS queries/s and ClusterIP vs pod
throughput are still to be added here. Markdown on stdout, progress on stderr.
The machine's own iptables and nftables are compared before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from ipaddress import IPv4Address

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kybernetes.network import cleanup, cluster  # noqa: E402
from kybernetes.proxy import hosts, proxier  # noqa: E402
from tests.network import probes  # noqa: E402


class Store:
    """An informer's cache as the sync loop reads it."""

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def list(self) -> list[dict]:
        return list(self.items.values())


def _objects(n: int, plan) -> tuple[Store, Store]:
    services, slices = Store(), Store()
    base = int(plan.service_cidr.network_address) + 100
    pod_base = int(plan.cluster_cidr.network_address) + 256 + 2
    for i in range(n):
        name = f"svc-{i}"
        services.items[name] = {
            "metadata": {"namespace": "bench", "name": name},
            "spec": {"clusterIP": str(IPv4Address(base + i)),
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
        slices.items[name] = _slice(name, pod_base + (2 * i) % 250, pod_base + (2 * i + 1) % 250)
    return services, slices


def _slice(name: str, a: int, b: int) -> dict:
    return {"metadata": {"namespace": "bench", "name": name, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [str(IPv4Address(a))]}, {"addresses": [str(IPv4Address(b))]}]}


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def measure(mode: str, n: int, changes: int, host, plan) -> dict:
    target = hosts.NodeHostNetns(host.netns)
    px = proxier.make_proxier(mode, target, cluster_cidr=str(plan.cluster_cidr), node_ips=[str(host.address.ip)])
    runner = proxier.SyncRunner(px, node_name="bench", min_sync_period=0.0)
    services, slices = _objects(n, plan)
    started = time.monotonic()
    task = asyncio.create_task(runner.run(services, slices))
    try:
        await asyncio.wait_for(runner.synced.wait(), 600)
        initial = time.monotonic() - started
        pod_base = int(plan.cluster_cidr.network_address) + 256 + 2
        latencies = []
        for k in range(changes):
            name = f"svc-{(k * 7919) % n}"
            slices.items[name] = _slice(name, pod_base + k % 250, pod_base + 250 + k % 250)
            event = time.monotonic()
            runner.changed(slices.items[name])
            await runner.wait_applied(event, timeout=600)
            latencies.append(time.monotonic() - event)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await px.cleanup()
    return {"initial": initial, "p50": _pct(latencies, 50), "p99": _pct(latencies, 99)}


async def main(args: argparse.Namespace) -> None:
    before = await asyncio.to_thread(probes.machine_state)
    plan = await probes.free_plan()
    state = tempfile.mkdtemp(prefix="kyb-bench-network-")
    net = cluster.ClusterNetwork(plan, state_root=state)
    rows = []
    try:
        host = await net.add_node_host("bench", list(plan.cluster_cidr.subnets(new_prefix=24))[1])
        for mode in args.modes.split(","):
            for n in (int(s) for s in args.sizes.split(",")):
                print(f"{mode}: {n} services ...", file=sys.stderr, flush=True)
                r = await measure(mode, n, args.changes, host, plan)
                rows.append((mode, n, r))
    finally:
        await cleanup.cleanup(plan.prefix, plan=plan, state_root=state)
        after = await asyncio.to_thread(probes.machine_state)
        left = probes.changes(before, after, plan)
        if left:
            print(f"WARNING: the machine changed: {left}", file=sys.stderr)
    print("| mode | services | initial full sync | change → applied p50 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for mode, n, r in rows:
        print(f"| {mode} | {n:,} | {r['initial'] * 1000:.0f} ms | {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,5000")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--modes", default="iptables,nftables")
    asyncio.run(main(parser.parse_args()))
