"""``kyb server --datastore-endpoint`` on a real etcd: the API's core verbs,
restart and SIGKILL survival, watch expiry after a restart, and an expired
continue token once etcd has compacted the page's revision."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e import restarting
from tests.e2e.cluster import API_ONLY, Server, free_port, running
from tests.e2e.rest import Rest
from tests.storage.etcdserver import EtcdCluster

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def etcd():
    with EtcdCluster(members=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(etcd, tmp_path_factory):
    args = [*API_ONLY, "--datastore-endpoint", etcd.endpoints]
    with running(Server(str(tmp_path_factory.mktemp("kyb-etcd")), free_port(), args=args)) as s:
        yield s


def etcd_call(etcd: EtcdCluster, path: str, body: dict) -> dict:
    request = urllib.request.Request(etcd.client_urls[0] + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_core_verbs(server):
    rest = Rest.of(server)
    ns = rest.namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps"
    made = rest.create(path, {"metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "1"}})
    assert rest.get(path + "/cm").json() == made
    listed = rest.get(path, params={"labelSelector": "a=b"}).json()
    assert [o["metadata"]["name"] for o in listed["items"]] == ["cm"]
    with rest.watch(path, {"resourceVersion": listed["metadata"]["resourceVersion"], "timeoutSeconds": "10"}) as w:
        patched = rest.patch(path + "/cm", {"data": {"k": "2"}}).json()
        assert int(patched["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
        stale = rest.put(path + "/cm", made)
        assert stale.status_code == 409
        assert rest.delete(path + "/cm").status_code == 200
        events = w.take(2)
    assert [(e["type"], e["object"]["data"]["k"]) for e in events] == [("MODIFIED", "2"), ("DELETED", "2")]
    assert rest.get(path + "/cm").status_code == 404
    svc = rest.create(f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "s"}, "spec": {
        "ports": [{"port": 80}]}})
    assert svc["spec"]["clusterIP"].startswith("10.")


def test_restart_keeps_objects_and_expires_old_watches(server):
    rest = Rest.of(server)
    ns = rest.namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps"
    made = rest.create(path, {"metadata": {"name": "kept"}})
    rest.create(path, {"metadata": {"name": "second"}})
    server.stop()
    server.start()
    rest = Rest.of(server)
    assert rest.get(path + "/kept").json() == made
    old = made["metadata"]["resourceVersion"]
    with rest.watch(path, {"resourceVersion": old, "timeoutSeconds": "5"}) as w:
        events = list(w)
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in events] == [("ERROR", 410, "Expired")]
    assert events[0]["object"]["message"].startswith(f"too old resource version: {old} (")


def test_continue_token_expires_when_etcd_compacts(server, etcd):
    rest = Rest.of(server)
    ns = rest.namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(5):
        rest.create(path, {"metadata": {"name": f"cm-{i}"}})
    page = rest.get(path, params={"limit": "2"}).json()
    rest.create(path, {"metadata": {"name": "cm-9"}})
    revision = int(etcd_call(etcd, "/v3/kv/range", {"key": "AA=="})["header"]["revision"])
    etcd_call(etcd, "/v3/kv/compaction", {"revision": revision, "physical": True})
    r = rest.get(path, params={"limit": "2", "continue": page["metadata"]["continue"]})
    assert r.status_code == 410
    status = r.json()
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old")
    rest_of = rest.get(path, params={"continue": status["metadata"]["continue"]}).json()
    assert [o["metadata"]["name"] for o in rest_of["items"]] == ["cm-2", "cm-3", "cm-4", "cm-9"]


def test_acknowledged_creates_survive_sigkill_mid_write(server):
    ns = Rest.of(server).namespace("crash")
    acked, stored = restarting.crash_mid_write(server, ns)
    restarting.assert_survived(acked, stored, Rest.of(server), ns)
