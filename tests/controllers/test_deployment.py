"""The deployment controller: unit tests of its arithmetic, hashing and revision
handling and of ``sync`` on pre-filled caches, then the real kubectl against a real
``kyb server`` with the controllers running in the test and a fake kubelet."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.controllers import deployment, podcontrol, replicaset
from kybernetes.controllers import deployment_replicasets as rsutil
from kybernetes.controllers import deployment_status as dstatus
from kybernetes.controllers import deployment_util as util
from tests import servers
from tests.controllers.conftest import SERVER_ARGS, Controllers, eventually
from tests.controllers.fakes import WorkloadClient, unit_context
from tests.controllers.kubelet_sim import KubeletSim, PodCounter
from tests.e2e.cluster import Kubectl

RS = registry.lookup("apps", "v1", "replicasets")
DEPLOY = registry.lookup("apps", "v1", "deployments")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
WORKLOADS = [replicaset.ReplicaSetController, replicaset.ReplicationControllerController,
             deployment.DeploymentController]


def template(image="nginx:1"):
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}


def dep(replicas=4, *, image="nginx:1", strategy=None, **spec):
    d = {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": 1, "resourceVersion": "1"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                  "strategy": strategy or {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                  "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10, **spec}}
    return d


def rs_of(d, name, replicas, *, image="nginx:1", revision=1, available=None, created=0, max_replicas=None):
    t = template(image)
    t["metadata"]["labels"]["pod-template-hash"] = name
    ann = {util.REVISION: str(revision), util.DESIRED_REPLICAS: str(util.replicas(d)),
           util.MAX_REPLICAS: str(max_replicas if max_replicas is not None else util.replicas(d) + util.max_surge(d))}
    avail = replicas if available is None else available
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1,
                         "resourceVersion": "1", "annotations": ann,
                         "labels": t["metadata"]["labels"],
                         "creationTimestamp": podcontrol.format_time(T0 + timedelta(seconds=created)),
                         "ownerReferences": [podcontrol.controller_ref(d, "apps/v1", "Deployment")]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": t["metadata"]["labels"]}, "template": t},
            "status": {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail,
                       "observedGeneration": 1}}


# --- pure parts ---

def test_fenceposts_round_surge_up_and_unavailable_down():
    assert util.resolve_fenceposts("25%", "25%", 9) == (3, 2)
    assert util.resolve_fenceposts("25%", "25%", 1) == (1, 0)
    assert util.resolve_fenceposts(0, "10%", 5) == (0, 1)  # both zero: one may be unavailable
    assert util.resolve_fenceposts(2, 1, 10) == (2, 1)
    assert util.max_unavailable(dep(2, strategy={"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 5}})) == 2
    assert (util.max_surge(dep(strategy={"type": "Recreate"})),
            util.max_unavailable(dep(strategy={"type": "Recreate"}))) == (0, 0)
    with pytest.raises(ValueError):
        util.scaled_value("3", 10, True)


def test_pod_template_hash_is_stable_unique_and_safe():
    h = util.compute_hash(template(), None)
    reordered = {"spec": template()["spec"], "metadata": template()["metadata"]}
    assert util.compute_hash(reordered, None) == h
    assert util.compute_hash(template("nginx:2"), None) != h
    assert util.compute_hash(template(), 1) not in (h, util.compute_hash(template(), 2))
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    hashed = template()
    hashed["metadata"]["labels"]["pod-template-hash"] = h
    hashed["metadata"]["annotations"] = {}
    assert util.equal_ignore_hash(hashed, template())
    assert not util.equal_ignore_hash(hashed, template("nginx:2"))


def test_revision_annotations_for_new_and_rolled_back_replica_sets():
    d = dep(9)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "v2", util.LAST_APPLIED: "{}",
                                    util.REVISION: "7"}
    new = {"metadata": {"name": "n"}}
    assert util.set_new_rs_annotations(d, new, "3", False)
    assert new["metadata"]["annotations"] == {"kubernetes.io/change-cause": "v2", util.REVISION: "3",
                                              util.DESIRED_REPLICAS: "9", util.MAX_REPLICAS: "12"}
    # Rolling back to a replica set of revision 1 at revision 4: the old number is history.
    back = {"metadata": {"annotations": {util.REVISION: "1", util.REVISION_HISTORY: "0"}}}
    assert util.set_new_rs_annotations(d, back, "4", True)
    assert back["metadata"]["annotations"][util.REVISION] == "4"
    assert back["metadata"]["annotations"][util.REVISION_HISTORY] == "0,1"
    assert not util.set_new_rs_annotations(d, back, "2", True)  # never lowered
    assert util.max_revision([back, new, {"metadata": {"annotations": {util.REVISION: "x"}}}]) == 4


def test_new_replica_set_grows_within_max_surge():
    d = dep(10)  # maxSurge 25% of 10 -> 3
    old, new = rs_of(d, "old", 10), rs_of(d, "new", 0)
    assert rsutil.new_rs_new_replicas(d, [old, new], new) == 3
    assert rsutil.new_rs_new_replicas(d, [{**old, "spec": {**old["spec"], "replicas": 6}}, new], new) == 7
    assert rsutil.new_rs_new_replicas(d, [old, {**new, "spec": {**new["spec"], "replicas": 3}}],
                                    {**new, "spec": {**new["spec"], "replicas": 3}}) == 3
    assert rsutil.new_rs_new_replicas(dep(5, strategy={"type": "Recreate"}), [old, new], new) == 5


def test_progress_deadline_and_completion():
    d = dep(2, progressDeadlineSeconds=60)
    st = {"conditions": [dstatus.new_condition("Progressing", "True", util.REPLICA_SET_UPDATED, "", T0)]}
    assert not dstatus.deployment_timed_out(d, st, T0 + timedelta(seconds=60))
    assert dstatus.deployment_timed_out(d, st, T0 + timedelta(seconds=61))
    assert not dstatus.deployment_complete(d, {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1,
                                            "observedGeneration": 1})
    assert dstatus.deployment_complete(d, {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                                        "observedGeneration": 1})


# --- sync on pre-filled caches ---

def controller(client, d, *rss):
    c = deployment.DeploymentController(unit_context(client, clocks.FakeClock(T0)))
    c.d_informer.store.add(d)
    client.put("deployments", d)
    for rs in rss:
        c.rs_informer.store.add(rs)
    return c


async def test_sync_creates_the_new_replica_set_with_hash_and_revision():
    client = WorkloadClient()
    d = dep(4)
    c = controller(client, d)
    await c.sync("ns/web")
    (_, _, name, rs), = client.writes("create", "replicasets")
    h = util.compute_hash(d["spec"]["template"], None)
    assert name == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"] == rs["metadata"]["labels"] == \
        {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["replicas"] == 4
    assert rs["metadata"]["annotations"] == {util.REVISION: "1", util.DESIRED_REPLICAS: "4",
                                             util.MAX_REPLICAS: "5"}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "uid-web"
    written = client.writes("update/status", "deployments")[-1][3]
    assert written["metadata"]["annotations"][util.REVISION] == "1"
    assert dstatus.get_condition(written["status"], "Progressing")["reason"] == util.NEW_RS_CREATED


async def test_sync_rolling_step_respects_surge_then_unavailability():
    client = WorkloadClient()
    d = dep(4, image="nginx:2")  # surge 1, unavailable 1
    old = rs_of(d, "old", 4, image="nginx:1")
    new = rs_of(d, "new", 1, image="nginx:2", revision=2, available=0, created=10)
    c = controller(client, d, old, new)
    await c.sync("ns/web")
    # 5 pods in all, the new one not yet available: one old pod may go (4 - 1 available).
    assert [(n, body["spec"]["replicas"]) for _, _, n, body in client.writes("update", "replicasets")] == \
        [("old", 3)]


async def test_sync_scales_proportionally_during_a_rollout():
    client = WorkloadClient()
    d = dep(20, image="nginx:2")  # was 10 with surge 3: replica sets sized for 13
    old = rs_of(d, "old", 7, image="nginx:1", max_replicas=13)
    new = rs_of(d, "new", 6, image="nginx:2", revision=2, available=0, created=10, max_replicas=13)
    for rs in (old, new):
        rs["metadata"]["annotations"][util.DESIRED_REPLICAS] = "10"
    c = controller(client, d, old, new)
    await c.sync("ns/web")
    sizes = {n: body["spec"]["replicas"] for _, _, n, body in client.writes("update", "replicasets")}
    assert sizes == {"old": 13, "new": 12}  # 25 = 20 + surge 5, split 7:6


async def test_sync_cleans_up_history_beyond_the_limit():
    client = WorkloadClient()
    d = dep(2, revisionHistoryLimit=1)
    current = rs_of(d, "cur", 2, revision=4, created=40)
    olds = [rs_of(d, f"r{i}", 0, image=f"nginx:0.{i}", revision=i, created=i) for i in (1, 2, 3)]
    for rs in olds:
        rs["status"] = {"observedGeneration": 1}
    d["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    c = controller(client, d, current, *olds)
    await c.sync("ns/web")
    assert [n for _, _, n, _ in client.writes("delete", "replicasets")] == ["r1", "r2"]


# --- kubectl against a real API server ---

server = servers.server_fixture("kyb-deploy", SERVER_ARGS)


@pytest.fixture(scope="module")
def kubectl_(server, tmp_path_factory):
    return Kubectl(server, str(tmp_path_factory.mktemp("kubectl-cache")))


ns = servers.namespace_fixture(delete=True)


@pytest.fixture
def kubectl(kubectl_, ns):
    """Run kubectl in a thread (the controllers share the test's event loop) in ``ns``."""
    async def run(*args, check=True, input=None, timeout=60.0):
        result = await asyncio.to_thread(kubectl_.run, "-n", ns, *args, check=check, input=input,
                                         timeout=timeout)
        return result if not check else result.stdout
    return run


def manifest(replicas, *, image="nginx:1", cause="create v1", **spec):
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "annotations": {"kubernetes.io/change-cause": cause}},
                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                "template": template(image), **spec}})


async def images(client, ns):
    d = await client.get(DEPLOY, "web", ns)
    return [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]


async def test_kubectl_rollout_stays_within_max_surge_and_max_unavailable(client, ns, kubectl):
    async with Controllers(client, WORKLOADS), KubeletSim(client, ns, delay=0.05), \
            PodCounter(client, ns) as counter:
        await kubectl("apply", "-f", "-", input=manifest(9))
        assert "successfully rolled out" in await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert len(counter.ready_pods()) == 9
        start = len(counter.samples)
        await kubectl("set", "image", "deployment/web", "c=nginx:2")
        assert "successfully rolled out" in await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        during = counter.samples[start:]
        # 25% of 9: surge rounds up to 3, unavailable down to 2.
        assert max(active for active, _, _ in during) <= 12
        assert min(ready for _, ready, _ in during) >= 7
        assert any(len(hashes) == 2 for _, _, hashes in during)  # old and new ran side by side
        await eventually(lambda: len(counter.pods) == 9)
        assert {p["spec"]["containers"][0]["image"] for p in counter.pods.values()} == {"nginx:2"}


async def test_kubectl_rollout_history_and_undo(client, ns, kubectl):
    async with Controllers(client, WORKLOADS), KubeletSim(client, ns):
        await kubectl("apply", "-f", "-", input=manifest(3))
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        await kubectl("set", "image", "deployment/web", "c=nginx:2")
        await kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=image v2", "--overwrite")
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        history = await kubectl("rollout", "history", "deployment/web")
        assert [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()] == \
            [["1", "create v1"], ["2", "image v2"]]
        assert "nginx:1" in await kubectl("rollout", "history", "deployment/web", "--revision=1")
        assert "rolled back" in await kubectl("rollout", "undo", "deployment/web")
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert await images(client, ns) == ["nginx:1"]
        d = await client.get(DEPLOY, "web", ns)
        assert d["metadata"]["annotations"][util.REVISION] == "3"
        history = await kubectl("rollout", "history", "deployment/web")
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
        # Undo to an explicit revision.
        await kubectl("rollout", "undo", "deployment/web", "--to-revision=2")
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert await images(client, ns) == ["nginx:2"]
        assert len((await client.list(RS, ns))["items"]) == 2


async def test_scale_to_zero_and_back(client, ns, kubectl):
    async with Controllers(client, WORKLOADS), KubeletSim(client, ns) as kubelet:
        await kubectl("apply", "-f", "-", input=manifest(4))
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        await kubectl("scale", "deployment/web", "--replicas=0")
        await eventually(lambda: not kubelet.active_pods())
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        await kubectl("scale", "deployment/web", "--replicas=5")
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert len(kubelet.ready_pods()) == 5
        rss = (await client.list(RS, ns))["items"]
        assert [(rs["spec"]["replicas"], rs["metadata"]["annotations"][util.DESIRED_REPLICAS]) for rs in rss] \
            == [(5, "5")]


async def test_restarting_the_controllers_mid_rollout_over_creates_nothing(client, ns, kubectl):
    strategy = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}
    async with KubeletSim(client, ns, delay=0.2), PodCounter(client, ns) as counter:
        first = await Controllers(client, WORKLOADS).start()
        try:
            await kubectl("apply", "-f", "-", input=manifest(6, **strategy))
            await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
            start = len(counter.samples)
            await kubectl("set", "image", "deployment/web", "c=nginx:2")
            await eventually(lambda: any(len(h) == 2 for _, _, h in counter.samples[start:]))
        finally:
            await first.stop()
        async with Controllers(client, WORKLOADS):
            await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        during = counter.samples[start:]
        assert max(active for active, _, _ in during) <= 7
        assert min(ready for _, ready, _ in during) >= 6
        await eventually(lambda: len(counter.pods) == 6)


async def test_recreate_never_runs_old_and_new_pods_together(client, ns, kubectl):
    async with Controllers(client, WORKLOADS), KubeletSim(client, ns), PodCounter(client, ns) as counter:
        await kubectl("apply", "-f", "-", input=manifest(3, strategy={"type": "Recreate"}))
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        await kubectl("set", "image", "deployment/web", "c=nginx:2")
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert all(len(hashes) <= 1 for _, _, hashes in counter.samples)
        await eventually(lambda: len(counter.ready_pods()) == 3)
        assert {p["spec"]["containers"][0]["image"] for p in counter.pods.values()} == {"nginx:2"}


async def test_pause_resume_and_progress_deadline(client, ns, kubectl):
    async with Controllers(client, WORKLOADS), KubeletSim(client, ns) as kubelet:
        await kubectl("apply", "-f", "-", input=manifest(2, progressDeadlineSeconds=2))
        await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        await kubectl("rollout", "pause", "deployment/web")
        await kubectl("set", "image", "deployment/web", "c=nginx:2")

        async def progressing_reason():
            d = await client.get(DEPLOY, "web", ns)
            cond = dstatus.get_condition(d.get("status") or {}, "Progressing") or {}
            return cond.get("reason")
        await eventually(lambda: _eq(progressing_reason(), util.PAUSED))
        assert len((await client.list(RS, ns))["items"]) == 1  # no rollout while paused
        # New pods never become ready.
        kubelet.outcome = lambda pod: "Running" if pod["spec"]["containers"][0]["image"] == "nginx:1" else "NotReady"
        await kubectl("rollout", "resume", "deployment/web")
        await eventually(lambda: _eq(progressing_reason(), util.TIMED_OUT), timeout=30)
        result = await kubectl("rollout", "status", "deployment/web", "--timeout=30s", check=False)
        assert result.returncode != 0 and "exceeded its progress deadline" in result.stderr
        assert len(kubelet.ready_pods()) >= 1  # maxUnavailable kept old pods serving


async def _eq(awaitable, value):
    return await awaitable == value
