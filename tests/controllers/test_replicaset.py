"""The replica set and replication controller controllers: unit tests of their pure
parts and of ``sync`` on pre-filled caches, then integration tests against a real
``kyb server`` with the controllers running in the test and a fake kubelet."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.controllers import expectations, podcontrol, podutil, replicaset
from tests import servers
from tests.controllers.conftest import SERVER_ARGS, Controllers, eventually
from tests.controllers.fakes import WorkloadClient, unit_context
from tests.controllers.kubelet_sim import PODS, KubeletSim, PodCounter

RS = registry.lookup("apps", "v1", "replicasets")
RC = registry.lookup("", "v1", "replicationcontrollers")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def ts(seconds: float) -> str:
    return podcontrol.format_time(T0 + timedelta(seconds=seconds))


def pod(name, *, node="n1", phase="Running", ready=True, ready_at=0, created=0, restarts=0,
        cost=None, labels=None, owner=None, deleting=False):
    p = {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": ts(created),
                      "labels": labels if labels is not None else {"app": "a"}, "resourceVersion": "1"},
         "spec": {"nodeName": node} if node else {},
         "status": {"phase": phase, "containerStatuses": [{"restartCount": restarts}],
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                    "lastTransitionTime": ts(ready_at)}]}}
    if cost is not None:
        p["metadata"]["annotations"] = {podutil.POD_DELETION_COST: str(cost)}
    if owner is not None:
        p["metadata"]["ownerReferences"] = [podcontrol.controller_ref(owner, "apps/v1", "ReplicaSet")]
    if deleting:
        p["metadata"]["deletionTimestamp"] = ts(0)
    return p


def replica_set(name="rs", replicas=3, *, min_ready=0):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1,
                         "resourceVersion": "1"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


# --- pure parts ---

def first_deleted(pods, related=None, diff=1, now=T0 + timedelta(hours=1)):
    return [p["metadata"]["name"] for p in podutil.pods_to_delete(pods, related or pods, diff, now)]


def test_deletion_order_follows_upstream_ranking():
    assert first_deleted([pod("assigned"), pod("unassigned", node="")]) == ["unassigned"]
    assert first_deleted([pod("running"), pod("unknown", phase="Unknown"), pod("pending", phase="Pending")],
                         diff=2) == ["pending", "unknown"]
    assert first_deleted([pod("ready"), pod("unready", ready=False)]) == ["unready"]
    assert first_deleted([pod("cheap", cost=-5), pod("dear", cost=5), pod("plain")]) == ["cheap"]
    # More pods of the same owners on its node: deleted first (spreads what is left).
    crowded = [pod("a1", node="a"), pod("a2", node="a"), pod("b1", node="b")]
    assert first_deleted(crowded[2:] + crowded[:1], related=crowded) == ["a1"]
    # Ready more recently (log scale): first; same for created more recently.
    assert first_deleted([pod("old", ready_at=0), pod("young", ready_at=3000)]) == ["young"]
    assert first_deleted([pod("calm"), pod("crashy", restarts=4)]) == ["crashy"]
    assert first_deleted([pod("older", created=0), pod("newer", created=3000)]) == ["newer"]


def test_deleting_everything_needs_no_ranking():
    pods = [pod("x"), pod("y")]
    assert first_deleted(pods, diff=5) == ["x", "y"]


async def test_slow_start_batches_double_and_stop_at_first_failure():
    batches, calls = [], []

    async def ok():
        calls.append(1)
    assert await podcontrol.slow_start_batch(10, 1, ok) == (10, None)
    assert len(calls) == 10
    failing_after = 4

    async def flaky():
        batches.append(len(batches))
        if len(batches) > failing_after:
            raise ValueError("quota")
    successes, err = await podcontrol.slow_start_batch(20, 1, flaky)
    # Batches of 1, 2 and 4: calls 5 to 7 of the third fail; no batch of 8 is tried.
    assert (successes, str(err), len(batches)) == (4, "quota", 7)


def test_status_counts_and_replica_failure_condition():
    rs = replica_set(min_ready=10)
    now = T0 + timedelta(seconds=30)
    pods = [pod("avail", ready_at=0), pod("young", ready_at=25), pod("unready", ready=False),
            pod("partial", labels={"app": "a"} | {"extra": "x"}), pod("x", labels={"other": "1"})]
    st = replicaset.calculate_status(rs, pods, None, now)
    assert st == {"replicas": 5, "fullyLabeledReplicas": 4, "readyReplicas": 4, "availableReplicas": 3}
    failed = replicaset.calculate_status(rs, pods[:1], ValueError("quota"), now)
    assert failed["conditions"] == [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                     "message": "quota", "lastTransitionTime": podcontrol.format_time(now)}]
    assert "conditions" not in replicaset.calculate_status({**rs, "status": failed}, pods, None, now)


def test_expectations_wait_for_observations_or_expire():
    clock = clocks.FakeClock()
    exp = expectations.ControllerExpectations(clock)
    assert exp.satisfied("ns/rs")  # nothing recorded: sync
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # graceful delete then delete: counted once
    exp.deletion_observed("ns/rs", "ns/zzz")  # not one of ours
    assert not exp.satisfied("ns/rs")
    clock.step(expectations.EXPECTATIONS_TIMEOUT + 1)
    assert exp.satisfied("ns/rs")  # a lost event must not stall the owner forever
    exp.delete("ns/rs")
    assert exp.get("ns/rs") is None


# --- sync on pre-filled caches ---

def rs_controller(client, clock=None):
    return replicaset.ReplicaSetController(unit_context(client, clock))


async def test_sync_creates_missing_pods_once_while_creations_are_in_flight():
    client, clock = WorkloadClient(), clocks.FakeClock()
    c = rs_controller(client, clock)
    rs = replica_set(replicas=3)
    c.rs_informer.store.add(rs)
    await c.sync("ns/rs")
    created = [call[3] for call in client.writes("create", "pods")]
    assert len(created) == 3
    p = created[0]
    assert p["metadata"]["generateName"] == "rs-" and p["metadata"]["labels"] == {"app": "a"}
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                                 "uid": "uid-rs", "controller": True,
                                                 "blockOwnerDeletion": True}]
    # The cache has not seen them yet: another sync must not create more.
    await c.sync("ns/rs")
    assert len(client.writes("create", "pods")) == 3
    # Once observed, the count is right and nothing more is created.
    for p in created:
        c.pod_informer.store.add(p)
        c._add_pod(p)
    await c.sync("ns/rs")
    assert len(client.writes("create", "pods")) == 3
    assert client.writes("update/status", "replicasets")[-1][3]["status"] == {"replicas": 3, "fullyLabeledReplicas": 3,
                                                                            "observedGeneration": 1}


async def test_sync_deletes_surplus_in_ranked_order_and_ignores_inactive_pods():
    client = WorkloadClient()
    c = rs_controller(client)
    rs = replica_set(replicas=2)
    c.rs_informer.store.add(rs)
    for p in [pod("ok1", owner=rs), pod("ok2", owner=rs, created=10), pod("pending", phase="Pending", owner=rs),
              pod("done", phase="Succeeded", owner=rs), pod("going", deleting=True, owner=rs)]:
        c.pod_informer.store.add(p)
    await c.sync("ns/rs")
    assert [call[2] for call in client.writes("delete", "pods")] == ["pending"]
    assert c.expectations.get("ns/rs").uids == {"ns/pending"}


async def test_sync_adopts_matching_orphans_after_a_quorum_read():
    client = WorkloadClient()
    c = rs_controller(client)
    rs = replica_set(replicas=1)
    c.rs_informer.store.add(rs)
    client.put("replicasets", rs)
    c.pod_informer.store.add(pod("orphan"))
    await c.sync("ns/rs")
    patches = client.writes("patch", "pods")
    assert patches[0][2] == "orphan"
    assert patches[0][3]["metadata"]["ownerReferences"][0]["uid"] == "uid-rs"
    assert not client.writes("create", "pods")
    # Being deleted (seen by the quorum GET, not yet by the cache): no adoption.
    client2 = WorkloadClient()
    c2 = rs_controller(client2)
    c2.rs_informer.store.add(rs)
    client2.put("replicasets", {**rs, "metadata": {**rs["metadata"], "deletionTimestamp": ts(0)}})
    c2.pod_informer.store.add(pod("orphan"))
    with pytest.raises(RuntimeError, match="just been deleted"):
        await c2.sync("ns/rs")
    assert not client2.writes("patch", "pods")


# --- against a real API server ---

server = servers.server_fixture("kyb-rs", SERVER_ARGS)


ns = servers.namespace_fixture(delete=True)


def manifest(name="web", replicas=3, labels=None):
    labels = labels or {"app": name}
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def pods_of(client, ns, owner_uid=None):
    items = (await client.list(PODS, ns))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp") and (
        owner_uid is None or (podcontrol.controller_of(p) or {}).get("uid") == owner_uid)]


async def test_replica_set_keeps_exactly_n_pods_and_replaces_a_deleted_one(client, ns):
    async with Controllers(client, [replicaset.ReplicaSetController]), KubeletSim(client, ns), \
            PodCounter(client, ns) as counter:
        rs = await client.create(RS, manifest(replicas=3), ns)
        uid = rs["metadata"]["uid"]

        async def settled():
            got = await client.get(RS, "web", ns)
            st = got.get("status") or {}
            return st.get("availableReplicas") == 3 and st.get("observedGeneration") == 1 and got
        got = await eventually(settled)
        assert got["status"]["replicas"] == got["status"]["fullyLabeledReplicas"] == 3
        victim = (await pods_of(client, ns, uid))[0]["metadata"]["name"]
        await client.delete(PODS, victim, ns)
        await eventually(lambda: len(counter.ready_pods()) == 3 and victim not in counter.pods)
        await asyncio.sleep(0.5)
        assert len(await pods_of(client, ns, uid)) == 3
        assert max(active for active, _, _ in counter.samples) <= 3


async def test_scale_down_deletes_unready_and_cheap_pods_first(client, ns):
    async with Controllers(client, [replicaset.ReplicaSetController]), KubeletSim(client, ns) as kubelet:
        await client.create(RS, manifest(replicas=4), ns)
        await eventually(lambda: len(kubelet.ready_pods()) == 4)
        names = sorted(p["metadata"]["name"] for p in kubelet.ready_pods())
        kubelet.keep_unready(names[0])
        await client.patch(PODS, names[1], {"metadata": {"annotations": {podutil.POD_DELETION_COST: "-10"}}},
                           namespace=ns)
        await eventually(lambda: len(kubelet.ready_pods()) == 3)
        await client.patch(RS, "web", {"spec": {"replicas": 2}}, namespace=ns)
        await eventually(lambda: {p["metadata"]["name"] for p in kubelet.active_pods()} == set(names[2:]))


async def test_adopts_matching_orphan_and_releases_pod_whose_labels_change(client, ns):
    async with Controllers(client, [replicaset.ReplicaSetController]), KubeletSim(client, ns) as kubelet:
        orphan = manifest()["spec"]["template"] | {"metadata": {"name": "orphan", "labels": {"app": "web"}}}
        await client.create(PODS, orphan, ns)
        rs = await client.create(RS, manifest(replicas=2), ns)
        uid = rs["metadata"]["uid"]
        owned = await eventually(lambda: len([p for p in kubelet.active_pods()
                                              if (podcontrol.controller_of(p) or {}).get("uid") == uid]) == 2
                                 and kubelet.active_pods())
        assert "orphan" in {p["metadata"]["name"] for p in owned}
        assert len(owned) == 2  # adopted instead of creating a second pod
        await client.patch(PODS, "orphan", {"metadata": {"labels": {"app": "elsewhere"}}}, namespace=ns)

        def released():
            p = kubelet.informer.store.get_by(ns, "orphan")
            mine = [q for q in kubelet.active_pods() if (podcontrol.controller_of(q) or {}).get("uid") == uid]
            return p is not None and not p["metadata"].get("ownerReferences") and len(mine) == 2
        await eventually(released)


async def test_replication_controller_runs_its_pods(client, ns):
    async with Controllers(client, [replicaset.ReplicationControllerController]), KubeletSim(client, ns) as kubelet:
        rc = manifest(replicas=2)
        rc["spec"]["selector"] = {"app": "web"}
        await client.create(RC, rc, ns)

        async def settled():
            got = await client.get(RC, "web", ns)
            return (got.get("status") or {}).get("readyReplicas") == 2 and got
        got = await eventually(settled)
        assert got["status"]["replicas"] == 2 and got["status"]["observedGeneration"] == 1
        refs = [podcontrol.controller_of(p) for p in kubelet.active_pods()]
        assert [(r["kind"], r["apiVersion"], r["name"]) for r in refs] == [("ReplicationController", "v1", "web")] * 2


async def test_min_ready_seconds_delays_availability_without_further_pod_events(client, ns):
    async with Controllers(client, [replicaset.ReplicaSetController]), KubeletSim(client, ns):
        rs = manifest(replicas=2)
        rs["spec"]["minReadySeconds"] = 2
        await client.create(RS, rs, ns)
        seen = []

        async def available():
            st = (await client.get(RS, "web", ns)).get("status") or {}
            seen.append((st.get("readyReplicas", 0), st.get("availableReplicas", 0)))
            return st.get("availableReplicas") == 2
        await eventually(available, interval=0.2)
        # Ready first, available only minReadySeconds later: the controller requeued itself.
        assert (2, 0) in seen
