"""Run a real ``kyb server`` for tests, and drive it with the real kubectl.

The server runs as a subprocess on a free loopback port with a data dir of
its own; ``stop`` ends it by its PID (SIGTERM, then SIGKILL). It runs the
control plane only (``--disable-agent``) unless made with ``agent=True``;
clusters with real nodes pass a network plan of their own (``plan_flags``
of ``tests/network/probes.free_plan()``) and end with ``killall``;
``kubectl_cluster`` is such a cluster with kubectl, its nodes Ready. ``Agent``
runs ``kyb agent`` the same way. ``kubectl``
runs with the kubeconfig the server wrote and a discovery cache dir inside
the test's temporary directory, so nothing outside it is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The API server alone: no controller, scheduler or addon writes behind a test's back.
API_ONLY = ["--disable-controller-manager", "--disable-scheduler", "--disable", "dns"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: str, lines: int = 40) -> str:
    """The last ``lines`` lines of a process's log file ("" when there is none yet)."""
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def end(proc: subprocess.Popen, sig: int = signal.SIGTERM, *, grace: float = 10) -> None:
    """End ``proc`` by its PID: ``sig``, then SIGKILL if it has not exited within ``grace`` seconds."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Server:
    data_dir: str
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    agent: bool = False  # run this machine's node in the server (no --disable-agent)

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubeconfig.yaml")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        log = open(os.path.join(self.data_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "server", "--data-dir", self.data_dir,
             "--https-listen-port", str(self.port), *([] if self.agent else ["--disable-agent"]),
             *self.args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"kyb server exited: {self.log_tail()}")
            self.output.append(line)
            if "ready" in line:
                return
        self.stop()
        raise RuntimeError(f"kyb server not ready in {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(os.path.join(self.data_dir, "server.log"), lines)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        end(self.proc, sig, grace=10)
        self.proc.stdout.close()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@contextlib.contextmanager
def running(server: Server):
    """Start ``server`` and stop it (by PID) when the block ends, also on failure."""
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Kubectl:
    server: Server
    cache_dir: str

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60.0, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = ["kubectl", "--kubeconfig", self.server.kubeconfig, "--cache-dir", self.cache_dir, *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def popen(self, *args: str) -> subprocess.Popen:
        cmd = ["kubectl", "--kubeconfig", self.server.kubeconfig, "--cache-dir", self.cache_dir, *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_lines_until(proc: subprocess.Popen, done, timeout: float = 15.0) -> list[str]:
    """Lines a streaming command (``kubectl get -w``) prints, until ``done(lines)``
    holds, the stream ends or ``timeout`` passes. A reader thread does the
    blocking reads: select() on a buffered text stream misses lines already in
    Python's buffer."""
    lines: list[str] = []
    changed = threading.Condition()

    def reader() -> None:
        for line in proc.stdout:
            with changed:
                lines.append(line)
                changed.notify_all()
        with changed:
            lines.append("")  # end of stream
            changed.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout
    with changed:
        while not done([line for line in lines if line]) and not (lines and lines[-1] == ""):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            changed.wait(left)
        return [line for line in lines if line]


def plan_flags(plan) -> list[str]:
    """``kyb server``/``kyb agent`` flags for a network plan (an AddressPlan).
    No ``--cluster-dns``: the server derives it (the range's 10th address) and
    agents take it from the server, which the DNS tests check."""
    return ["--network-prefix", plan.prefix, "--node-network", str(plan.node_network),
            "--cluster-cidr", str(plan.cluster_cidr), "--service-cidr", str(plan.service_cidr)]


def kyb(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run a ``kyb`` command to its end."""
    result = subprocess.run([sys.executable, "-m", "kybernetes.cli.main", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kyb {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def killall(data_dir: str) -> subprocess.CompletedProcess:
    """``kyb killall`` for a node's data dir (its process, containers, network)."""
    return kyb("killall", "--data-dir", data_dir, check=False)


@dataclass
class Agent:
    """``kyb agent`` joining ``server`` with its token, as a subprocess."""

    server: Server
    data_dir: str
    node_name: str
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        with open(os.path.join(self.server.data_dir, "token")) as f:
            token = f.read().strip()
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(os.path.join(self.data_dir, "agent.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server", self.server.url,
             "--token", token, "--data-dir", self.data_dir, "--node-name", self.node_name, *self.args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(os.path.join(self.data_dir, "agent.log"), lines)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        end(self.proc, sig, grace=15)
        self.proc = None


@dataclass
class NodeCluster:
    """``kyb server`` with its own node plus ``kyb agent`` nodes, on a free network plan."""

    server: Server
    agents: list[Agent]
    plan: object  # kybernetes.network.addressing.AddressPlan
    server_node: str

    @property
    def node_names(self) -> list[str]:
        return [self.server_node, *(a.node_name for a in self.agents)]

    def logs(self) -> str:
        return "\n".join([f"--- server\n{self.server.log_tail()}",
                          *(f"--- agent {a.node_name}\n{a.log_tail()}" for a in self.agents)])


@contextlib.contextmanager
def node_cluster(directory: str, *, agents: int = 1, server_args=(), agent_args: tuple[str, ...] = ()):
    """A cluster with real nodes in ``directory``: the server runs the first node
    (``--node-name kyb-<id>-0``), each agent one more. ``server_args`` may be a
    function of the plan that returns them; ``agent_args`` go to every agent. Nodes are named per run
    (their cgroups and namespaces never meet another run's). Afterwards every
    process is stopped by PID and ``kyb killall`` runs on every data dir, then
    the plan's network is removed, also when the block failed."""
    from kybernetes.network import cleanup as network_cleanup
    from tests.network import probes

    plan = asyncio.run(probes.free_plan())
    run_id = secrets.token_hex(2)
    server_dir = os.path.join(directory, "server")
    os.makedirs(server_dir, exist_ok=True)
    server = Server(server_dir, free_port(), agent=True, args=[*plan_flags(plan), "--node-name", f"kyb-{run_id}-0"])
    nodes = [Agent(server, os.path.join(directory, f"agent{i}"), f"kyb-{run_id}-{i}", args=list(agent_args))
             for i in range(1, agents + 1)]
    try:
        server.args += list(server_args(plan) if callable(server_args) else server_args)
        server.start()
        for node in nodes:
            node.start()
        yield NodeCluster(server, nodes, plan, f"kyb-{run_id}-0")
    finally:
        for node in nodes:
            node.stop()
        server.stop()
        for data_dir in (server_dir, *(n.data_dir for n in nodes)):
            killall(data_dir)
        asyncio.run(network_cleanup.cleanup(plan.prefix, plan=plan))


def wait_nodes_ready(c: NodeCluster, timeout: float = 120) -> None:
    """Until every node of ``c`` reports Ready=True, as ``c.kubectl`` sees them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = {n["metadata"]["name"]: n for n in c.kubectl.json("get", "nodes")["items"]}
        if all(any(cond["type"] == "Ready" and cond["status"] == "True"
                   for cond in nodes.get(name, {}).get("status", {}).get("conditions", []))
               for name in c.node_names):
            return
        time.sleep(0.5)
    raise AssertionError(f"nodes not Ready in {timeout}s\n{c.logs()}")


@contextlib.contextmanager
def kubectl_cluster(directory: str, **kwargs):
    """``node_cluster(directory, **kwargs)`` with ``c.kubectl`` (its cache in
    ``directory``), once every node is Ready; afterwards the machine is checked
    to be as it was before (namespaces, links, routes, rules, sysctls)."""
    from tests.network import probes

    before = probes.machine_state()
    with node_cluster(directory, **kwargs) as c:
        c.kubectl = Kubectl(c.server, os.path.join(directory, "kubectl-cache"))
        wait_nodes_ready(c)
        yield c
    after = probes.machine_state()
    assert probes.changes(before, after, c.plan) == {}, "the cluster left traces on the machine"
