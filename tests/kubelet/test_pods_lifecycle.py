"""Pod lifecycle on a real kubelet: hooks, deadlines, hostNetwork, security
context, httpGet/tcpSocket probes, and pods deleted while the kubelet was down."""

from __future__ import annotations

import asyncio
import os

from kybernetes.network import iproute, naming
from tests.kubelet.conftest import PODS, condition, follow_log, status_of


def sh(script: str, name: str = "c", **extra) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def running(p: dict) -> bool:
    return p["status"].get("phase") == "Running"


async def test_post_start_and_pre_stop_hooks(node, namespace):
    kl = await node.start()
    c = sh("trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done", lifecycle={
        "postStart": {"exec": {"command": ["sh", "-c", "echo poststart > /tmp/started"]}},
        "preStop": {"exec": {"command": ["sh", "-c", "echo prestop > /proc/1/fd/1; sleep 0.3"]}}})
    await node.create_pod(namespace, "hooks", [c], terminationGracePeriodSeconds=10)
    pod = await node.wait_pod(namespace, "hooks", running, what="Running")
    cid = status_of(pod, "c")["containerID"].split("://")[1]
    code, out, _ = await kl.runtime.exec_sync(cid, ["cat", "/tmp/started"], timeout=10)
    assert (code, out) == (0, b"poststart\n")
    log_path = os.path.join(node.config.pod_log_dir(namespace, "hooks", pod["metadata"]["uid"]), "c", "0.log")
    seen: list[str] = []

    follower = asyncio.create_task(follow_log(log_path, seen))
    await node.client.delete(PODS, "hooks", namespace)
    await node.wait_gone(namespace, "hooks", timeout=20)
    await asyncio.wait_for(follower, 5)
    text = "".join(seen)
    assert "prestop" in text and "got TERM" in text
    assert text.index("prestop") < text.index("got TERM")


async def test_active_deadline_fails_the_pod(node, namespace):
    await node.start()
    await node.create_pod(namespace, "deadline", [sh("sleep 3600")], activeDeadlineSeconds=2,
                          restartPolicy="Never", terminationGracePeriodSeconds=0)
    pod = await node.wait_pod(namespace, "deadline", lambda p: p["status"].get("phase") == "Failed",
                              timeout=20, what="Failed")
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert "terminated" in status_of(pod, "c")["state"]


async def test_host_network_pod_runs_in_the_node_host(node, namespace):
    kl = await node.start()
    await node.create_pod(namespace, "hostnet", [sh("hostname; sleep 3600")], hostNetwork=True)
    pod = await node.wait_pod(namespace, "hostnet", running, what="Running")
    assert pod["status"]["podIP"] == pod["status"]["hostIP"] == str(kl.node_host.address.ip)
    cid = status_of(pod, "c")["containerID"].split("://")[1]
    _, out, _ = await kl.runtime.exec_sync(cid, ["readlink", "/proc/self/ns/net"], timeout=10)
    inode = os.stat(naming.netns_path(kl.node_host.netns)).st_ino
    assert out.decode().strip() == f"net:[{inode}]"


async def test_security_context_env_and_args(node, namespace):
    await node.start()
    c = {"name": "c", "image": "busybox", "command": ["sh", "-c"],
         "args": ["echo uid=$(id -u) gid=$(id -g) greeting=$GREETING expanded=$(GREETING2); "
                  "touch /x 2>/dev/null && echo writable || echo readonly; pwd; sleep 3600"],
         "workingDir": "/tmp",
         "env": [{"name": "GREETING", "value": "hello"}, {"name": "GREETING2", "value": "$(GREETING) world"}],
         "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "readOnlyRootFilesystem": True,
                             "allowPrivilegeEscalation": False}}
    await node.create_pod(namespace, "sc", [c])
    pod = await node.wait_pod(namespace, "sc", running, what="Running")
    path = os.path.join(node.config.pod_log_dir(namespace, "sc", pod["metadata"]["uid"]), "c", "0.log")
    for _ in range(50):
        with open(path) as f:
            text = f.read()
        if "/tmp" in text:
            break
        await asyncio.sleep(0.1)
    assert "uid=1000 gid=3000 greeting=hello" in text
    assert "readonly" in text and "stdout F /tmp" in text


async def test_http_and_tcp_probes_with_named_port(node, namespace):
    await node.start()
    srv = {"name": "srv", "image": "python:3", "command": ["python3", "-m", "http.server", "8080"],
           "ports": [{"name": "http", "containerPort": 8080}],
           "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 1},
           "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 5}}
    await node.create_pod(namespace, "http", [srv])
    pod = await node.wait_pod(namespace, "http", lambda p: condition(p, "Ready") == "True", timeout=20,
                              what="Ready")
    assert status_of(pod, "srv")["ready"] and status_of(pod, "srv")["restartCount"] == 0


async def test_pod_deleted_while_kubelet_down_is_cleaned_up(node, namespace):
    kl = await node.start()
    await node.create_pod(namespace, "orphan", [sh("sleep 3600")])
    pod = await node.wait_pod(namespace, "orphan", running, what="Running")
    uid = pod["metadata"]["uid"]
    netns = (await kl.pod_network.lookup(uid)).netns
    await node.stop()
    await node.client.delete(PODS, "orphan", namespace, grace_period_seconds=0)
    kl = await node.start()
    for _ in range(100):
        left = [c for c in await kl.runtime.list() if c.labels.get("io.kubernetes.pod.uid") == uid]
        if not left and not iproute.netns_exists(netns) and not os.path.exists(node.config.pod_dir(uid)):
            break
        await asyncio.sleep(0.2)
    assert not left and not iproute.netns_exists(netns)
    assert not os.path.exists(node.config.pod_dir(uid))


async def test_termination_message_and_config_error(node, namespace):
    await node.start()
    msg = sh("echo 'bye now' > /dev/termination-log; exit 4", "msg")
    logs = sh("echo last words; exit 5", "logs", terminationMessagePolicy="FallbackToLogsOnError")
    await node.create_pod(namespace, "words", [msg, logs], restartPolicy="Never")
    pod = await node.wait_pod(namespace, "words", lambda p: p["status"].get("phase") == "Failed",
                              what="Failed")
    assert status_of(pod, "msg")["state"]["terminated"]["message"] == "bye now\n"
    assert status_of(pod, "logs")["state"]["terminated"]["message"] == "last words\n"
    bad = sh("sleep 3600", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}}])
    await node.create_pod(namespace, "noconfig", [bad])
    pod = await node.wait_pod(
        namespace, "noconfig",
        lambda p: (status_of(p, "c").get("state", {}).get("waiting") or {}).get("reason")
        == "CreateContainerConfigError", what="CreateContainerConfigError")
    assert pod["status"]["phase"] == "Pending"
    events = await node.events(namespace, "noconfig")
    assert any(e["reason"] == "Failed" and e["message"].startswith("Error: ") for e in events)


async def test_missing_config_map_volume_waits_with_failed_mount(node, namespace):
    from kybernetes.api import registry
    configmaps = registry.lookup("", "v1", "configmaps")
    await node.start()
    c = sh("cat /cfg/greeting; sleep 3600", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
    await node.create_pod(namespace, "mount", [c], volumes=[{"name": "cfg", "configMap": {"name": "later"}}])
    pod = await node.wait_pod(namespace, "mount", lambda p: (status_of(p, "c").get("state", {}).get(
        "waiting") or {}).get("reason") == "ContainerCreating", what="ContainerCreating")
    assert pod["status"]["phase"] == "Pending"
    for _ in range(50):
        events = await node.events(namespace, "mount")
        if any(e["reason"] == "FailedMount" for e in events):
            break
        await asyncio.sleep(0.2)
    assert any(e["reason"] == "FailedMount" and "later" in e["message"] for e in events)
    await node.client.create(configmaps, {"metadata": {"name": "later"}, "data": {"greeting": "hi\n"}}, namespace)
    pod = await node.wait_pod(namespace, "mount", running, what="Running")
    path = os.path.join(node.config.pod_log_dir(namespace, "mount", pod["metadata"]["uid"]), "c", "0.log")
    for _ in range(20):
        if os.path.exists(path) and "F hi" in open(path).read():
            break
        await asyncio.sleep(0.1)
    assert "stdout F hi" in open(path).read()


async def test_sidecar_init_containers(node, namespace):
    await node.start()
    side = sh("trap 'exit 0' TERM; while true; do sleep 0.1; done", "side", restartPolicy="Always",
              readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 1})
    setup = sh("echo setup", "setup")
    await node.create_pod(namespace, "sidecar", [sh("sleep 2", "main")], initContainers=[side, setup],
                          restartPolicy="Never")
    pod = await node.wait_pod(namespace, "sidecar", lambda p: condition(p, "Ready") == "True",
                              timeout=20, what="Ready")
    side_st = status_of(pod, "side")
    assert "running" in side_st["state"] and side_st["ready"] and side_st["started"]
    assert status_of(pod, "setup")["state"]["terminated"]["exitCode"] == 0
    assert condition(pod, "Initialized") == "True" and pod["status"]["phase"] == "Running"
    # main is done: the sidecar is stopped and the pod succeeds.
    pod = await node.wait_pod(namespace, "sidecar", lambda p: p["status"].get("phase") == "Succeeded",
                              timeout=20, what="Succeeded")
    assert "terminated" in status_of(pod, "side")["state"]
    # A sidecar that exits is restarted, whatever the pod's restartPolicy.
    flaky = sh("sleep 0.5; exit 1", "flaky", restartPolicy="Always")
    await node.create_pod(namespace, "flaky", [sh("sleep 3600", "main")], initContainers=[flaky],
                          restartPolicy="Never")
    pod = await node.wait_pod(namespace, "flaky", lambda p: status_of(p, "flaky").get("restartCount", 0) >= 1,
                              timeout=20, what="sidecar restarted")
    assert pod["status"]["phase"] == "Running" and "running" in status_of(pod, "main")["state"]


async def test_shorter_grace_period_cuts_the_wait(node, namespace):
    await node.start()
    stubborn = sh("trap '' TERM; while true; do sleep 0.1; done")
    await node.create_pod(namespace, "stubborn", [stubborn], terminationGracePeriodSeconds=60)
    await node.wait_pod(namespace, "stubborn", running, what="Running")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await node.client.delete(PODS, "stubborn", namespace)  # 60 s
    await asyncio.sleep(1)
    await node.client.delete(PODS, "stubborn", namespace, grace_period_seconds=2)
    await node.wait_gone(namespace, "stubborn", timeout=20)
    assert loop.time() - t0 < 8


async def test_host_pid_sees_the_machines_processes(node, namespace):
    kl = await node.start()
    await node.create_pod(namespace, "hostpid", [sh("sleep 3600")], hostPID=True)
    await node.create_pod(namespace, "ownpid", [sh("sleep 3600")])
    pods = {}
    for name in ("hostpid", "ownpid"):
        pods[name] = await node.wait_pod(namespace, name, running, what="Running")
    seen = {}
    for name, pod in pods.items():
        cid = status_of(pod, "c")["containerID"].split("://")[1]
        _, out, _ = await kl.runtime.exec_sync(cid, ["readlink", "/proc/self/ns/pid"], timeout=10)
        seen[name] = out.decode().strip()
    assert seen["hostpid"] == os.readlink("/proc/self/ns/pid")
    assert seen["ownpid"] != os.readlink("/proc/self/ns/pid")
