"""How many queries a second ``kyb dns`` answers for cluster names.

Starts a real ``kyb server`` (the API server alone), creates 1,000 Services,
runs the DNS server in a process of its own (as the addon's pod would) and
drives it from several client processes over UDP on loopback, each keeping a
window of queries in flight. Prints (a markdown table on stdout, progress on
stderr) queries/s and queries per CPU-second of the DNS process for: A
queries of service names (the hot path), the NXDOMAIN answers that
search-path expansions get, SRV queries, and a cold start (the first query of
every name). No assertions: figures for BENCHMARKS.md and
issue 6 (CoreDNS: ~17,000 queries/s per core; the aim: at least 10,000).
bench/network.py runs the same `measure` as part of its report.

    python bench/dns.py [--services 1000] [--clients 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

from _root import ROOT

import dnslib  # noqa: E402

from kybernetes.api import registry  # noqa: E402
from kybernetes.client import kubeconfig, rest  # noqa: E402
from tests.e2e.cluster import API_ONLY, Server, free_port, running  # noqa: E402

SERVICES = registry.lookup("", "v1", "services")
NAMESPACES = registry.lookup("", "v1", "namespaces")
NS = "bench"


def serve_dns(argv: list[str]) -> None:
    """The DNS server process: ``kyb dns`` with ``argv``."""
    from kybernetes.dns import command

    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["dns", *argv])
    asyncio.run(args.run(args))


async def create_services(kubeconfig_path: str, count: int) -> None:
    async with rest.Client(kubeconfig.load(kubeconfig_path), component="bench-dns") as client:
        await client.create(NAMESPACES, {"metadata": {"name": NS}})
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await client.create(SERVICES, {"metadata": {"name": f"svc-{i}"}, "spec": {
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}, NS)
        await asyncio.gather(*(one(i) for i in range(count)))


def client_process(port: int, queries: list[bytes], seconds: float, window: int, out,
                   limit: int | None = None) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.2)
    sent = received = inflight = 0
    n = len(queries)
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and (limit is None or received < limit):
        while inflight < window and (limit is None or sent < limit):
            s.send(queries[sent % n])
            sent += 1
            inflight += 1
        try:
            s.recv(4096)
            received += 1
            inflight -= 1
        except socket.timeout:
            inflight = 0  # lost: start the window again
    out.put((received, time.monotonic() - start))
    s.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_dns(port: int, name: str, timeout: float = 30.0) -> None:
    q = dnslib.DNSRecord.question(name).pack()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                s.sendto(q, ("127.0.0.1", port))
                if dnslib.DNSRecord.parse(s.recv(4096)).rr:
                    return
            except (socket.timeout, ConnectionRefusedError):
                pass
            time.sleep(0.2)
    raise RuntimeError(f"kyb dns does not answer {name}")


def run_load(label: str, port: int, pid: int, queries: list[bytes], clients: int, seconds: float,
             window: int, limit: int | None = None) -> tuple[float, float]:
    """Drive the DNS server at `port` (process `pid`); (queries/s, queries per DNS CPU-second)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    cpu0 = cpu_seconds(pid)
    procs = [ctx.Process(target=client_process, args=(port, queries[i::clients] or queries, seconds, window, out, limit))
             for i in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    cpu = cpu_seconds(pid) - cpu0
    total = sum(r for r, _ in results)
    elapsed = max(t for _, t in results)
    per_cpu = total / cpu if cpu else float("nan")
    print(f"{label:<34} {total / elapsed:>10,.0f} q/s   {per_cpu:>10,.0f} q per DNS CPU-second"
          f"   ({total:,} answers, {clients} clients x {window} in flight, {elapsed:.1f}s)", file=sys.stderr, flush=True)
    return total / elapsed, per_cpu


def queries_for(names: list[str], qtype: str = "A") -> list[bytes]:
    out = []
    for name in names:
        q = dnslib.DNSRecord.question(name, qtype)
        q.header.id = random.getrandbits(16)
        out.append(bytes(q.pack()))
    return out


def measure(services: int = 1000, clients: int = 2, window: int = 32, seconds: float = 5.0) -> dict[str, tuple[float, float]]:
    """queries/s and queries per DNS CPU-second by kind of query, against a
    real API server holding `services` Services (progress on stderr)."""
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp, \
            running(Server(tmp, free_port(), args=API_ONLY)) as server:
        t0 = time.monotonic()
        asyncio.run(create_services(server.kubeconfig, services))
        print(f"created {services} Services in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
        port, fake_upstream = free_port(), free_port()  # upstream: a closed loopback port, never used
        dns = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve-dns", "--kubeconfig", server.kubeconfig,
             "--bind", "127.0.0.1", "--port", str(port), "--upstream", f"127.0.0.1:{fake_upstream}",
             "--health-bind", "127.0.0.1", "--health-port", "0", "--ready-port", "0"],
            cwd=ROOT, stderr=open(os.path.join(tmp, "dns.log"), "wb"))
        try:
            wait_for_dns(port, f"svc-{services - 1}.{NS}.svc.cluster.local")
            names = [f"svc-{i}.{NS}.svc.cluster.local" for i in range(services)]
            random.shuffle(names)
            search = [f"svc-{i}.{NS}.svc.cluster.local.{NS}.svc.cluster.local" for i in range(services)]
            loads = [
                # Each name once, one at a time: computing and packing each answer.
                ("cold: first query of each name", queries_for(names), 1, 30.0, 1, len(names)),
                ("A, service names", queries_for(names), clients, seconds, window, None),
                ("NXDOMAIN, search-path expansions", queries_for(search), clients, seconds, window, None),
                ("SRV, named ports", queries_for([f"_http._tcp.{n}" for n in names], "SRV"), clients, seconds,
                 window, None),
            ]
            for label, queries, n_clients, secs, win, limit in loads:
                results[label] = run_load(label, port, dns.pid, queries, n_clients, secs, win, limit=limit)
        finally:
            dns.send_signal(signal.SIGTERM)
            try:
                dns.wait(10)
            except subprocess.TimeoutExpired:
                dns.kill()
                dns.wait()
    return results


def print_table(results: dict[str, tuple[float, float]]) -> None:
    print("| kyb dns, UDP on loopback | queries/s | queries per DNS CPU-second |")
    print("|---|---:|---:|")
    for label, (qps, per_cpu) in results.items():
        print(f"| {label} | {qps:,.0f} | {per_cpu:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--window", type=int, default=32, help="queries in flight per client")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print_table(measure(args.services, args.clients, args.window, args.seconds))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-dns":
        serve_dns(sys.argv[2:])
    else:
        main()
