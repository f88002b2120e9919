"""What the Services and DNS end-to-end tests share: a cluster of two real
nodes (``kyb server`` with its node plus one ``kyb agent``) with the DNS
addon, the ``web`` Deployment of three HTTP servers that answer with their
pod name, the ``web`` NodePort Service in front of them, and a client pod
whose Python sends requests from inside the cluster (``kubectl exec``).

The DNS addon forwards names outside the cluster to a fake upstream resolver
of the test's own (``FakeUpstream``) on the plan's root bridge address: only
the cluster's namespaces reach it, and it answers ``upstream.example`` and
nothing else, so no query ever leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time

import dnslib
import pytest

from tests.e2e.cluster import kubectl_cluster

PYTHON = "/usr/bin/python3"  # Debian's, in every pod through the host-root fallback image
WEB_REPLICAS = 3
UPSTREAM_NAME = "upstream.example."
UPSTREAM_ADDRESS = "192.0.2.53"  # TEST-NET-1: an answer only, never a destination

# The HTTP server of each web pod: its name for any path, except that
# /healthz fails (503) while /data/fail exists (the readiness probe's path).
SERVE = r"""
import http.server, os, socket
name = socket.gethostname().encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        failing = self.path == "/healthz" and os.path.exists("/data/fail")
        body = b"failing" if failing else name
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
"""

# N requests to URL, each on a new connection (with a name lookup each time):
# the answers counted by pod name, failures counted apart.
REQUESTS = r"""
import collections, json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
counts, errors = collections.Counter(), []
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for _ in range(n):
    try:
        with opener.open(url, timeout=5) as r:
            counts[r.read().decode()] += 1
    except Exception as e:
        errors.append(repr(e))
print(json.dumps({"counts": counts, "failed": len(errors), "errors": errors[:3]}))
"""

# getaddrinfo for each name: its IPv4 addresses, or the error.
RESOLVE = r"""
import json, socket, sys, time
out = {}
for name in sys.argv[1:]:
    started = time.monotonic()
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        out[name] = {"addresses": sorted({i[4][0] for i in infos})}
    except socket.gaierror as e:
        out[name] = {"error": str(e)}
    out[name]["seconds"] = round(time.monotonic() - started, 3)
print(json.dumps(out))
"""


class FakeUpstream:
    """A DNS server on ``address:port`` (bound before the address exists):
    A ``upstream.example`` → 192.0.2.53, NXDOMAIN for anything else."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        self.sock.bind((address, 0))
        self.sock.settimeout(0.2)
        self.address, self.port = self.sock.getsockname()
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                query = dnslib.DNSRecord.parse(data)
            except Exception:  # noqa: BLE001 - not DNS: ignored
                continue
            name = str(query.q.qname)
            self.queries.append(name)
            reply = query.reply()
            if name.lower() == UPSTREAM_NAME:
                if query.q.qtype == dnslib.QTYPE.A:
                    reply.add_answer(dnslib.RR(query.q.qname, dnslib.QTYPE.A, ttl=30,
                                               rdata=dnslib.A(UPSTREAM_ADDRESS)))
            else:
                reply.header.rcode = dnslib.RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@contextlib.contextmanager
def services_cluster(directory: str, proxy_mode: str):
    """Two nodes with kube-proxy in ``proxy_mode`` and the DNS addon
    forwarding to a fake upstream; the machine checked to be as it was after."""
    with contextlib.ExitStack() as stack:
        upstreams: list[FakeUpstream] = []

        def server_args(plan) -> list[str]:
            upstreams.append(stack.enter_context(FakeUpstream(str(plan.bridge_address.ip))))
            return ["--proxy-mode", proxy_mode,
                    "--dns-upstream", f"{upstreams[0].address}:{upstreams[0].port}"]

        with kubectl_cluster(directory, agents=1, server_args=server_args,
                             agent_args=("--proxy-mode", proxy_mode)) as c:
            c.upstream = upstreams[0]
            yield c


def start_web(c) -> list[dict]:
    """Apply ``web`` and the client pod; return the web pods once they are
    ready and ``http://web`` answers from the client without an error (the
    DNS addon and kube-proxy follow a new Service a moment after it exists)."""
    apply(c, *web_objects(), client_pod())
    pods = wait_ready(c, "default", "app=web", WEB_REPLICAS)
    wait_ready(c, "default", "app=client", 1)
    wait_ready(c, "kube-system", "k8s-app=kube-dns", 1)
    eventually(lambda: requests(c, "http://web", 5)["failed"] == 0, timeout=30, interval=1,
               what="http://web answers from the client pod")
    return pods


def apply(c, *objects: dict) -> None:
    c.kubectl("apply", "-f", "-", input="\n".join(json.dumps(o) for o in objects))


def ready_pods(c, namespace: str, selector: str) -> list[dict]:
    pods = c.kubectl.json("-n", namespace, "get", "pods", "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        cond["type"] == "Ready" and cond["status"] == "True" for cond in p.get("status", {}).get("conditions", []))]


def wait_ready(c, namespace: str, selector: str, count: int, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    pods: list[dict] = []
    while time.monotonic() < deadline:
        pods = ready_pods(c, namespace, selector)
        if len(pods) >= count:
            return pods
        time.sleep(0.5)
    everything = c.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False)
    events = c.kubectl("-n", namespace, "get", "events", check=False)
    pytest.fail(f"{count} ready pods of {selector} not there in {timeout}s:\n{everything}\n{events}\n{c.logs()}")


def eventually(check, timeout: float = 30, interval: float = 0.5, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout}s: {what or check}")
        time.sleep(interval)


def web_objects(namespace: str = "default") -> list[dict]:
    labels = {"app": "web"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": namespace},
         "spec": {"replicas": WEB_REPLICAS, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 2,
                      "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                     "whenUnsatisfiable": "DoNotSchedule",
                                                     "labelSelector": {"matchLabels": labels}}],
                      "volumes": [{"name": "data", "emptyDir": {}}],
                      "containers": [{
                          "name": "web", "image": "python:3", "imagePullPolicy": "IfNotPresent",
                          "command": [PYTHON, "-c", SERVE],
                          "ports": [{"name": "http", "containerPort": 8080}],
                          "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                          "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                             "periodSeconds": 1, "failureThreshold": 1},
                      }]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"type": "NodePort", "selector": labels,
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def client_pod(name: str = "client", namespace: str = "default", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                            "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 0, **spec,
                     "containers": [{"name": "c", "image": "python:3", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


def requests(c, url: str, n: int = 150, pod: str = "client", namespace: str = "default") -> dict:
    out = c.kubectl("-n", namespace, "exec", pod, "--", PYTHON, "-c", REQUESTS, url, str(n),
                    timeout=60 + n * 0.5)
    return json.loads(out)


def resolve(c, *names: str, pod: str = "client", namespace: str = "default") -> dict:
    return json.loads(c.kubectl("-n", namespace, "exec", pod, "--", PYTHON, "-c", RESOLVE, *names))


def assert_even(result: dict, pods: list[str], n: int = 150) -> None:
    """Every answer from one of ``pods``, each pod at least 20% of them."""
    counts = result["counts"]
    assert result["failed"] == 0, result
    assert set(counts) == set(pods), result
    assert all(counts[p] >= 0.2 * n for p in pods), result


def in_pod_python(c, pod: str, code: str, *args: str, namespace: str = "default") -> str:
    """Run ``code`` with the test's own Python (which has the kubernetes
    client) inside ``pod``."""
    return c.kubectl("-n", namespace, "exec", pod, "--", sys.executable, "-c", code, *args)
