"""The default ServiceAccount and the kube-root-ca.crt ConfigMap in every namespace."""

from __future__ import annotations

import pytest

from kybernetes.api import registry, status
from kybernetes.client import kubeconfig
from kybernetes.controllers import serviceaccount as sac
from kybernetes.controllers.context import Settings
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import FakeClient, feed, unit_context

NS = registry.lookup("", "v1", "namespaces")
SA = registry.lookup("", "v1", "serviceaccounts")
CM = registry.lookup("", "v1", "configmaps")

ACTIVE = {"metadata": {"name": "team"}, "status": {"phase": "Active"}}


async def test_default_account_made_when_missing_only():
    client = FakeClient()
    c = sac.ServiceAccountController(unit_context(client))
    feed(c.namespaces, ACTIVE)
    await c.sync("team")
    assert [(v[0], v[1], v[2], v[3]) for v in client.calls] == [("create", "serviceaccounts", "team", "default")]
    feed(c.accounts, {"metadata": {"name": "default", "namespace": "team"}})
    await c.sync("team")
    assert len(client.calls) == 1


async def test_no_account_in_terminating_or_missing_namespace():
    client = FakeClient()
    c = sac.ServiceAccountController(unit_context(client))
    feed(c.namespaces, {"metadata": {"name": "old", "deletionTimestamp": "2024-01-01T00:00:00Z"},
                        "status": {"phase": "Terminating"}})
    await c.sync("old")
    await c.sync("nowhere")
    assert client.calls == []


async def test_terminating_namespace_refusal_is_not_retried():
    client = FakeClient()
    client.fail["create"] = status.forbidden(
        "serviceaccounts", "", "default",
        "unable to create new content in namespace team because it is being terminated")
    c = sac.ServiceAccountController(unit_context(client))
    feed(c.namespaces, ACTIVE)
    await c.sync("team")  # no exception: nothing to retry


async def test_account_deletion_requeues_its_namespace():
    c = sac.ServiceAccountController(unit_context())
    c._account_deleted({"metadata": {"name": "default", "namespace": "team"}})
    c._account_deleted({"metadata": {"name": "builder", "namespace": "other"}})
    assert list(c.queue._queue) == ["team"]


async def test_root_ca_published_and_repaired():
    client = FakeClient(ca=b"PEM")
    c = sac.RootCACertPublisher(unit_context(client))
    feed(c.namespaces, ACTIVE)
    await c.sync("team")
    created = client.verbs("create")[0][4]
    assert created["metadata"]["name"] == "kube-root-ca.crt"
    assert created["data"] == {"ca.crt": "PEM"}
    assert created["metadata"]["annotations"]["kubernetes.io/description"].startswith(
        "Contains a CA bundle that can be used to verify the kube-apiserver")
    feed(c.configmaps, {"metadata": {"name": "kube-root-ca.crt", "namespace": "team"},
                        "data": {"ca.crt": "tampered"}})
    await c.sync("team")
    updated = client.verbs("update")[0][4]
    assert updated["data"] == {"ca.crt": "PEM"}
    assert updated["metadata"]["annotations"]["kubernetes.io/description"] == sac.DESCRIPTION


def test_root_ca_from_settings_first():
    ctx = unit_context(FakeClient(ca=b"FROM-KUBECONFIG"), root_ca_pem=b"FROM-SETTINGS")
    assert sac.cluster_ca(ctx) == b"FROM-SETTINGS"
    assert sac.cluster_ca(unit_context(FakeClient(ca=b"FROM-KUBECONFIG"))) == b"FROM-KUBECONFIG"
    with pytest.raises(ValueError):
        sac.cluster_ca(unit_context(FakeClient(ca=None)))


# --- against a real API server ---

async def test_new_namespace_gets_default_account_and_root_ca(server, client):
    ca = kubeconfig.load(server.kubeconfig).ca_data
    assert ca
    async with Controllers(client, [sac.ServiceAccountController, sac.RootCACertPublisher],
                           settings=Settings()):
        name = "sa-test"
        await client.create(NS, {"metadata": {"name": name}})
        await eventually(lambda: client.get(SA, "default", name))
        cm = await eventually(lambda: client.get(CM, "kube-root-ca.crt", name))
        assert cm["data"]["ca.crt"] == ca.decode()
        assert cm["metadata"]["annotations"]["kubernetes.io/description"] == sac.DESCRIPTION
        # Every pre-existing namespace got them too.
        await eventually(lambda: client.get(SA, "default", "kube-system"))
        await eventually(lambda: client.get(CM, "kube-root-ca.crt", "kube-public"))

        # Deleted: made again. Edited: put back.
        first = await client.get(SA, "default", name)
        await client.delete(SA, "default", name)

        async def recreated():
            sa = await client.get(SA, "default", name)
            return sa["metadata"]["uid"] != first["metadata"]["uid"]

        await eventually(recreated)
        await client.patch(CM, "kube-root-ca.crt", {"data": {"ca.crt": "nonsense"}}, namespace=name)

        async def restored():
            return (await client.get(CM, "kube-root-ca.crt", name))["data"]["ca.crt"] == ca.decode()

        await eventually(restored)
