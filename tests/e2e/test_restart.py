"""``kyb server`` on SQLite survives SIGTERM and SIGKILL: every acknowledged
write is there after a restart, revisions only move forward, held Service
addresses stay held, and a watch from before the restart (older than the
new watch cache's history) is answered kube-apiserver's way: HTTP 200 and
one ERROR event carrying 410 Expired."""

from __future__ import annotations

import pytest

from tests.e2e import restarting
from tests.e2e.cluster import API_ONLY, Server, free_port, running
from tests.e2e.rest import Rest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running(Server(str(tmp_path_factory.mktemp("kyb-restart")), free_port(), args=API_ONLY)) as s:
        yield s


def test_objects_survive_a_clean_restart(server):
    rest = Rest.of(server)
    ns = rest.namespace()
    cm = rest.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    svc = rest.create(f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "svc"}, "spec": {
        "type": "NodePort", "ports": [{"port": 80}]}})
    dep = rest.create(f"/apis/apps/v1/namespaces/{ns}/deployments", {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [{"name": "c", "image": "nginx"}]}}}})
    server.stop()  # SIGTERM
    server.start()
    rest = Rest.of(server)
    for made, path in ((cm, f"/api/v1/namespaces/{ns}/configmaps/cm"),
                       (svc, f"/api/v1/namespaces/{ns}/services/svc"),
                       (dep, f"/apis/apps/v1/namespaces/{ns}/deployments/d")):
        assert rest.get(path).json() == made
    # Addresses held before the restart are still held.
    r = rest.post(f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "copy"}, "spec": {
        "clusterIP": svc["spec"]["clusterIP"], "type": "NodePort",
        "ports": [{"port": 80, "nodePort": svc["spec"]["ports"][0]["nodePort"]}]}})
    assert r.status_code == 422
    assert "provided IP is already allocated" in r.json()["message"]
    later = rest.patch(f"/api/v1/namespaces/{ns}/configmaps/cm", {"data": {"k": "w"}}).json()
    assert int(later["metadata"]["resourceVersion"]) > int(dep["metadata"]["resourceVersion"])


def test_watch_from_before_the_restart_is_an_expired_error_event(server):
    rest = Rest.of(server)
    ns = rest.namespace()
    made = rest.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "old"}})
    old = made["metadata"]["resourceVersion"]
    rest.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "newer"}})
    server.stop()
    server.start()
    rest = Rest.of(server)
    with rest.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": old, "timeoutSeconds": "5"}) as w:
        assert w.response.status_code == 200
        events = list(w)
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["kind"], status["status"], status["code"], status["reason"]) == ("Status", "Failure", 410,
                                                                                  "Expired")
    prefix = f"too old resource version: {old} ("
    assert status["message"].startswith(prefix) and status["message"].endswith(")")
    assert int(status["message"][len(prefix):-1]) > int(old)
    # A list, then a watch from its revision, works as a client's relist does.
    at = rest.get(f"/api/v1/namespaces/{ns}/configmaps").json()["metadata"]["resourceVersion"]
    with rest.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": at, "timeoutSeconds": "5"}) as w:
        rest.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "after"}})
        event = w.next()
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "after")


def test_acknowledged_creates_survive_sigkill_mid_write(server):
    rest = Rest.of(server)
    ns = rest.namespace("crash")
    acked, stored = restarting.crash_mid_write(server, ns)
    restarting.assert_survived(acked, stored, Rest.of(server), ns)
