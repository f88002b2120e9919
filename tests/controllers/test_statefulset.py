"""StatefulSet controller: identities and ordinals, revisions, and a real
server with simulated nodes (ordered creation, reverse scale-down, claims,
Parallel, rolling update, ``kubectl rollout status``)."""

from __future__ import annotations

import asyncio

from kybernetes.api import registry
from kybernetes.controllers import history
from kybernetes.controllers import statefulset_pods as sp
from kybernetes.controllers.statefulset import StatefulSetController
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.kubelet_sim import PODS, KubeletSim, make_nodes, pods_of
from tests.e2e.cluster import Kubectl

STATEFULSETS = registry.lookup("apps", "v1", "statefulsets")
PVCS = registry.lookup("", "v1", "persistentvolumeclaims")


def statefulset(name="web", replicas=3, policy="OrderedReady", partition=None, claims=True, image="img:1"):
    spec = {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition or 0}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "ns", "uid": "set-uid"}, "spec": spec}


def test_ordinals_and_membership():
    sts = statefulset()
    assert sp.parent_and_ordinal({"metadata": {"name": "web-12"}}) == ("web", 12)
    assert sp.parent_and_ordinal({"metadata": {"name": "web"}}) == ("", -1)
    assert sp.is_member_of(sts, {"metadata": {"name": "web-0"}})
    assert not sp.is_member_of(sts, {"metadata": {"name": "webby-0"}})
    assert sp.in_range(sts, {"metadata": {"name": "web-2"}})
    assert not sp.in_range(sts, {"metadata": {"name": "web-3"}})
    sts["spec"]["ordinals"] = {"start": 5}
    assert sp.in_range(sts, {"metadata": {"name": "web-7"}})
    assert not sp.in_range(sts, {"metadata": {"name": "web-2"}})


def test_new_pod_identity_and_storage():
    pod = sp.new_pod(statefulset(), 1, "web-abc")
    m = pod["metadata"]
    assert m["name"] == "web-1" and "generateName" not in m
    assert m["labels"] == {"app": "web", sp.POD_NAME_LABEL: "web-1", sp.POD_INDEX_LABEL: "1",
                           history.REVISION_LABEL: "web-abc"}
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}}]
    assert m["ownerReferences"][0]["kind"] == "StatefulSet" and m["ownerReferences"][0]["controller"]
    assert not sp.is_created(pod)
    claim = sp.claims(statefulset(), 1)["data"]
    assert claim["metadata"]["name"] == "data-web-1" and claim["metadata"]["labels"] == {"app": "web"}


def test_partition_keeps_low_ordinals_at_current_revision():
    current, update = statefulset(image="img:1", partition=2), statefulset(image="img:2", partition=2)
    low = sp.versioned_pod(current, update, "web-1", "web-2", 1)
    high = sp.versioned_pod(current, update, "web-1", "web-2", 2)
    assert sp.revision_of(low) == "web-1" and low["spec"]["containers"][0]["image"] == "img:1"
    assert sp.revision_of(high) == "web-2" and high["spec"]["containers"][0]["image"] == "img:2"


def test_revision_data_and_names():
    sts = statefulset()
    data = history.template_patch(sts)
    assert data["spec"]["template"]["$patch"] == "replace"
    h = history.revision_hash(data, 0)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert history.revision_hash(data, 0) == h != history.revision_hash(data, 1)
    rev = history.new_revision(sts, {"uid": "set-uid"}, 1, h, history.HASH_LABEL, h)
    assert rev["metadata"]["name"] == f"web-{h}"
    restored = history.apply_revision(statefulset(image="img:9"), rev)
    assert restored["spec"]["template"] == sts["spec"]["template"]


def test_replica_status_counts():
    def pod(name, rev, phase="Running", ready=True, deleting=False):
        p = {"metadata": {"name": name, "labels": {history.REVISION_LABEL: rev}},
             "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}}
        if deleting:
            p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        return p
    from datetime import datetime, timezone
    pods = [pod("web-0", "a"), pod("web-1", "b", ready=False), pod("web-2", "b", deleting=True),
            {"metadata": {"name": "web-3"}}]
    st = sp.replica_status(pods, 0, datetime.now(timezone.utc), "a", "b")
    assert st == {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "currentReplicas": 1,
                  "updatedReplicas": 1}


async def test_ordered_creation_and_reverse_scale_down(server, client, namespace, tmp_path):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    ready = {"on": False}
    sim = KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "Running" if ready["on"] else "NotReady")
    created, deleted = [], []

    async def record():
        listed = await client.list(PODS, ns)
        rv = listed["metadata"]["resourceVersion"]
        async for type_, pod in client.watch(PODS, ns, resource_version=rv):
            name = pod["metadata"]["name"]
            if type_ == "ADDED":
                created.append(name)
            elif pod["metadata"].get("deletionTimestamp") and name not in deleted:
                deleted.append(name)

    watcher = asyncio.create_task(record())
    try:
        async with Controllers(client, [StatefulSetController]), sim:
            sts = statefulset()
            sts["metadata"] = {"name": "web", "namespace": ns}
            await client.create(STATEFULSETS, sts, ns)
            await eventually(lambda: created == ["web-0"])
            await asyncio.sleep(1.0)  # web-0 is not ready: web-1 must not appear
            assert created == ["web-0"]
            ready["on"] = True
            sim.poke()
            await eventually(lambda: created == ["web-0", "web-1", "web-2"])
            claims = sorted(c["metadata"]["name"] for c in (await client.list(PVCS, ns))["items"])
            assert claims == ["data-web-0", "data-web-1", "data-web-2"]
            kubectl = Kubectl(server, str(tmp_path / "kubectl"))
            assert "roll" in await asyncio.to_thread(kubectl, "rollout", "status", "sts/web", "-n", ns,
                                                     "--timeout=30s")
            pod = await client.get(PODS, "web-1", ns)
            assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
            assert pod["metadata"]["labels"][sp.POD_INDEX_LABEL] == "1"

            await client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, namespace=ns)

            async def names():
                return sorted(p["metadata"]["name"] for p in await pods_of(client, ns))

            await eventually(lambda: _eq(names(), ["web-0"]))
            assert deleted == ["web-2", "web-1"]

            # A rolling update replaces pods from the highest ordinal down.
            await client.patch(STATEFULSETS, "web", {"spec": {"replicas": 3}}, namespace=ns)
            await eventually(lambda: _eq(names(), ["web-0", "web-1", "web-2"]))
            await eventually(lambda: _all_ready(client, ns, 3))
            deleted.clear()
            await client.patch(STATEFULSETS, "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "img:2"}]}}}}, namespace=ns, patch_type="strategic")

            async def rolled():
                obj = await client.get(STATEFULSETS, "web", ns)
                st = obj.get("status") or {}
                return st.get("observedGeneration") == obj["metadata"]["generation"] \
                    and st.get("updatedReplicas") == 3 \
                    and st.get("currentRevision") == st.get("updateRevision") \
                    and st.get("readyReplicas") == 3
            await eventually(rolled)
            assert deleted == ["web-2", "web-1", "web-0"]
            assert "roll" in await asyncio.to_thread(kubectl, "rollout", "status", "sts/web", "-n", ns,
                                                     "--timeout=30s")
            assert "2" in await asyncio.to_thread(kubectl, "rollout", "history", "sts/web", "-n", ns)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_parallel_creates_all_at_once(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    async with Controllers(client, [StatefulSetController]), \
            KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "NotReady"):
        sts = statefulset("db", replicas=3, policy="Parallel", claims=False)
        sts["metadata"] = {"name": "db", "namespace": ns}
        await client.create(STATEFULSETS, sts, ns)

        async def three():
            names = sorted(p["metadata"]["name"] for p in await pods_of(client, ns))
            return names == ["db-0", "db-1", "db-2"]
        await eventually(three)


async def _eq(awaitable, expected):
    return await awaitable == expected


async def _all_ready(client, ns, n):
    st = (await client.get(STATEFULSETS, "web", ns)).get("status") or {}
    return st.get("readyReplicas") == n
