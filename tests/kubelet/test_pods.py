"""Pods on a real kubelet: real containers under runc, a real API server.

Each test runs its own kubelet (``node`` fixture) and checks what a user
would see: the pod's status through the API, its events, its log files,
and the machine left clean afterwards.
"""

from __future__ import annotations

import asyncio
import os

from kybernetes.network import iproute
from kybernetes.runtime import cgroups
from tests.kubelet.conftest import PODS, condition, follow_log, status_of


def sh(script: str, name: str = "c", **extra) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def log_text(node, ns: str, pod: dict, container: str, restart: int = 0) -> str:
    meta = pod["metadata"]
    path = os.path.join(node.config.pod_log_dir(ns, meta["name"], meta["uid"]), container, f"{restart}.log")
    with open(path) as f:
        return f.read()


async def test_pod_runs_with_ip_logs_and_events(node, namespace):
    await node.start()
    await node.create_pod(namespace, "web", [sh("echo hello from $(hostname); sleep 3600")])
    pod = await node.wait_pod(namespace, "web", lambda p: p["status"].get("phase") == "Running",
                              what="Running")
    st = pod["status"]
    assert st["podIP"] and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["podIP"] in str(node.plan.cluster_cidr) or st["podIP"].startswith(
        str(node.plan.cluster_cidr).split(".")[0])
    assert st["hostIP"] == str(node.kubelet.node_host.address.ip)
    assert st["startTime"] and st["qosClass"] == "BestEffort"
    cs = status_of(pod, "c")
    assert cs["containerID"].startswith("kyb-runc://") and cs["restartCount"] == 0
    assert "running" in cs["state"] and cs["ready"] and cs["started"]
    for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"):
        assert condition(pod, t) == "True", t
    await asyncio.sleep(0.5)
    text = log_text(node, namespace, pod, "c")
    assert " stdout F hello from web" in text
    reasons = [e["reason"] for e in await node.events(namespace, "web")]
    for r in ("Pulled", "Created", "Started"):
        assert r in reasons


async def test_exit_codes_and_restart_policy_never(node, namespace):
    await node.start()
    await node.create_pod(namespace, "ok", [sh("echo done")], restartPolicy="Never")
    await node.create_pod(namespace, "bad", [sh("exit 3")], restartPolicy="Never")
    ok = await node.wait_pod(namespace, "ok", lambda p: p["status"].get("phase") == "Succeeded",
                             what="Succeeded")
    term = status_of(ok, "c")["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert list(status_of(ok, "c")["state"]) == ["terminated"]  # replaced, never merged
    assert condition(ok, "Ready") == "False"
    bad = await node.wait_pod(namespace, "bad", lambda p: p["status"].get("phase") == "Failed",
                              what="Failed")
    term = status_of(bad, "c")["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert term["containerID"] == status_of(bad, "c")["containerID"]
    assert status_of(bad, "c")["restartCount"] == 0


async def test_on_failure_restarts_until_crash_loop(node, namespace):
    await node.start()
    await node.create_pod(namespace, "crash", [sh("echo try; exit 1")], restartPolicy="OnFailure")
    pod = await node.wait_pod(
        namespace, "crash",
        lambda p: (status_of(p, "c").get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff",
        timeout=30, what="CrashLoopBackOff")
    cs = status_of(pod, "c")
    assert cs["restartCount"] >= 1
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert "back-off 10s" in cs["state"]["waiting"]["message"]
    assert pod["status"]["phase"] == "Running"
    reasons = [e["reason"] for e in await node.events(namespace, "crash")]
    assert "BackOff" in reasons
    # The previous container is kept for `logs --previous`, older ones are removed.
    log_dir = os.path.join(node.config.pod_log_dir(namespace, "crash", pod["metadata"]["uid"]), "c")
    assert sorted(os.listdir(log_dir))[:2] == ["0.log", "1.log"]
    # The delay grows: 10 s, then 20 s (doubling up to 300 s).
    pod = await node.wait_pod(
        namespace, "crash",
        lambda p: "back-off 20s" in ((status_of(p, "c").get("state", {}).get("waiting") or {}).get("message") or ""),
        timeout=60, what="the second back-off")
    assert status_of(pod, "c")["restartCount"] >= 2


async def test_liveness_failure_restarts_and_readiness_drives_ready(node, namespace):
    await node.start()
    live = sh("touch /tmp/healthy; sleep 3600", "live", livenessProbe={
        "exec": {"command": ["sh", "-c", "test -e /tmp/healthy && rm /tmp/healthy"]},
        "periodSeconds": 1, "failureThreshold": 1})
    ready = sh("sleep 3600", "unready", readinessProbe={
        "exec": {"command": ["false"]}, "periodSeconds": 1})
    await node.create_pod(namespace, "probed", [live, ready], terminationGracePeriodSeconds=1)
    pod = await node.wait_pod(namespace, "probed", lambda p: status_of(p, "live").get("restartCount", 0) >= 1
                              and "running" in status_of(p, "live").get("state", {}),
                              timeout=40, what="liveness restart")
    cs = status_of(pod, "live")
    assert cs["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert status_of(pod, "unready")["ready"] is False
    assert condition(pod, "Ready") == "False" and condition(pod, "ContainersReady") == "False"
    assert pod["status"]["phase"] == "Running"
    events = await node.events(namespace, "probed")
    unhealthy = [e["message"] for e in events if e["reason"] == "Unhealthy"]
    assert any(m.startswith("Liveness probe failed") for m in unhealthy)
    assert any(m.startswith("Readiness probe failed") for m in unhealthy)
    assert any(e["reason"] == "Killing" and "failed liveness probe, will be restarted" in e["message"]
               for e in events)


async def test_memory_limit_ends_in_oom_killed(node, namespace):
    await node.start()
    hog = sh("python3 -c 'b = bytearray(300 * 1024 * 1024); import time; time.sleep(5)'", "hog",
             resources={"limits": {"memory": "64Mi"}})
    await node.create_pod(namespace, "oom", [hog], restartPolicy="Never")
    pod = await node.wait_pod(namespace, "oom", lambda p: p["status"].get("phase") == "Failed",
                              what="Failed")
    term = status_of(pod, "hog")["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    assert pod["status"]["qosClass"] == "Burstable"


async def test_init_containers_run_in_order(node, namespace):
    await node.start()
    mount = [{"name": "shared", "mountPath": "/shared"}]
    inits = [sh("sleep 0.3; echo one > /shared/order", "one", volumeMounts=mount),
             sh("echo two >> /shared/order", "two", volumeMounts=mount)]
    await node.create_pod(namespace, "init", [sh("cat /shared/order; sleep 3600", "main", volumeMounts=mount)],
                          initContainers=inits, volumes=[{"name": "shared", "emptyDir": {}}])
    pod = await node.wait_pod(namespace, "init", lambda p: p["status"].get("phase") == "Running",
                              timeout=30, what="Running")
    inits_st = pod["status"]["initContainerStatuses"]
    assert [s["name"] for s in inits_st] == ["one", "two"]
    one, two = (s["state"]["terminated"] for s in inits_st)
    assert one["exitCode"] == two["exitCode"] == 0 and one["finishedAt"] <= two["startedAt"]
    assert all(s["ready"] and s["restartCount"] == 0 for s in inits_st)
    assert condition(pod, "Initialized") == "True"
    await asyncio.sleep(0.5)
    assert "stdout F one" in log_text(node, namespace, pod, "main")
    assert log_text(node, namespace, pod, "main").index("F one") < log_text(node, namespace, pod, "main").index("F two")


async def test_deletion_sends_sigterm_and_cleans_up(node, namespace):
    kl = await node.start()
    trap = sh("trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done")
    await node.create_pod(namespace, "term", [trap], terminationGracePeriodSeconds=10)
    pod = await node.wait_pod(namespace, "term", lambda p: p["status"].get("phase") == "Running",
                              what="Running")
    uid = pod["metadata"]["uid"]
    net = await kl.pod_network.lookup(uid)
    assert net is not None and iproute.netns_exists(net.netns)
    pod_cgroup = f"{node.config.cgroup}/pod{uid}"
    assert cgroups.all_dirs(pod_cgroup)
    log_path = os.path.join(node.config.pod_log_dir(namespace, "term", uid), "c", "0.log")
    seen: list[str] = []

    follower = asyncio.create_task(follow_log(log_path, seen))
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await node.client.delete(PODS, "term", namespace)  # grace from the spec: 10 s
    await node.wait_gone(namespace, "term", timeout=20)
    assert loop.time() - t0 < 8, "the container ignored SIGTERM and waited for SIGKILL?"
    await asyncio.wait_for(follower, 5)
    assert "started" in "".join(seen) and "got TERM" in "".join(seen)
    events = await node.events(namespace, "term")
    assert any(e["reason"] == "Killing" and e["message"] == "Stopping container c" for e in events)
    assert not iproute.netns_exists(net.netns)
    assert not cgroups.all_dirs(pod_cgroup)
    assert not os.path.exists(node.config.pod_dir(uid))
    assert not [c for c in await kl.runtime.list() if c.labels.get("io.kubernetes.pod.uid") == uid]


async def test_restarted_kubelet_readopts_containers(node, namespace):
    await node.start()
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    await node.create_pod(namespace, "keep", [sh("sleep 3600", readinessProbe=probe)])
    pod = await node.wait_pod(namespace, "keep", lambda p: condition(p, "Ready") == "True", what="Ready")
    before = status_of(pod, "c")
    await node.stop()
    await node.start()
    loop = asyncio.get_running_loop()
    end = loop.time() + 3
    while loop.time() < end:  # no flap to not-ready while the new kubelet takes over
        pod = await node.pod(namespace, "keep")
        assert condition(pod, "Ready") == "True"
        await asyncio.sleep(0.2)
    after = status_of(pod, "c")
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == before["restartCount"] == 0
    assert after["state"] == before["state"]
    assert pod["status"]["podIP"]
