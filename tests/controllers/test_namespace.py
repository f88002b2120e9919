"""The namespace controller: unit tests of its sync on a fake API, and a real
server where ``kubectl delete namespace`` returns once the namespace is empty and gone."""

from __future__ import annotations

import asyncio
import subprocess


from kybernetes.api import registry
from kybernetes.controllers import namespace as nsc
from kybernetes.controllers.context import Settings
from tests.controllers.conftest import Controllers, eventually, gone
from tests.controllers.fakes import FakeClient, feed, unit_context

NS = registry.lookup("", "v1", "namespaces")
PODS = registry.lookup("", "v1", "pods")
CM = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")
DEPLOY = registry.lookup("apps", "v1", "deployments")


def terminating(name: str, deleted_at: str = "2024-01-01T00:00:00Z") -> dict:
    return {"metadata": {"name": name, "deletionTimestamp": deleted_at},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}


def test_deletable_resources_one_per_storage():
    names = {(r.group, r.plural) for r in nsc.deletable_resources()}
    assert {("", "pods"), ("", "configmaps"), ("apps", "deployments"), ("", "events")} <= names
    assert ("events.k8s.io", "events") not in names  # same storage as core events
    assert ("", "bindings") not in names and ("", "namespaces") not in names
    assert [r.version for r in nsc.deletable_resources() if r.plural == "horizontalpodautoscalers"] == ["v2"]


def test_update_conditions_sets_ok_forms_and_moves_transition_time_on_flip():
    conds, changed = nsc.update_conditions([], {}, "T1")
    assert changed and [c["type"] for c in conds] == list(nsc.CONDITION_TYPES)
    assert all(c["status"] == "False" and c["lastTransitionTime"] == "T1" for c in conds)
    remaining = {"NamespaceContentRemaining": {"type": "NamespaceContentRemaining", "status": "True",
                                               "reason": "SomeResourcesRemain", "message": "m"}}
    conds2, changed = nsc.update_conditions(conds, remaining, "T2")
    c = next(c for c in conds2 if c["type"] == "NamespaceContentRemaining")
    assert changed and c["lastTransitionTime"] == "T2" and c["reason"] == "SomeResourcesRemain"
    assert nsc.update_conditions(conds2, remaining, "T3") == (conds2, False)


async def test_sync_empty_namespace_is_finalized():
    client = FakeClient()
    ctx = unit_context(client)
    c = nsc.NamespaceController(ctx)
    ns = client.put(NS, terminating("gone"))
    feed(c.namespaces, ns)
    await c.sync("gone")
    verbs = [v[0] for v in client.calls]
    assert ("deletecollection", "pods", "gone", "", {"propagation_policy": "Background"}) in client.calls
    assert "update/status" in verbs  # the five conditions
    final = client.verbs("update/finalize")
    assert len(final) == 1 and final[0][4]["spec"]["finalizers"] == []
    status_update = client.verbs("update/status")[-1][4]
    reasons = {c["type"]: c["reason"] for c in status_update["status"]["conditions"]}
    assert reasons["NamespaceContentRemaining"] == "ContentRemoved"


async def test_sync_waits_for_pods_in_their_grace_period():
    client = FakeClient()
    ctx = unit_context(client, namespace_deletion_grace_period=100)  # fake clock: 2024-01-01T00:00:00Z
    c = nsc.NamespaceController(ctx)
    ns = client.put(NS, terminating("busy"))
    client.put(PODS, {"metadata": {"name": "p", "namespace": "busy"},
                      "spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}})
    feed(c.namespaces, ns)
    await c.sync("busy")
    assert not client.verbs("update/finalize")
    status_update = client.verbs("update/status")[-1][4]
    conds = {c["type"]: c for c in status_update["status"]["conditions"]}
    assert conds["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: pods. has 1 resource instances"
    assert c.queue._waiting.get("busy") == 16  # estimate/2 + 1 seconds


async def test_sync_reports_finalizers_remaining():
    client = FakeClient()
    c = nsc.NamespaceController(unit_context(client))
    feed(c.namespaces, client.put(NS, terminating("held")))
    client.put(CM, {"metadata": {"name": "x", "namespace": "held", "finalizers": ["example.com/hold"]}})
    await c.sync("held")
    conds = {c["type"]: c for c in client.verbs("update/status")[-1][4]["status"]["conditions"]}
    assert conds["NamespaceFinalizersRemaining"]["message"] == \
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizerRemain"
    assert not client.verbs("update/finalize")


async def test_sync_ignores_live_and_missing_namespaces():
    client = FakeClient()
    c = nsc.NamespaceController(unit_context(client))
    feed(c.namespaces, client.put(NS, {"metadata": {"name": "live"}, "status": {"phase": "Active"}}))
    await c.sync("live")
    await c.sync("missing")
    assert not [v for v in client.calls if v[0] != "get"]


# --- against a real API server ---

async def test_kubectl_delete_namespace_returns_once_emptied(server, client, namespace):
    await client.create(CM, {"metadata": {"name": "cm"}, "data": {"a": "b"}}, namespace)
    await client.create(SECRETS, {"metadata": {"name": "s"}, "stringData": {"a": "b"}}, namespace)
    await client.create(PODS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}}, namespace)
    await client.create(DEPLOY, {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, namespace)
    settings = Settings(namespace_deletion_grace_period=0.2)
    async with Controllers(client, [nsc.NamespaceController], settings=settings):
        cmd = ["kubectl", "--kubeconfig", server.kubeconfig, "delete", "namespace", namespace,
               "--timeout=60s"]
        result = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
        assert f'namespace "{namespace}" deleted' in result.stdout
        assert await gone(client, NS, namespace)
        for res in (CM, SECRETS, PODS, DEPLOY):  # nothing left behind in storage
            assert (await client.list(res, namespace))["items"] == []


async def test_finalizer_holds_namespace_with_conditions(client, namespace):
    await client.create(CM, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, namespace)
    settings = Settings(namespace_deletion_grace_period=0.1)
    async with Controllers(client, [nsc.NamespaceController], settings=settings):
        await client.delete(NS, namespace)

        async def condition():
            ns = await client.get(NS, namespace)
            conds = {c["type"]: c for c in ns["status"].get("conditions") or []}
            c = conds.get("NamespaceFinalizersRemaining")
            return c if c and c["status"] == "True" else None

        cond = await eventually(condition, timeout=8)
        assert cond["message"] == "Some finalizers are remaining: example.com/hold in 1 resource instances"
        ns = await client.get(NS, namespace)
        assert ns["status"]["phase"] == "Terminating"
        conds = {c["type"]: c for c in ns["status"]["conditions"]}
        assert conds["NamespaceContentRemaining"]["message"] == \
            "Some resources are remaining: configmaps. has 1 resource instances"
        assert conds["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
        # The configmap is marked for deletion but held by its finalizer.
        cm = await client.get(CM, "held", namespace)
        assert cm["metadata"].get("deletionTimestamp")
        await client.patch(CM, "held", {"metadata": {"finalizers": None}}, namespace=namespace)
        # Requeued after the finalizer estimate (15 s / 2 + 1); the namespace then goes.
        await eventually(lambda: gone(client, NS, namespace), timeout=30)
