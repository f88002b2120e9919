"""Fast checks of the kubelet's pure parts: container config from a pod spec,
phase rules, back-off arithmetic and the pod workers' coalescing."""

from __future__ import annotations

import asyncio

from kybernetes.kubelet import config as kconfig
from kybernetes.kubelet import containerspec, pod_workers, podcontainers, podstatus
from kybernetes.runtime import records


def pod(containers: list[dict], **spec) -> dict:
    return {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"},
            "spec": {"containers": containers, **spec}}


def test_resources_follow_the_kubelets_conversions():
    c = {"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                    "limits": {"cpu": "500m", "memory": "128Mi"}}}
    r = containerspec.resources(pod([c]), c)
    assert r.cpu_shares == 256 and r.cpu_quota == 50_000 and r.cpu_period == 100_000
    assert r.memory_limit == 128 * 1024 * 1024
    assert 2 <= r.oom_score_adj <= 999
    assert containerspec.qos_class(pod([c])) == "Burstable"
    g = {"name": "g", "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                    "requests": {"cpu": "1", "memory": "1Gi"}}}
    assert containerspec.qos_class(pod([g])) == "Guaranteed"
    assert containerspec.resources(pod([g]), g).oom_score_adj == -997
    b = {"name": "b"}
    assert containerspec.qos_class(pod([b])) == "BestEffort"
    assert containerspec.resources(pod([b]), b).cpu_shares == 2


def test_container_config_carries_labels_security_and_log_path(tmp_path):
    cfg = kconfig.KubeletConfig(node_name="n", data_dir=str(tmp_path))
    c = {"name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(A) $$(A)"],
         "securityContext": {"runAsUser": 1000, "privileged": False, "readOnlyRootFilesystem": True,
                             "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                             "allowPrivilegeEscalation": False}}
    p = pod([c], securityContext={"runAsGroup": 2000, "fsGroup": 3000}, terminationGracePeriodSeconds=7)
    out = containerspec.container_config(cfg, p, c, kind="app", restart_count=3, env={"A": "x"},
                                         mounts=[], hostname="p")
    assert out.args == ["echo x $(A)"]
    assert (out.run_as_user, out.run_as_group, out.supplemental_groups) == (1000, 2000, [3000])
    assert out.readonly_rootfs and not out.allow_privilege_escalation
    assert out.capabilities_add == ["NET_ADMIN"] and out.capabilities_drop == ["ALL"]
    assert out.labels[containerspec.POD_UID] == "u1"
    assert out.labels[containerspec.RESTART_COUNT] == "3"
    assert out.labels[containerspec.GRACE_PERIOD] == "7"
    assert out.log_path.endswith("ns_p_u1/c/3.log")
    assert out.cgroup_parent == "/kybernetes/n/podu1"


def _status(name: str, state: dict, last: dict | None = None) -> dict:
    return {"name": name, "state": state, "lastState": last or {}, "ready": False}


def test_phase_rules():
    run = {"running": {}}
    ok, bad = {"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 1}}
    wait = {"waiting": {"reason": "ContainerCreating"}}
    assert podstatus.phase(pod([], restartPolicy="Never"), [], [_status("a", ok)]) == "Succeeded"
    assert podstatus.phase(pod([], restartPolicy="Never"), [], [_status("a", ok), _status("b", bad)]) == "Failed"
    assert podstatus.phase(pod([], restartPolicy="OnFailure"), [], [_status("a", bad)]) == "Running"
    assert podstatus.phase(pod([], restartPolicy="Always"), [], [_status("a", ok)]) == "Running"
    assert podstatus.phase(pod([]), [], [_status("a", run), _status("b", wait)]) == "Pending"
    crash = _status("a", {"waiting": {"reason": "CrashLoopBackOff"}}, {"terminated": {"exitCode": 1}})
    assert podstatus.phase(pod([]), [], [crash]) == "Running"
    assert podstatus.phase(pod([], restartPolicy="Never"), [_status("i", bad)], [_status("a", wait)]) == "Failed"
    assert podstatus.phase(pod([]), [_status("i", run)], [_status("a", wait)]) == "Pending"


def test_status_of_a_restarted_container_keeps_the_last_exit():
    def container(cid: str, count: int, state: str, code: int | None = None) -> records.ContainerStatus:
        return records.ContainerStatus(id=cid, name="c", state=state, image="docker.io/library/busybox:latest",
                                       image_id="sha256:x", created_at=1, started_at=2_000_000_000,
                                       finished_at=3_000_000_000 if code is not None else None,
                                       exit_code=code, reason="Error" if code else "",
                                       labels={containerspec.RESTART_COUNT: str(count)})
    state = podstatus.PodState(host_ip="172.31.255.2", pod_ip="10.244.0.5",
                               containers={"c": [container("b", 1, "running"), container("a", 0, "exited", 137)]},
                               ready={"c": True}, started={"c": True}, sandbox_ready=True)
    st = podstatus.compute(pod([{"name": "c", "image": "busybox"}]), state)
    cs = st["containerStatuses"][0]
    assert cs["restartCount"] == 1 and cs["ready"] and cs["containerID"] == "kyb-runc://b"
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["lastState"]["terminated"]["containerID"] == "kyb-runc://a"
    assert st["phase"] == "Running" and st["podIP"] == "10.244.0.5"
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
        "ContainersReady": "True", "PodScheduled": "True"}


def test_back_off_doubles_to_five_minutes_and_resets():
    b = podcontainers.Backoff()
    assert b.remaining("c", finished_at=100.0, now=100.0) == 0
    b.next("c", now=100.0)
    assert b.remaining("c", finished_at=101.0, now=105.0) == 6.0
    delays = []
    for t in range(1, 8):
        b.next("c", now=100.0 + t)
        delays.append(b.current("c"))
    assert delays == [20, 40, 80, 160, 300, 300, 300]
    assert b.remaining("c", finished_at=800.0, now=800.0) == 0  # 10 minutes since the last restart
    b.next("c", now=800.0)
    assert b.current("c") == 10


async def test_pod_workers_serialise_and_coalesce():
    running, seen = 0, []
    most = 0

    async def sync(p: dict, gone: bool) -> float | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        seen.append(p["v"])
        await asyncio.sleep(0.05)
        running -= 1
        return pod_workers.FINISHED if gone else None

    workers = pod_workers.PodWorkers(sync, resync=60)
    for v in range(5):
        workers.update({"metadata": {"uid": "u"}, "v": v})
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    assert most == 1 and seen[0] == 0 and seen[-1] == 4 and len(seen) < 5
    workers.remove({"metadata": {"uid": "u"}, "v": 9})
    await asyncio.sleep(0.2)
    assert workers.uids() == [] and seen[-1] == 9
    workers.update({"metadata": {"uid": "u"}, "v": 10})  # late event for a finished pod
    await asyncio.sleep(0.1)
    assert workers.uids() == []
    await workers.stop()


def test_readiness_gates_hold_ready_back():
    state = podstatus.PodState(host_ip="172.31.255.2", pod_ip="10.244.0.5", sandbox_ready=True)
    p = pod([{"name": "c", "image": "busybox"}], readinessGates=[{"conditionType": "example.com/lb"}])
    p["status"] = {"conditions": [{"type": "example.com/lb", "status": "False"}]}
    state.containers = {"c": [records.ContainerStatus(id="a", name="c", state="running", image="", image_id="",
                                                      created_at=1, started_at=1)]}
    state.ready, state.started = {"c": True}, {"c": True}
    conds = {c["type"]: c for c in podstatus.compute(p, state)["conditions"]}
    assert conds["ContainersReady"]["status"] == "True"
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert conds["example.com/lb"]["status"] == "False"
    p["status"]["conditions"][0]["status"] = "True"
    assert {c["type"]: c["status"] for c in podstatus.compute(p, state)["conditions"]}["Ready"] == "True"
