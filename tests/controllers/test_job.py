"""Job controller: accounting units, ``sync`` on pre-filled caches, and a real
server with simulated nodes (completions, backoffLimit, Indexed, deadline,
suspend, TTL, ``kubectl wait --for=condition=complete``)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from kybernetes.api import registry
from kybernetes.controllers import job_tracking as jt
from kybernetes.controllers.job import JobController
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import RecordingClient, unit_context
from tests.controllers.kubelet_sim import KubeletSim, make_nodes, pods_of
from tests.e2e.cluster import Kubectl

JOBS = registry.lookup("batch", "v1", "jobs")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def job(name="pi", completions=2, parallelism=2, mode=None, **spec):
    s = {"completions": completions, "parallelism": parallelism, "backoffLimit": 6,
         "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
         "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "job-uid",
                                              "job-name": name}},
                      "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
         **spec}
    if mode:
        s["completionMode"] = mode
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "uid": "job-uid", "resourceVersion": "1"},
            "spec": s, "status": {}}


def job_pod(name, phase, uid, finalizer=True, index=None):
    m = {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "5",
         "labels": {"batch.kubernetes.io/controller-uid": "job-uid"},
         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid",
                              "controller": True}]}
    if finalizer:
        m["finalizers"] = [jt.TRACKING_FINALIZER]
    if index is not None:
        m["annotations"] = {jt.COMPLETION_INDEX: str(index)}
    return {"metadata": m, "spec": {"nodeName": "n"}, "status": {"phase": phase}}


def test_completed_indexes_text():
    assert jt.format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert jt.parse_indexes("0-2,4,6-7", 7) == {0, 1, 2, 4, 6}
    assert jt.format_indexes(set()) == ""


def test_backoff_record():
    failed = [{"metadata": {}, "status": {"containerStatuses": [{"state": {"terminated": {
        "finishedAt": (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}}}]}} for i in range(3)]
    rec = jt.BackoffRecord().next([], failed)
    assert rec.failures == 3
    assert rec.remaining(T0 + timedelta(seconds=2), 10, 600) == 40  # 10 s doubled twice, 0 s elapsed
    assert rec.remaining(T0 + timedelta(seconds=100), 10, 600) == 0
    assert jt.BackoffRecord(3, T0).next(failed[:1], []).failures == 0


def test_deleted_pods_count_as_failed_unless_succeeded():
    j = job()
    running = job_pod("a", "Running", "u1")
    running["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert jt.is_pod_failed(running, j)
    j["spec"]["podReplacementPolicy"] = "Failed"
    assert not jt.is_pod_failed(running, j)


async def test_sync_creates_pods_with_tracking_finalizer():
    client = RecordingClient()
    jc = JobController(unit_context(client))
    jc.jobs.store.add(job(completions=3, parallelism=2))
    await jc.sync("ns/pi")
    pods = [a[2] for a in client.writes("create", "pods")]
    assert len(pods) == 2
    for p in pods:
        assert p["metadata"]["generateName"] == "pi-"
        assert p["metadata"]["finalizers"] == [jt.TRACKING_FINALIZER]
        assert p["metadata"]["ownerReferences"][0]["kind"] == "Job"
    status = client.writes("update", "jobs")[-1][2]["status"]
    assert status["active"] == 2 and status["startTime"]


async def test_sync_counts_finished_pods_through_uncounted():
    client = RecordingClient()
    jc = JobController(unit_context(client))
    j = job(completions=2, parallelism=2)
    jc.jobs.store.add(j)
    jc.pods.store.add(job_pod("a", "Succeeded", "u1"))
    jc.pods.store.add(job_pod("b", "Failed", "u2"))
    jc.pods.store.add(job_pod("c", "Running", "u3"))
    await jc.sync("ns/pi")
    updates = [a[2]["status"] for a in client.writes("update", "jobs")]
    assert updates[0]["uncountedTerminatedPods"] == {"succeeded": ["u1"], "failed": ["u2"]}
    assert sorted(a[2] for a in client.writes("patch", "pods")) == ["a", "b"]
    assert updates[-1]["succeeded"] == 1 and updates[-1]["failed"] == 1
    assert updates[-1]["uncountedTerminatedPods"] == {}


async def test_sync_indexed_pods():
    client = RecordingClient()
    jc = JobController(unit_context(client))
    jc.jobs.store.add(job(completions=3, parallelism=3, mode="Indexed"))
    jc.pods.store.add(job_pod("pi-1-x", "Succeeded", "u1", index=1))
    await jc.sync("ns/pi")
    pods = sorted((a[2] for a in client.writes("create", "pods")), key=lambda p: p["spec"]["hostname"])
    assert [p["spec"]["hostname"] for p in pods] == ["pi-0", "pi-2"]
    assert [p["metadata"]["generateName"] for p in pods] == ["pi-0-", "pi-2-"]
    assert pods[0]["metadata"]["annotations"][jt.COMPLETION_INDEX] == "0"
    assert pods[0]["metadata"]["labels"][jt.COMPLETION_INDEX] == "0"
    env = pods[0]["spec"]["containers"][0]["env"][0]
    assert env["name"] == "JOB_COMPLETION_INDEX"
    assert client.writes("update", "jobs")[-1][2]["status"]["completedIndexes"] == "1"


def _fast(ctrls: Controllers) -> None:
    for c in ctrls.controllers:
        c.sync_batch_period = 0.05
        c.pod_failure_backoff = (0.2, 1.0)


async def _condition(client, ns, name, type_):
    j = await client.get(JOBS, name, ns)
    conditions = (j.get("status") or {}).get("conditions") or []
    return any(c["type"] == type_ and c["status"] == "True" for c in conditions)


def _spec_job(name, ns, **spec):
    j = job(name, **spec)
    j["metadata"] = {"name": name, "namespace": ns}
    j["spec"].pop("selector")
    j["spec"]["template"]["metadata"] = {"labels": {"app": name}}
    j.pop("status")
    return j


async def test_job_runs_to_completion(server, client, namespace, tmp_path):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    async with Controllers(client, [JobController]) as ctrls, \
            KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "Succeeded"):
        _fast(ctrls)
        await client.create(JOBS, _spec_job("pi", ns, completions=3, parallelism=2), ns)
        kubectl = Kubectl(server, str(tmp_path / "kubectl"))
        out = await asyncio.to_thread(kubectl, "wait", "--for=condition=complete", "job/pi", "-n", ns,
                                      "--timeout=30s")
        assert "condition met" in out
        st = (await client.get(JOBS, "pi", ns))["status"]
        assert st["succeeded"] == 3 and st.get("failed", 0) == 0 and st["active"] == 0
        assert st["completionTime"] and st["startTime"]
        assert [c["type"] for c in st["conditions"]] == ["SuccessCriteriaMet", "Complete"]
        pods = await pods_of(client, ns)
        assert len(pods) == 3 and all(not p["metadata"].get("finalizers") for p in pods)
        assert all(p["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi" for p in pods)


async def test_job_fails_after_backoff_limit(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    async with Controllers(client, [JobController]) as ctrls, \
            KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "Failed"):
        _fast(ctrls)
        await client.create(JOBS, _spec_job("bad", ns, completions=1, parallelism=1, backoffLimit=2), ns)
        await eventually(lambda: _condition(client, ns, "bad", "Failed"))
        st = (await client.get(JOBS, "bad", ns))["status"]
        assert st["failed"] == 3 and st["active"] == 0
        failed = next(c for c in st["conditions"] if c["type"] == "Failed")
        assert failed["reason"] == "BackoffLimitExceeded"
        assert any(c["type"] == "FailureTarget" for c in st["conditions"])


async def test_indexed_job_and_deadline(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    outcome = {"idx": "Succeeded", "slow": "Running"}
    async with Controllers(client, [JobController]) as ctrls, \
            KubeletSim(client, ns, [f"{ns}-n"],
                       outcome=lambda pod: outcome[pod["metadata"]["labels"]["app"]]):
        _fast(ctrls)
        await client.create(JOBS, _spec_job("idx", ns, completions=3, parallelism=3, mode="Indexed"), ns)
        await client.create(JOBS, _spec_job("slow", ns, completions=1, parallelism=1,
                                            activeDeadlineSeconds=2), ns)
        await eventually(lambda: _condition(client, ns, "idx", "Complete"))
        st = (await client.get(JOBS, "idx", ns))["status"]
        assert st["completedIndexes"] == "0-2" and st["succeeded"] == 3
        pods = [p for p in await pods_of(client, ns) if p["metadata"]["labels"]["app"] == "idx"]
        assert sorted(p["spec"]["hostname"] for p in pods) == ["idx-0", "idx-1", "idx-2"]
        await eventually(lambda: _condition(client, ns, "slow", "Failed"))
        st = (await client.get(JOBS, "slow", ns))["status"]
        assert next(c for c in st["conditions"] if c["type"] == "Failed")["reason"] == "DeadlineExceeded"
        assert st["active"] == 0


async def test_suspend_resume_and_ttl(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    async with Controllers(client, [JobController]) as ctrls, \
            KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "Succeeded"):
        _fast(ctrls)
        await client.create(JOBS, _spec_job("later", ns, completions=1, parallelism=1, suspend=True,
                                            ttlSecondsAfterFinished=1), ns)
        await eventually(lambda: _condition(client, ns, "later", "Suspended"))
        assert await pods_of(client, ns) == []
        await client.patch(JOBS, "later", {"spec": {"suspend": False}}, namespace=ns)
        await eventually(lambda: _condition(client, ns, "later", "Complete"))

        async def deleted():
            # Foreground deletion: gone, or waiting for the garbage collector.
            try:
                return bool((await client.get(JOBS, "later", ns))["metadata"].get("deletionTimestamp"))
            except Exception:
                return True
        await eventually(deleted, timeout=10)
