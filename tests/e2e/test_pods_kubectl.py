"""Pods as users see them, through the real kubectl, on real nodes: ``kyb
server`` with its own node plus one ``kyb agent`` on the same machine (a free
network plan, torn down with ``kyb killall`` and checked to leave the machine
as it was).

``kubectl exec`` needs the kubelet's streaming server and the API server's
proxy to it; those tests run whatever state those are in (no skip).
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from tests.e2e.cluster import kubectl_cluster, wait_nodes_ready

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real nodes need root")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with kubectl_cluster(str(tmp_path_factory.mktemp("kyb-nodes")), agents=1) as c:
        yield c


@pytest.fixture(scope="module")
def ns(cluster):
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    return name


def _pod(c, ns: str, name: str) -> dict:
    return c.kubectl.json("-n", ns, "get", "pod", name)


def _wait_running(c, ns: str, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    pod = {}
    while time.monotonic() < deadline:
        pod = _pod(c, ns, name)
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if pod.get("status", {}).get("phase") == "Running" and statuses and all(s.get("ready") for s in statuses):
            return pod
        time.sleep(0.3)
    pytest.fail(f"pod {name} not Running in {timeout}s: {json.dumps(pod.get('status'), indent=1)}\n{c.logs()}")


@pytest.fixture(scope="module")
def busybox(cluster, ns):
    """``kubectl run b --image=busybox -- sh -c 'echo hi; sleep 3600'``, Running."""
    started = time.monotonic()
    cluster.kubectl("-n", ns, "run", "b", "--image=busybox", "--", "sh", "-c", "echo hi; sleep 3600")
    pod = _wait_running(cluster, ns, "b")
    return pod, time.monotonic() - started


def test_run_is_running_within_seconds(busybox):
    pod, took = busybox
    assert took < 20, f"Running after {took:.1f}s"
    status = pod["status"]
    assert status["podIP"] and status["hostIP"]
    (container,) = status["containerStatuses"]
    assert container["name"] == "b" and container["restartCount"] == 0
    assert container["state"]["running"]["startedAt"]
    assert container["containerID"]
    assert {c["type"] for c in status["conditions"]} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready"}


def test_logs(cluster, ns, busybox):
    assert cluster.kubectl("-n", ns, "logs", "b") == "hi\n"


def test_exec_output(cluster, ns, busybox):
    assert cluster.kubectl("-n", ns, "exec", "b", "--", "sh", "-c", "echo out; echo err >&2").strip() == "out"


def test_exec_exit_code(cluster, ns, busybox):
    result = cluster.kubectl.run("-n", ns, "exec", "b", "--", "sh", "-c", "exit 3", check=False)
    assert result.returncode == 3, result.stderr


def test_deployment_spreads_over_both_nodes(cluster, ns):
    cluster.kubectl("-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=4",
                    "--", "sh", "-c", "sleep 3600")
    deadline = time.monotonic() + 90
    pods: list = []
    while time.monotonic() < deadline:
        pods = cluster.kubectl.json("-n", ns, "get", "pods", "-l", "app=web")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        if len(running) == 4:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"deployment not Running: {[(p['metadata']['name'], p['status'].get('phase')) for p in pods]}"
                    f"\n{cluster.logs()}")
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert nodes == set(cluster.node_names)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 4


def _containers(c, ns: str, node: str) -> dict[str, tuple[list, list]]:
    pods = c.kubectl.json("-n", ns, "get", "pods", "--field-selector", f"spec.nodeName={node}")["items"]
    return {p["metadata"]["name"]: ([s["containerID"] for s in p["status"]["containerStatuses"]],
                                    [s["restartCount"] for s in p["status"]["containerStatuses"]])
            for p in pods}


def test_sigterm_of_agent_keeps_containers(cluster, ns, busybox):
    """SIGTERM of ``kyb agent``: its containers run on while it is down, and
    the restarted agent adopts them (same IDs, same restart counts)."""
    from kybernetes.runtime import cgroups

    node = cluster.agents[0]
    before = _containers(cluster, ns, node.node_name)
    assert before, "the agent's node runs pods of the test"
    procs = set(cgroups.procs(f"/kybernetes/{node.node_name}"))
    cert = os.path.join(node.data_dir, "agent", "tls", "client-kubelet.crt")
    with open(cert) as f:
        identity = f.read()
    node.stop()
    time.sleep(1)
    assert procs and procs <= set(cgroups.procs(f"/kybernetes/{node.node_name}"))
    node.start()
    wait_nodes_ready(cluster)
    time.sleep(2)
    assert _containers(cluster, ns, node.node_name) == before
    with open(cert) as f:
        assert f.read() == identity  # credentials are obtained once, then reused


def test_sigkill_of_server_keeps_containers(cluster, ns, busybox):
    """SIGKILL of ``kyb server`` (and its in-process node), then start: the
    containers ran on, and the kubelet adopts them with the same IDs and
    restart counts."""
    before = {p["metadata"]["name"]: p for p in cluster.kubectl.json("-n", ns, "get", "pods")["items"]}
    ids = {name: [s["containerID"] for s in p["status"]["containerStatuses"]] for name, p in before.items()}
    restarts = {name: [s["restartCount"] for s in p["status"]["containerStatuses"]] for name, p in before.items()}
    cluster.server.kill()
    cluster.server.start()
    wait_nodes_ready(cluster)
    time.sleep(3)  # let the kubelet resync its pods once
    after = {p["metadata"]["name"]: p for p in cluster.kubectl.json("-n", ns, "get", "pods")["items"]}
    assert set(after) == set(before)
    for name, pod in after.items():
        assert pod["status"]["phase"] == "Running", name
        assert [s["containerID"] for s in pod["status"]["containerStatuses"]] == ids[name], name
        assert [s["restartCount"] for s in pod["status"]["containerStatuses"]] == restarts[name], name
    assert cluster.kubectl("-n", ns, "logs", "b") == "hi\n"


def test_sigterm_of_server_keeps_containers(cluster, ns, busybox):
    """``kyb server`` stopped with SIGTERM (a clean exit, status 0) leaves its
    node's containers running; started again, it adopts them."""
    import signal

    from kybernetes.runtime import cgroups

    node = cluster.server_node
    before = _containers(cluster, ns, node)
    assert before, "the server's node runs pods of the test"
    procs = set(cgroups.procs(f"/kybernetes/{node}"))
    proc = cluster.server.proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    cluster.server.stop()
    assert procs and procs <= set(cgroups.procs(f"/kybernetes/{node}"))
    cluster.server.start()
    wait_nodes_ready(cluster)
    time.sleep(2)
    assert _containers(cluster, ns, node) == before


def test_logs_follow_streams(cluster, ns):
    cluster.kubectl("-n", ns, "run", "ticker", "--image=busybox", "--",
                    "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")
    _wait_running(cluster, ns, "ticker")
    proc = cluster.kubectl.popen("-n", ns, "logs", "-f", "ticker")
    try:
        lines = [proc.stdout.readline() for _ in range(12)]
    finally:
        proc.kill()
        proc.wait()
    assert lines[0] == "line 0\n"
    assert lines[11] == "line 11\n"  # written after logs -f began: streamed


def test_exec_interactive_in_tmux(cluster, ns, busybox):
    """``kubectl exec -it b -- sh`` in a real terminal (tmux): a prompt, a
    command typed in and its output, then exit."""
    import shutil
    import subprocess

    assert shutil.which("tmux"), "tmux is needed (hack/setup.sh installs it)"
    session = f"kyb-{uuid.uuid4().hex[:8]}"
    k = cluster.kubectl
    cmd = (f"kubectl --kubeconfig {k.server.kubeconfig} --cache-dir {k.cache_dir} "
           f"-n {ns} exec -it b -- sh; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", cmd], check=True)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        deadline = time.monotonic() + 20
        while "#" not in screen() and "$" not in screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        subprocess.run(["tmux", "send-keys", "-t", session, "echo $((6*7)); tty", "Enter"], check=True)
        deadline = time.monotonic() + 10
        while "\n42" not in screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        out = screen()
        assert "\n42" in out, out
        assert "/dev/pts/" in out, out  # a terminal inside the container
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def test_port_forward_serves_a_page(cluster, ns):
    import re
    import urllib.request

    cluster.kubectl("-n", ns, "run", "web", "--image=busybox", "--port=8080", "--",
                    "python3", "-m", "http.server", "8080", "--directory", "/etc")
    _wait_running(cluster, ns, "web")
    proc = cluster.kubectl.popen("-n", ns, "port-forward", "pod/web", ":8080")
    try:
        line = proc.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        url = f"http://127.0.0.1:{m.group(1)}/hostname"
        deadline, body = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None and body.strip() == "web"
    finally:
        proc.kill()
        proc.wait()


def test_cp_both_ways(cluster, ns, busybox, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    cluster.kubectl("-n", ns, "cp", str(src), "b:/root/in.txt")
    assert cluster.kubectl("-n", ns, "exec", "b", "--", "cat", "/root/in.txt") == "copied in\n"
    dst = tmp_path / "out.txt"
    cluster.kubectl("-n", ns, "cp", "b:/root/in.txt", str(dst))
    assert dst.read_text() == "copied in\n"


def test_top_node_and_pod(cluster, ns, busybox):
    deadline, nodes, pods = time.monotonic() + 60, None, None
    while time.monotonic() < deadline:
        nodes = cluster.kubectl.run("top", "node", "--no-headers", check=False)
        pods = cluster.kubectl.run("-n", ns, "top", "pod", "b", "--no-headers", check=False)
        if nodes.returncode == 0 and pods.returncode == 0:
            break
        time.sleep(2)
    assert nodes.returncode == 0, nodes.stderr
    assert {line.split()[0] for line in nodes.stdout.splitlines()} == set(cluster.node_names)
    assert pods.returncode == 0, pods.stderr
    name, cpu, memory = pods.stdout.split()
    assert name == "b" and cpu.endswith("m") and memory.endswith("Mi")


def test_describe_node_shows_the_kubelet_and_controller_events(cluster):
    """`kubectl describe node` finds events by the node's UID and by its name
    (the kubelet's nodeRef): Starting, the pressure conditions, NodeReady,
    and the node controller's RegisteredNode."""
    wanted = ("Starting kubelet.", "status is now: NodeHasSufficientMemory",
              "status is now: NodeHasNoDiskPressure", "status is now: NodeHasSufficientPID",
              "status is now: NodeReady", "event: Registered Node")
    for node in cluster.node_names:
        deadline, events = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            described = cluster.kubectl.run("describe", "node", node).stdout
            events = described.split("\nEvents:", 1)[-1]
            if all(w in events for w in wanted):
                break
            time.sleep(1)
        missing = [w for w in wanted if w not in events]
        assert not missing, f"{node}: {missing} not in\n{events}"
        assert f"Node {node} event: Registered Node {node} in Controller" in events
        assert f"Node {node} status is now: NodeReady" in events


def test_kube_proxy_runs_beside_each_kubelet(cluster):
    """Each node runs kube-proxy (as a k3s agent does): the `kubernetes`
    Service's rule is in every node host's namespace, and none in the machine's."""
    import subprocess

    service_ip = str(cluster.plan.service_cidr.network_address + 1)
    for node in cluster.node_names:
        netns = f"{cluster.plan.prefix}-node-{node}"
        deadline, rules = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            rules = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "nat"],
                                   capture_output=True, text=True).stdout
            if f"-d {service_ip}/32" in rules and "KUBE-SERVICES" in rules:
                break
            time.sleep(0.5)
        assert f"-d {service_ip}/32" in rules, f"{node}: no rule for {service_ip}\n{rules}\n{cluster.logs()}"
    root = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert service_ip not in root


def test_volumes_and_env_are_visible_inside(cluster, ns):
    """configMap, secret, emptyDir, downward API and the projected service-account
    token, and env values from them, as a process in the container sees them."""
    k = cluster.kubectl
    k("-n", ns, "create", "configmap", "cfg", "--from-literal=colour=blue")
    k("-n", ns, "create", "secret", "generic", "sec", "--from-literal=password=s3cret")
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "vols", "labels": {"tier": "backend"}},
        "spec": {
            "containers": [{
                "name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"],
                "env": [
                    {"name": "COLOUR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "colour"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                    {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                ],
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                    {"name": "sec", "mountPath": "/etc/sec"},
                    {"name": "scratch", "mountPath": "/scratch"},
                    {"name": "info", "mountPath": "/etc/podinfo"},
                ],
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "sec"}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            ],
        },
    }
    k("-n", ns, "apply", "-f", "-", input=json.dumps(pod))
    running = _wait_running(cluster, ns, "vols")

    def sh(script: str) -> str:
        return k("-n", ns, "exec", "vols", "--", "sh", "-c", script)

    assert sh("cat /etc/cfg/colour") == "blue"
    assert sh("cat /etc/sec/password") == "s3cret"
    assert sh("cat /etc/podinfo/labels") == 'tier="backend"'
    assert sh("echo $COLOUR $PASSWORD $MY_POD $MY_IP").split() == [
        "blue", "s3cret", "vols", running["status"]["podIP"]]
    assert sh("echo x > /scratch/f && cat /scratch/f").strip() == "x"
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert sh(f"cat {sa}/namespace") == ns
    token = sh(f"cat {sa}/token")
    review = json.loads(k("create", "-f", "-", "-o", "json", input=json.dumps({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}})))
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{ns}:default"
    assert "BEGIN CERTIFICATE" in sh(f"cat {sa}/ca.crt")


def test_container_cannot_see_host_processes(cluster, ns, busybox):
    """A pid namespace of its own: the container's processes only, its command as pid 1."""
    pids = [p for p in cluster.kubectl("-n", ns, "exec", "b", "--", "sh", "-c", "ls /proc").split()
            if p.isdigit()]
    assert "1" in pids
    cmdline = cluster.kubectl("-n", ns, "exec", "b", "--", "cat", "/proc/1/cmdline")
    assert cmdline.replace("\0", " ").strip() == "sh -c echo hi; sleep 3600"
    assert len(pids) < 10, pids
