"""Issue 6's network figures in one run: kube-proxy's programming latency, kyb dns
queries/s, and requests/s through a ClusterIP against straight to the pod.

    python3 bench/network.py [--sizes 10,1000,5000] [--changes 20] [--modes iptables,nftables]
                             [--dns-services 1000] [--dns-seconds 5] [--seconds 3]

1. Programming latency. For each mode and each number of Services N: a node
   host namespace of its own (a ClusterNetwork on free ranges, removed at the
   end, even on Ctrl-C), the proxy's real sync loop (proxier.SyncRunner) over
   in-memory caches holding N Services with two endpoints each, and the real
   proxier writing with iptables-restore or nft inside the node host. First
   the initial full sync is timed; then, `--changes` times, one EndpointSlice
   changes (an endpoint replaced), the informer handler is called as the
   informer would, and the time until the sync that includes it has been
   applied is recorded: p50 and p99. min_sync_period is 0, so that the figure
   is the programming time itself (kube-proxy's default of 1 s would add up
   to a second of coalescing); a real API server's watch adds its delivery
   latency (bench/api.py).
2. ClusterIP against pod IP. In the same node host, a server pod (a raw TCP
   server answering each connection with its name, tests/proxy/traffic.py)
   and a client pod opening one connection after another for `--seconds`: requests/s to the pod IP, then to a ClusterIP
   programmed by each mode, alternated three times; the ratio is ClusterIP/pod.
3. DNS: bench/dns.py's `measure` (a real API server with `--dns-services`
   Services, kyb dns in a process of its own, UDP load from two processes).

Markdown on stdout, progress on stderr. The machine's own iptables and
nftables are compared before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from ipaddress import IPv4Address

import _root  # noqa: F401 - the repository's packages importable

from bench import dns as dns_bench  # noqa: E402
from kybernetes.network import cleanup, cluster  # noqa: E402
from kybernetes.proxy import hosts, proxier  # noqa: E402
from tests.network import probes  # noqa: E402
from tests.proxy import traffic  # noqa: E402

SERVER_PORT = 8080
ROUNDS = 3  # alternations of pod IP and ClusterIP per mode
# The client's TIME_WAITs (traffic.SERVER lets it close first) need a wide
# port range and reuse at thousands of connections a second.
CLIENT_SYSCTLS = ("net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1")
LOAD_CLIENT = r"""
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    c = socket.create_connection((host, port), timeout=2)
    c.recv(100)
    c.close()
    n += 1
print(n / seconds)
"""


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


async def requests_per_second(netns: str, host: str, port: int, seconds: float) -> float:
    proc = await asyncio.create_subprocess_exec(
        *probes.in_netns(netns, sys.executable, "-c", LOAD_CLIENT, host, str(port), str(seconds)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed: {err.decode()[-500:]}")
    return float(out)


async def through_cluster_ip(modes: list[str], seconds: float, net, host, plan) -> dict[str, tuple[float, float]]:
    """Per mode, requests/s straight to a server pod and through a ClusterIP,
    measured alternately (the machine is shared: the load beside changes)."""
    pods = net.pod_network(host)
    server, client = await pods.setup("bench-server"), await pods.setup("bench-client")
    servers = traffic.Servers()
    results: dict[str, tuple[float, float]] = {}
    try:
        await servers.start(server.netns, "server", SERVER_PORT, program=traffic.SERVER)
        for setting in CLIENT_SYSCTLS:  # in the client pod's own namespace
            proc = await asyncio.create_subprocess_exec(*probes.in_netns(client.netns, "sysctl", "-q", "-w", setting))
            await proc.wait()
        cluster_ip = str(plan.service_cidr.network_address + 10)
        services, slices = Store(), Store()
        services.items["web"] = {"metadata": {"namespace": "bench", "name": "web"},
                                 "spec": {"clusterIP": cluster_ip,
                                          "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
        slices.items["web"] = {
            "metadata": {"namespace": "bench", "name": "web", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": SERVER_PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [str(server.ip)]}]}
        for mode in modes:
            px = proxier.make_proxier(mode, hosts.NodeHostNetns(host.netns), cluster_cidr=str(plan.cluster_cidr),
                                      node_ips=[str(host.address.ip)])
            runner = proxier.SyncRunner(px, node_name="bench", min_sync_period=0.0)
            task = asyncio.create_task(runner.run(services, slices))
            try:
                await asyncio.wait_for(runner.synced.wait(), 60)
                rates: dict[str, list[float]] = {"pod": [], "cluster": []}
                for _ in range(ROUNDS):
                    for kind, ip, port in (("pod", str(server.ip), SERVER_PORT), ("cluster", cluster_ip, 80)):
                        rates[kind].append(await requests_per_second(client.netns, ip, port, seconds))
                        print(f"{mode}: requests/s to the {kind} IP: {rates[kind][-1]:,.0f}", file=sys.stderr,
                              flush=True)
                results[mode] = statistics.mean(rates["pod"]), statistics.mean(rates["cluster"])
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await px.cleanup()
    finally:
        await servers.stop()
    return results


async def network_figures(args: argparse.Namespace) -> tuple[list, dict[str, tuple[float, float]]]:
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
        rates = await through_cluster_ip(args.modes.split(","), args.seconds, net, host, plan)
    finally:
        await cleanup.cleanup(plan.prefix, plan=plan, state_root=state)
        after = await asyncio.to_thread(probes.machine_state)
        left = probes.changes(before, after, plan)
        if left:
            print(f"WARNING: the machine changed: {left}", file=sys.stderr)
    return rows, rates


def main(args: argparse.Namespace) -> None:
    started, when = time.monotonic(), time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, rates = asyncio.run(network_figures(args))
    print("dns ...", file=sys.stderr, flush=True)
    dns = dns_bench.measure(args.dns_services, seconds=args.dns_seconds)
    print(f"Command: `{' '.join(['python3', 'bench/network.py', *sys.argv[1:]])}`  ")
    print(f"Date: {when} (took {time.monotonic() - started:.0f} s; load average at start {load}; "
          f"{os.cpu_count()} cores, python {platform.python_version()}, kernel {platform.release()})\n")
    print("| mode | services | initial full sync | change → applied p50 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for mode, n, r in rows:
        print(f"| {mode} | {n:,} | {r['initial'] * 1000:.0f} ms | {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms |")
    print()
    print("| client pod → server pod, a new TCP connection per request | to the pod IP | to a ClusterIP |"
          " ClusterIP / pod IP |")
    print("|---|---:|---:|---:|")
    for mode, (direct, cluster_ip) in rates.items():
        print(f"| kube-proxy {mode} | {direct:,.0f}/s | {cluster_ip:,.0f}/s | {cluster_ip / direct:.2f} |")
    print()
    dns_bench.print_table(dns)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,5000")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--modes", default="iptables,nftables")
    parser.add_argument("--seconds", type=float, default=3.0, help="per requests/s measurement")
    parser.add_argument("--dns-services", type=int, default=1000)
    parser.add_argument("--dns-seconds", type=float, default=5.0)
    main(parser.parse_args())
