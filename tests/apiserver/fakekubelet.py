"""The real kubelet HTTPS server (kubelet.server.KubeletServer) on loopback,
in front of a fake PodHost, for the API server's node-proxy and metrics tests.

The host serves CRI log files the test writes, runs exec commands as local
processes (no containers: the API server's relaying is under test, not the
runtime), knows no pod network namespace (port-forward answers 404), and
hands out the stats summary the test gives it. The serving certificate is
signed by the cluster CA of the ``kyb server`` under test, so the API server
verifies it as it verifies a real node's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from kybernetes.api import registry
from kybernetes.apiserver import pki
from kybernetes.client import rest
from kybernetes.kubelet import server as kubelet_server
from kybernetes.runtime import records
from tests.e2e.cluster import Server

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")


class LocalProcess:
    """What runtime.exec returns, backed by a local process."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self._proc = proc
        self.stdin, self.stdout, self.stderr = proc.stdin, proc.stdout, proc.stderr
        self.master_fd = None
        self.returncode: int | None = None

    async def wait(self) -> int:
        self.returncode = await self._proc.wait()
        return self.returncode

    def signal(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(sig)


class LocalRuntime:
    async def exec(self, container_id: str, command: list[str], *, stdin: bool = False, tty: bool = False):
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return LocalProcess(proc)

    async def status(self, container_id: str) -> records.ContainerStatus:
        return records.ContainerStatus(id=container_id, name=container_id, state=records.RUNNING,
                                       image="", image_id="", created_at=0)


@dataclass
class FakeHost:
    log_dir: str
    runtime: LocalRuntime = field(default_factory=LocalRuntime)
    containers: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> log path
    summary: dict = field(default_factory=lambda: {"node": {}, "pods": []})

    def add_container(self, namespace: str, pod: str, container: str) -> str:
        path = os.path.join(self.log_dir, f"{namespace}_{pod}_{container}.log")
        open(path, "a").close()
        self.containers[(namespace, pod, container)] = path
        return path

    async def find_container(self, namespace, pod, container, *, previous=False):
        path = self.containers.get((namespace, pod, container or ""))
        if path is None or previous:
            raise LookupError(f'container "{container}" in pod "{pod}" is not available')
        return kubelet_server.ContainerRef(container_id=f"{pod}-{container}", container_name=container,
                                           log_path=path, pod={}, stdin=True)

    async def pod_netns(self, namespace, pod):
        raise LookupError(f'pod "{pod}" not found')

    async def stats_summary(self) -> dict:
        return self.summary

    def pods(self) -> list[dict]:
        return []


def write_log(path: str, *lines: str, stream: str = "stdout") -> None:
    """Append lines in the CRI log format the kubelet reads."""
    with open(path, "a") as f:
        for line in lines:
            ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            f.write(f"{ts} {stream} F {line}\n")


@contextlib.asynccontextmanager
async def running(server: Server, directory: str) -> AsyncIterator[tuple[FakeHost, int]]:
    """The kubelet server on 127.0.0.1:<free port> with a certificate of the
    server's cluster CA; stopped after the block."""
    tls = os.path.join(server.data_dir, "tls")
    ca = pki.Pair(os.path.join(tls, "ca.crt"), os.path.join(tls, "ca.key"))
    serving = pki.issue(ca, pki.Pair(os.path.join(directory, "kubelet.crt"),
                                     os.path.join(directory, "kubelet.key")),
                        "kubelet", ips=("127.0.0.1",), server=True)
    host = FakeHost(directory)
    kubelet = kubelet_server.KubeletServer(host, cert=serving.cert, key=serving.key, client_ca=ca.cert)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    await kubelet.start(sock)
    try:
        yield host, port
    finally:
        await kubelet.stop()
        sock.close()


async def make_node(client: rest.Client, port: int, *, labels: dict | None = None,
                    allocatable: dict | None = None) -> str:
    """A Node whose kubelet is at 127.0.0.1:<port>."""
    name = f"n-{uuid.uuid4().hex[:8]}"
    capacity = allocatable or {"cpu": "2", "memory": "4Gi", "pods": "110"}
    node = {"metadata": {"name": name, "labels": labels or {}},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                       "capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "ready", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    created = await client.create(NODES, node)
    if not (created.get("status") or {}).get("addresses"):
        created["status"] = node["status"]
        await client.update(NODES, created, subresource="status")
    return name


async def make_pod(client: rest.Client, namespace: str, name: str, containers: list[str],
                   node: str | None, *, labels: dict | None = None, init: list[str] = ()) -> dict:
    pod: dict = {"metadata": {"name": name, "labels": labels or {}},
                 "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers]}}
    if init:
        pod["spec"]["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    if node:
        pod["spec"]["nodeName"] = node
    return await client.create(PODS, pod, namespace)
