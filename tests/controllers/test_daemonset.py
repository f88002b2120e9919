"""DaemonSet controller: node predicates, the rolling-update plan, and a real
server with simulated nodes (a pod per node, new nodes, nodes leaving,
rolling update, revision history, ``kubectl rollout status``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from kybernetes.api import registry
from kybernetes.controllers import daemonset_nodes as dsn
from kybernetes.controllers import daemonset_update as dsu
from kybernetes.controllers.daemonset import DaemonSetController
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.kubelet_sim import NODES, KubeletSim, make_nodes, pods_of
from tests.e2e.cluster import Kubectl

DAEMONSETS = registry.lookup("apps", "v1", "daemonsets")
REVISIONS = registry.lookup("apps", "v1", "controllerrevisions")
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def node(name, labels=None, taints=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def daemonset(name="ds", node_selector=None, tolerations=None, affinity=None, strategy=None, image="img:1"):
    spec = {"containers": [{"name": "c", "image": image}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    return {"metadata": {"name": name, "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "updateStrategy": strategy or {"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def pod(name, node_name, hash_, ready=True, since=NOW - timedelta(hours=1)):
    t = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "labels": {"controller-revision-hash": hash_},
                         "creationTimestamp": t},
            "spec": {"nodeName": node_name},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t}]}}


def test_default_tolerations_added():
    spec = dsn.daemon_pod_spec(daemonset())
    keys = {(t["key"], t["effect"]) for t in spec["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert all("tolerationSeconds" not in t for t in spec["tolerations"])
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in keys
    host = daemonset()
    host["spec"]["template"]["spec"]["hostNetwork"] = True
    tolerations = dsn.daemon_pod_spec(host)["tolerations"]
    assert any(t["key"] == "node.kubernetes.io/network-unavailable" for t in tolerations)


def test_should_run_predicates():
    ds = daemonset(node_selector={"role": "edge"})
    assert dsn.should_run(node("a", {"role": "edge"}), ds) == (True, True)
    assert dsn.should_run(node("b", {"role": "core"}), ds) == (False, False)
    # Taints: the default tolerations cover node-condition taints; others must be tolerated.
    plain = daemonset()
    unschedulable = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    assert dsn.should_run(node("c", taints=unschedulable), plain) == (True, True)
    dedicated = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    assert dsn.should_run(node("d", taints=dedicated), plain) == (False, True)
    evict = [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]
    assert dsn.should_run(node("e", taints=evict), plain) == (False, False)
    tolerant = daemonset(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])
    assert dsn.should_run(node("e", taints=evict), tolerant) == (True, True)
    affine = daemonset(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]}}})
    assert dsn.should_run(node("f", {"zone": "z1"}), affine)[0]
    assert not dsn.should_run(node("g", {"zone": "z2"}), affine)[0]


def test_node_affinity_replaced_and_read_back():
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]}}}}
    dsn.with_node_affinity(spec, "n1")
    required = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    terms = required["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    assert dsn.target_node({"spec": spec}) == "n1"


def test_rolling_update_without_surge_respects_max_unavailable():
    ds = daemonset()
    pods = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in range(4)}
    wanted = {n: True for n in pods}
    delete, create = dsu.rolling_update_plan(ds, pods, wanted, "new", NOW)
    assert len(delete) == 1 and create == []
    # One new pod not yet ready counts as unavailable: nothing more is deleted.
    pods["n0"] = [pod("q0", "n0", "new", ready=False)]
    assert dsu.rolling_update_plan(ds, pods, wanted, "new", NOW) == ([], [])
    pods["n0"] = [pod("q0", "n0", "new")]
    assert len(dsu.rolling_update_plan(ds, pods, wanted, "new", NOW)[0]) == 1


def test_rolling_update_with_surge_creates_before_deleting():
    ds = daemonset(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    pods = {f"n{i}": [pod(f"p{i}", f"n{i}", "old")] for i in range(3)}
    wanted = {n: True for n in pods}
    delete, create = dsu.rolling_update_plan(ds, pods, wanted, "new", NOW)
    assert delete == [] and len(create) == 1
    surged = create[0]
    pods[surged].append(pod("s", surged, "new", ready=False))
    assert dsu.rolling_update_plan(ds, pods, wanted, "new", NOW) == ([], [])
    pods[surged][1] = pod("s", surged, "new")
    delete, create = dsu.rolling_update_plan(ds, pods, wanted, "new", NOW)
    assert delete == [pods[surged][0]["metadata"]["name"]]


def test_status_counts():
    ds = daemonset()
    pods = {"n0": [pod("a", "n0", "h")], "n1": [pod("b", "n1", "old", ready=False)],
            "n2": [pod("c", "n2", "h")]}
    wanted = {"n0": True, "n1": True, "n2": False, "n3": True}
    st = dsu.daemon_status(ds, pods, wanted, "h", NOW)
    assert st == {"desiredNumberScheduled": 3, "currentNumberScheduled": 2, "numberMisscheduled": 1,
                  "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1, "numberUnavailable": 2}


async def test_daemonset_on_simulated_nodes(server, client, namespace, tmp_path):
    ns = namespace
    tag = uuid.uuid4().hex[:6]
    names = [f"{tag}-a", f"{tag}-b"]
    await make_nodes(client, names, {"ds-test": tag})
    ds = daemonset("agent", node_selector={"ds-test": tag})
    ds["metadata"] = {"name": "agent", "namespace": ns}
    async with Controllers(client, [DaemonSetController]), KubeletSim(client, ns, names + [f"{tag}-c"]):
        await client.create(DAEMONSETS, ds, ns)

        async def running_nodes():
            pods = [p for p in await pods_of(client, ns) if not p["metadata"].get("deletionTimestamp")]
            return sorted(p["spec"].get("nodeName") or "" for p in pods
                          if (p.get("status") or {}).get("phase") == "Running")

        assert await eventually(lambda: _eq(running_nodes(), names))
        await make_nodes(client, [f"{tag}-c"], {"ds-test": tag})
        assert await eventually(lambda: _eq(running_nodes(), names + [f"{tag}-c"]))
        kubectl = Kubectl(server, str(tmp_path / "kubectl"))
        out = await asyncio.to_thread(kubectl, "rollout", "status", "ds/agent", "-n", ns, "--timeout=30s")
        assert "successfully rolled out" in out
        st = (await client.get(DAEMONSETS, "agent", ns))["status"]
        assert (st["desiredNumberScheduled"], st["numberReady"], st["updatedNumberScheduled"]) == (3, 3, 3)

        # A node that no longer matches loses its pod.
        await client.patch(NODES, f"{tag}-b", {"metadata": {"labels": {"ds-test": "other"}}})
        assert await eventually(lambda: _eq(running_nodes(), [f"{tag}-a", f"{tag}-c"]))

        # A template change rolls out one node at a time and records a second revision.
        await client.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:2"}]}}}}, namespace=ns, patch_type="strategic")

        async def all_updated():
            pods = [p for p in await pods_of(client, ns) if not p["metadata"].get("deletionTimestamp")]
            return len(pods) == 2 and all(p["spec"]["containers"][0]["image"] == "img:2"
                                          and p["status"].get("phase") == "Running" for p in pods)

        assert await eventually(all_updated)
        out = await asyncio.to_thread(kubectl, "rollout", "status", "ds/agent", "-n", ns, "--timeout=30s")
        assert "successfully rolled out" in out
        revisions = (await client.list(REVISIONS, ns))["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2]
        history = await asyncio.to_thread(kubectl, "rollout", "history", "ds/agent", "-n", ns)
        assert "1" in history and "2" in history


async def _eq(awaitable, expected):
    return sorted(await awaitable) == sorted(expected)
