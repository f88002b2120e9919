"""The garbage collector: the graph, the decisions on a fake API, and background,
foreground and orphan propagation against a real API server."""

from __future__ import annotations

import uuid

from kybernetes.api import registry
from kybernetes.controllers import garbagecollector as gcm
from kybernetes.controllers import gc_graph
from tests.controllers.conftest import Controllers, eventually, gone
from tests.controllers.fakes import FakeClient, feed, unit_context

CM = registry.lookup("", "v1", "configmaps")
PODS = registry.lookup("", "v1", "pods")
RS = registry.lookup("apps", "v1", "replicasets")
DEPLOY = registry.lookup("apps", "v1", "deployments")
CLUSTER_ROLES = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")


def ref(obj: dict, block: bool = False, controller: bool = False) -> dict:
    r = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "ConfigMap"),
         "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
    if block:
        r["blockOwnerDeletion"] = True
    if controller:
        r["controller"] = True
    return r


def cm(name: str, ns: str = "ns", *owners: dict, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "ownerReferences": list(owners), **meta}}


# --- the graph ---

def test_graph_tracks_dependents_and_blocking():
    graph = gc_graph.Graph()
    owner = cm("owner")
    graph.observe(gc_graph.node_of(owner, CM))
    graph.observe(gc_graph.node_of(cm("a", "ns", ref(owner, block=True)), CM))
    graph.observe(gc_graph.node_of(cm("b", "ns", ref(owner)), CM))
    assert sorted(d.name for d in graph.dependents("uid-owner")) == ["a", "b"]
    assert [d.name for d in graph.blocking_dependents("uid-owner")] == ["a"]
    graph.observe(gc_graph.node_of(cm("a", "ns"), CM))  # reference dropped
    assert [d.name for d in graph.dependents("uid-owner")] == ["b"]
    graph.remove("uid-b")
    assert graph.dependents("uid-owner") == [] and len(graph) == 2


def test_absent_owner_cache_is_bounded():
    cache = gc_graph.AbsentOwners(size=2)
    for k in ("a", "b", "c"):
        cache.add((k,))
    assert ("a",) not in cache and ("b",) in cache and ("c",) in cache


def test_monitored_resources_skip_events_and_duplicates():
    names = {(r.group, r.version, r.plural) for r in gcm.monitored_resources()}
    assert ("", "v1", "pods") in names and ("apps", "v1", "replicasets") in names
    assert ("", "v1", "events") not in names and ("events.k8s.io", "v1", "events") not in names
    assert ("autoscaling", "v1", "horizontalpodautoscalers") not in names


# --- decisions, on a fake API ---

def collector(client: FakeClient) -> gcm.GarbageCollector:
    return gcm.GarbageCollector(unit_context(client))


def informer_of(gc: gcm.GarbageCollector, res: registry.Resource):
    return next(i for i in gc.informers if i.resource == res)


async def test_dependent_of_missing_owner_deleted_with_preconditions():
    client = FakeClient()
    gc = collector(client)
    dep = client.put(CM, cm("dep", "ns", {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone",
                                          "uid": "uid-gone"}))
    feed(informer_of(gc, CM), dep)
    assert dep["metadata"]["uid"] in gc.queue._queue  # owner never seen: checked
    await gc.sync(dep["metadata"]["uid"])
    delete = client.verbs("delete")[0]
    assert delete[3] == "dep" and delete[4]["propagation_policy"] == "Background"
    assert delete[4]["preconditions"] == {"uid": "uid-dep", "resourceVersion": dep["metadata"]["resourceVersion"]}


async def test_dependent_with_live_owner_left_alone():
    client = FakeClient()
    gc = collector(client)
    owner = client.put(CM, cm("owner"))
    feed(informer_of(gc, CM), owner, client.put(CM, cm("dep", "ns", ref(owner))))
    assert not gc.queue._queue  # owner observed: nothing to check
    await gc.sync("uid-dep")
    assert client.calls == []


async def test_dangling_reference_dropped_when_another_owner_lives():
    client = FakeClient()
    gc = collector(client)
    owner = client.put(CM, cm("owner"))
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "uid-ghost"}
    feed(informer_of(gc, CM), owner, client.put(CM, cm("dep", "ns", ref(owner), ghost)))
    await gc.sync("uid-dep")
    patch = client.verbs("patch")[0]
    assert patch[4] == ("strategic", {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "uid-ghost"}],
                                                   "uid": "uid-dep"}})
    assert not client.verbs("delete")


async def test_cross_namespace_owner_is_dangling_and_reported():
    client = FakeClient()
    gc = collector(client)
    owner = client.put(CM, cm("owner", "a"))
    dep = client.put(CM, cm("dep", "b", ref(owner)))
    feed(informer_of(gc, CM), owner, dep)
    await gc.sync("uid-dep")
    assert [c[2:4] for c in client.verbs("delete")] == [("b", "dep")]
    await gc.recorder.flush()
    events = [c[4] for c in client.verbs("create") if c[1] == "events"]
    assert events[0]["reason"] == "OwnerRefInvalidNamespace"
    assert events[0]["message"] == ('ownerRef [v1/ConfigMap, namespace: b, name: owner, uid: uid-owner] '
                                    'does not exist in namespace "b"')


async def test_cluster_scoped_dependent_of_namespaced_owner_kept():
    client = FakeClient()
    gc = collector(client)
    role = client.put(CLUSTER_ROLES, {"metadata": {"name": "r", "uid": "uid-r", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "uid-x"}]}})
    feed(informer_of(gc, CLUSTER_ROLES), role)
    await gc.sync("uid-r")
    assert not client.verbs("delete")


async def test_foreground_owner_waits_for_blocking_dependents():
    client = FakeClient()
    gc = collector(client)
    deleting = {"deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]}
    owner = client.put(CM, cm("owner", "ns", **deleting))
    dep = client.put(CM, cm("dep", "ns", ref(owner, block=True)))
    feed(informer_of(gc, CM), dep, owner)
    assert {"uid-owner", "uid-dep"} <= set(gc.queue._queue)
    await gc.sync("uid-owner")
    assert not client.verbs("patch")  # still waiting
    await gc.sync("uid-dep")  # its owner waits for it: deleted
    assert [c[3] for c in client.verbs("delete")] == ["dep"]
    feed(informer_of(gc, CM), dep, event="DELETED")
    assert "uid-owner" in gc.queue._queue
    await gc.sync("uid-owner")
    patch = client.verbs("patch")[-1]
    assert patch[3] == "owner" and patch[4][1]["metadata"]["finalizers"] is None


async def test_orphan_finalizer_releases_dependents():
    client = FakeClient()
    gc = collector(client)
    owner = client.put(CM, cm("owner", "ns", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["orphan"]))
    feed(informer_of(gc, CM), client.put(CM, cm("dep", "ns", ref(owner))), owner)
    await gc.sync("uid-owner")
    patches = client.verbs("patch")
    assert patches[0][3] == "dep" and patches[0][4][1]["metadata"]["ownerReferences"] == [
        {"$patch": "delete", "uid": "uid-owner"}]
    assert patches[1][3] == "owner" and patches[1][4][1]["metadata"]["finalizers"] is None
    assert not client.verbs("delete")


# --- against a real API server ---

async def test_background_foreground_orphan(client, namespace):
    async with Controllers(client, [gcm.GarbageCollector]):
        # Background: dependents of a deleted owner go.
        owner = await client.create(CM, {"metadata": {"name": "bg-owner"}}, namespace)
        for n in ("bg-a", "bg-b"):
            await client.create(CM, {"metadata": {"name": n, "ownerReferences": [ref(owner)]}}, namespace)
        await client.delete(CM, "bg-owner", namespace, propagation_policy="Background")
        for n in ("bg-a", "bg-b"):
            await eventually(lambda n=n: gone(client, CM, n, namespace))

        # Foreground: the owner stays (deletionTimestamp, finalizer) until its blocking
        # dependents are gone; a finalizer on the dependent holds both.
        owner = await client.create(CM, {"metadata": {"name": "fg-owner"}}, namespace)
        await client.create(CM, {"metadata": {"name": "fg-dep", "finalizers": ["example.com/hold"],
                                                  "ownerReferences": [ref(owner, block=True)]}}, namespace)
        await client.delete(CM, "fg-owner", namespace, propagation_policy="Foreground")

        async def dependent_deleting():
            return (await client.get(CM, "fg-dep", namespace))["metadata"].get("deletionTimestamp")

        await eventually(dependent_deleting)
        held = await client.get(CM, "fg-owner", namespace)
        assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
        assert held["metadata"].get("deletionTimestamp")
        await client.patch(CM, "fg-dep", {"metadata": {"finalizers": None}}, namespace=namespace)
        await eventually(lambda: gone(client, CM, "fg-dep", namespace))
        await eventually(lambda: gone(client, CM, "fg-owner", namespace))

        # Orphan: the owner goes, the dependents stay without the reference.
        owner = await client.create(CM, {"metadata": {"name": "or-owner"}}, namespace)
        other = await client.create(CM, {"metadata": {"name": "or-other"}}, namespace)
        await client.create(CM, {"metadata": {"name": "or-dep", "ownerReferences": [
            ref(owner, block=True), ref(other)]}}, namespace)
        await client.delete(CM, "or-owner", namespace, propagation_policy="Orphan")
        await eventually(lambda: gone(client, CM, "or-owner", namespace))
        dep = await client.get(CM, "or-dep", namespace)
        assert [r["name"] for r in dep["metadata"]["ownerReferences"]] == ["or-other"]

        # A reference to an owner that never existed: collected.
        await client.create(CM, {"metadata": {"name": "dangling", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "nobody", "uid": str(uuid.uuid4())}]}},
                                namespace)
        await eventually(lambda: gone(client, CM, "dangling", namespace))


async def test_deployment_replicaset_pods_cascade(client, namespace):
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    async with Controllers(client, [gcm.GarbageCollector]):
        deploy = await client.create(DEPLOY, {"metadata": {"name": "web"}, "spec": {
            "replicas": 2, "selector": {"matchLabels": labels}, "template": template}}, namespace)
        rs = await client.create(RS, {"metadata": {
            "name": "web-1", "ownerReferences": [ref(deploy, block=True, controller=True)]},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template}}, namespace)
        for i in range(2):
            await client.create(PODS, {"metadata": {"name": f"web-1-{i}", "labels": labels,
                                                        "ownerReferences": [ref(rs, block=True, controller=True)]},
                                           "spec": template["spec"]}, namespace)
        # Foreground through two levels: the Deployment goes last.
        await client.delete(DEPLOY, "web", namespace, propagation_policy="Foreground")
        for i in range(2):
            await eventually(lambda i=i: gone(client, PODS, f"web-1-{i}", namespace))
        await eventually(lambda: gone(client, RS, "web-1", namespace))
        await eventually(lambda: gone(client, DEPLOY, "web", namespace))

        # Background: the ReplicaSet goes at once, then its pods.
        rs = await client.create(RS, {"metadata": {"name": "web-2"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": labels}, "template": template}}, namespace)
        await client.create(PODS, {"metadata": {"name": "web-2-0", "labels": labels,
                                                    "ownerReferences": [ref(rs, controller=True)]},
                                       "spec": template["spec"]}, namespace)
        await client.delete(RS, "web-2", namespace)
        await eventually(lambda: gone(client, PODS, "web-2-0", namespace))
