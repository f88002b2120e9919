"""Small programs run inside namespaces for the traffic tests, and their runners.

`SERVER` answers every TCP connection with its name and closes it once the
client has (TIME_WAIT stays with the client, so that thousands of
connections a second, as bench/network.py makes, do not meet the server's
old ones on reused ports); `CLIENT`
opens N connections to one address and prints how many answers came from
whom. `UDP_SERVER` answers every datagram with its name; `UDP_CLIENT` sends N
datagrams from one source port. They only ever talk to addresses the test created."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from kybernetes.api import registry
from kybernetes.proxy import hosts, proxier
from tests.network import probes

SERVICES = registry.lookup("", "v1", "services")
SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")

SERVER = r"""
import socket, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(1024); print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(2); c.sendall(name); c.recv(1)
    except OSError:
        pass
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


UDP_SERVER = r"""
import socket, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); print("ready", flush=True)
while True:
    _, peer = s.recvfrom(100)
    s.sendto(name, peer)
"""

UDP_CLIENT = r"""
import collections, json, socket, sys
host, port, n, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", sport)); s.settimeout(0.5)
seen = collections.Counter()
for _ in range(n):
    try:
        s.sendto(b"?", (host, port))
        seen[s.recv(100).decode()] += 1
    except OSError as e:
        seen["error: " + (e.strerror or type(e).__name__)] += 1
print(json.dumps(seen))
"""


class Servers:
    """Echo servers started in pod namespaces, killed by PID at the end."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, netns: str, name: str, port: int, program: str = SERVER) -> None:
        proc = await asyncio.create_subprocess_exec(
            *probes.in_netns(netns, sys.executable, "-c", program, name, str(port)),
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
    return await _run_client(netns, CLIENT, host, str(port), str(n))


async def ask_udp(netns: str | None, host: str, port: int, n: int, source_port: int) -> dict[str, int]:
    """Answers by server name for n datagrams, all from one source port: one
    conntrack entry, as a long-lived UDP client (a resolver) has."""
    return await _run_client(netns, UDP_CLIENT, host, str(port), str(n), str(source_port))


async def _run_client(netns: str | None, program: str, *args: str) -> dict[str, int]:
    proc = await asyncio.create_subprocess_exec(
        *probes.in_netns(netns, sys.executable, "-c", program, *args),
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


@contextlib.asynccontextmanager
async def running_proxy(client, network, host, mode: str, node_name: str = "node1"):
    """kube-proxy's real loop for one node host, synced before the body runs;
    cancelled and its rules removed afterwards."""
    ready = asyncio.Event()
    task = asyncio.create_task(proxier.run_proxy(
        client, node_name=node_name, netns=host.netns, mode=mode, cluster_cidr=str(network.plan.cluster_cidr),
        node_ips=[str(host.address.ip)], min_sync_period=0.1, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if mode != "userspace":
            await proxier.make_proxier(mode, hosts.NodeHostNetns(host.netns), cluster_cidr="", node_ips=[]).cleanup()


async def create_service(client, namespace: str, endpoints: list, *, name: str = "web", port: int = 80,
                         target_port: int, protocol: str = "TCP", **spec) -> dict:
    """A Service with one port named http and its EndpointSlice, as the
    endpoint slice controller would write it; endpoints: (pod, nodeName) pairs."""
    svc = await client.create(SERVICES, {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, **spec,
                 "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": protocol}]}},
        namespace)
    await client.create(SLICES, slice_of(namespace, name, endpoints, target_port, protocol), namespace)
    return svc


def slice_of(namespace: str, service: str, endpoints: list, port: int, protocol: str = "TCP",
             labels: dict | None = None) -> dict:
    return {"metadata": {"name": f"{service}-1", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service, **(labels or {})}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": protocol}],
            "endpoints": [{"addresses": [str(pod.ip)], "conditions": {"ready": True}, "nodeName": node}
                          for pod, node in endpoints]}
