"""Desired state becomes actual state: the controller manager and scheduler
of ``kyb server`` with simulated (hollow) nodes, driven by the real kubectl.

Three hollow nodes run in two ``kyb hollow-nodes`` processes (two nodes and
one node), so that one node can be "lost" by ending its process. Short node
monitor and toleration settings make node loss play out in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from tests.e2e.cluster import ROOT, Kubectl, Server, free_port

SERVER_ARGS = ["--node-monitor-period", "1", "--node-monitor-grace-period", "6",
               "--default-not-ready-toleration-seconds", "4",
               "--default-unreachable-toleration-seconds", "4"]


def hollow(server: Server, count: int, prefix: str, *extra: str) -> subprocess.Popen:
    log = open(os.path.join(server.data_dir, f"hollow-{prefix}.log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", "hollow-nodes",
                             "--kubeconfig", server.kubeconfig, "--count", str(count),
                             "--name-prefix", prefix, *extra], cwd=ROOT, stdout=log, stderr=log)


def end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = Server(str(tmp_path_factory.mktemp("cp-server")), free_port(), args=SERVER_ARGS)
    server.start()
    nodes = {"a": hollow(server, 2, "a-"), "b": hollow(server, 1, "b-")}
    kubectl = Kubectl(server, str(tmp_path_factory.mktemp("cp-kubectl")))
    try:
        wait_for(lambda: len(ready_nodes(kubectl)) == 3, 30, "3 Ready nodes")
        yield server, kubectl, nodes
    finally:
        for proc in nodes.values():
            end(proc)
        server.stop()


@pytest.fixture
def ns(cluster):
    _, kubectl, _ = cluster
    name = f"cp-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    return name


def wait_for(check, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def ready_nodes(kubectl: Kubectl) -> list[str]:
    nodes = kubectl.json("get", "nodes")["items"]
    return [n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]


def pods(kubectl: Kubectl, ns: str, selector: str = "") -> list[dict]:
    args = ["get", "pods", "-n", ns] + (["-l", selector] if selector else [])
    return kubectl.json(*args)["items"]


def running(kubectl: Kubectl, ns: str, selector: str = "") -> list[dict]:
    return [p for p in pods(kubectl, ns, selector)
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def deployment(name: str, replicas: int, image: str = "nginx:1.25", **spec) -> str:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}
    return json.dumps(body)


def test_deployment_spreads_rolls_out_and_rolls_back(cluster, ns):
    _, kubectl, _ = cluster
    kubectl("apply", "-n", ns, "-f", "-", input=deployment("web", 9))
    kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s", timeout=90)
    placed = {p["spec"]["nodeName"] for p in running(kubectl, ns, "app=web")}
    assert len(running(kubectl, ns, "app=web")) == 9
    assert len(placed) == 3, f"pods not spread over 3 nodes: {placed}"
    kubectl("set", "image", "deployment/web", "-n", ns, "c=nginx:1.26")
    kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s", timeout=90)
    images = {p["spec"]["containers"][0]["image"] for p in running(kubectl, ns, "app=web")}
    assert images == {"nginx:1.26"}
    history = kubectl("rollout", "history", "deployment/web", "-n", ns)
    assert "REVISION" in history and "1" in history and "2" in history
    kubectl("rollout", "undo", "deployment/web", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s", timeout=90)
    images = {p["spec"]["containers"][0]["image"] for p in running(kubectl, ns, "app=web")}
    assert images == {"nginx:1.25"}
    kubectl("scale", "deployment/web", "-n", ns, "--replicas=0")
    wait_for(lambda: not pods(kubectl, ns, "app=web"), 30, "no pods at 0 replicas")
    kubectl("scale", "deployment/web", "-n", ns, "--replicas=3")
    wait_for(lambda: len(running(kubectl, ns, "app=web")) == 3, 30, "3 running pods")


def test_deleting_a_deployment_removes_its_replicasets_and_pods(cluster, ns):
    _, kubectl, _ = cluster
    kubectl("apply", "-n", ns, "-f", "-", input=deployment("gone", 2))
    wait_for(lambda: len(running(kubectl, ns, "app=gone")) == 2, 30, "2 running pods")
    kubectl("delete", "deployment", "gone", "-n", ns)
    wait_for(lambda: not kubectl.json("get", "replicasets", "-n", ns)["items"], 30, "replica sets gone")
    wait_for(lambda: not pods(kubectl, ns, "app=gone"), 30, "pods gone")


def test_orphan_propagation_keeps_the_replicaset(cluster, ns):
    _, kubectl, _ = cluster
    kubectl("apply", "-n", ns, "-f", "-", input=deployment("orph", 1))
    wait_for(lambda: len(running(kubectl, ns, "app=orph")) == 1, 30, "1 running pod")
    kubectl("delete", "deployment", "orph", "-n", ns, "--cascade=orphan")
    time.sleep(2)
    rss = kubectl.json("get", "replicasets", "-n", ns)["items"]
    assert len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")


def test_daemonset_runs_one_pod_per_node(cluster, ns):
    _, kubectl, nodes = cluster
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(ds))
    wait_for(lambda: len(running(kubectl, ns, "app=agent")) == 3, 30, "a pod on each of 3 nodes")
    assert len({p["spec"]["nodeName"] for p in running(kubectl, ns, "app=agent")}) == 3


def test_statefulset_has_ordered_names(cluster, ns):
    _, kubectl, _ = cluster
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 3, "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sts))
    wait_for(lambda: sorted(p["metadata"]["name"] for p in running(kubectl, ns, "app=db"))
             == ["db-0", "db-1", "db-2"], 60, "db-0..2 running")


def test_job_completes_and_cronjob_creates_jobs(cluster, ns):
    _, kubectl, _ = cluster
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"completions": 2, "parallelism": 1, "template": {
               "metadata": {"annotations": {"hollow.kybernetes.io/succeed-after": "1s"}},
               "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job))
    kubectl("wait", "--for=condition=complete", "job/once", "-n", ns, "--timeout=60s", timeout=90)
    assert kubectl.json("get", "job", "once", "-n", ns)["status"]["succeeded"] == 2
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(cron))
    wait_for(lambda: [j for j in kubectl.json("get", "jobs", "-n", ns)["items"]
                      if j["metadata"]["name"].startswith("tick-")], 75, "a job from the cronjob", 1.0)


def test_unschedulable_pod_gets_failed_scheduling_then_binds(cluster, ns):
    server, kubectl, _ = cluster
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
           "spec": {"containers": [{"name": "c", "image": "busybox",
                                    "resources": {"requests": {"cpu": "64"}}}]}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))

    def failed_event():
        events = kubectl.json("get", "events", "-n", ns, "--field-selector", "involvedObject.name=big")
        return [e for e in events["items"] if e["reason"] == "FailedScheduling"]

    events = wait_for(failed_event, 30, "a FailedScheduling event")
    assert events[0]["message"].startswith("0/3 nodes are available: 3 Insufficient cpu.")
    assert kubectl.json("get", "pod", "big", "-n", ns)["status"]["conditions"][0]["reason"] == "Unschedulable"
    extra = hollow(server, 1, "huge-", "--cpu", "128")
    try:
        wait_for(lambda: kubectl.json("get", "pod", "big", "-n", ns)["spec"].get("nodeName") == "huge-0",
                 30, "the pod bound to the big node")
    finally:
        end(extra)
        kubectl("delete", "pod", "big", "-n", ns, "--wait=false")
        kubectl("delete", "node", "huge-0", "--wait=false")


def test_namespace_deletion_empties_and_removes_it(cluster):
    _, kubectl, _ = cluster
    name = f"del-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    kubectl("apply", "-n", name, "-f", "-", input=deployment("x", 2))
    kubectl("apply", "-n", name, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    kubectl("delete", "namespace", name, "--timeout=60s", timeout=90)
    result = kubectl.run("get", "namespace", name, check=False)
    assert result.returncode != 0 and "NotFound" in result.stderr


def test_lost_node_goes_not_ready_and_its_pods_are_replaced(cluster, ns):
    server, kubectl, nodes = cluster
    kubectl("apply", "-n", ns, "-f", "-", input=deployment("survivor", 6))
    wait_for(lambda: len(running(kubectl, ns, "app=survivor")) == 6, 30, "6 running pods")
    end(nodes["b"])
    lost = "b-0"

    def tainted():
        node = kubectl.json("get", "node", lost)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
        taints = {t["key"] for t in node["spec"].get("taints", [])}
        return ready["status"] == "Unknown" and "node.kubernetes.io/unreachable" in taints

    wait_for(tainted, 30, "the lost node Unknown and tainted")
    wait_for(lambda: len([p for p in running(kubectl, ns, "app=survivor")
                          if p["spec"]["nodeName"] != lost]) == 6, 60, "6 pods on live nodes")
    nodes["b"] = hollow(server, 1, "b-")
    wait_for(lambda: lost in ready_nodes(kubectl), 30, "the node back")


def test_a_second_controller_manager_stands_by(cluster, ns):
    server, kubectl, _ = cluster
    holder = kubectl.json("get", "lease", "kube-controller-manager", "-n", "kube-system")["spec"]["holderIdentity"]
    log = open(os.path.join(server.data_dir, "second-cm.log"), "ab")
    second = subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", "controller-manager",
                               "--kubeconfig", server.kubeconfig], cwd=ROOT, stdout=log, stderr=log)
    try:
        time.sleep(3)
        kubectl("apply", "-n", ns, "-f", "-", input=deployment("solo", 3))
        wait_for(lambda: len(running(kubectl, ns, "app=solo")) == 3, 30, "3 running pods")
        time.sleep(3)  # two acting managers would have over-created by now
        assert len(pods(kubectl, ns, "app=solo")) == 3
        assert len(kubectl.json("get", "replicasets", "-n", ns)["items"]) == 1
        lease = kubectl.json("get", "lease", "kube-controller-manager", "-n", "kube-system")
        assert lease["spec"]["holderIdentity"] == holder
    finally:
        end(second)
