"""Label and field selectors on LIST (and through kubectl), per kind.

Every label selector operator, and the field selectors each kind supports
beyond metadata.name and metadata.namespace (pods spec.nodeName and
status.phase, events involvedObject.*, secrets type, nodes
spec.unschedulable); an unsupported field is a 400 worded as upstream's
field label conversion for that kind words it.
"""

from __future__ import annotations

import pytest


def names(body: dict) -> list[str]:
    return sorted(o["metadata"]["name"] for o in body["items"])


@pytest.fixture
def labelled(rest, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for name, labels in (("web-prod", {"app": "web", "env": "prod"}), ("web-dev", {"app": "web", "env": "dev"}),
                         ("db-prod", {"app": "db", "env": "prod"}), ("bare", {})):
        rest.create(path, {"metadata": {"name": name, "labels": labels}})
    return path


@pytest.mark.parametrize("selector, expected", [
    ("app=web", ["web-dev", "web-prod"]),
    ("app==web", ["web-dev", "web-prod"]),
    ("app!=web", ["bare", "db-prod"]),
    ("env in (prod, staging)", ["db-prod", "web-prod"]),
    ("env notin (prod)", ["bare", "web-dev"]),
    ("env", ["db-prod", "web-dev", "web-prod"]),
    ("!env", ["bare"]),
    ("app=web,env=prod", ["web-prod"]),
    ("app in (web,db),!missing", ["db-prod", "web-dev", "web-prod"]),
])
def test_label_selector_operators(rest, labelled, selector, expected):
    assert names(rest.get(labelled, params={"labelSelector": selector}).json()) == expected


def test_label_selectors_through_kubectl_and_errors(rest, api_kubectl, labelled, ns):
    out = api_kubectl("get", "configmaps", "-n", ns, "-l", "env notin (dev),app", "-o", "name")
    assert sorted(out.split()) == ["configmap/db-prod", "configmap/web-prod"]
    r = rest.get(labelled, params={"labelSelector": "env in (prod"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert r.json()["message"].startswith("unable to parse requirement: ")


def test_pod_field_selectors(rest, api_kubectl, ns):
    pods = f"/api/v1/namespaces/{ns}/pods"
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    rest.create(pods, {"metadata": {"name": "on-a"}, "spec": {**spec, "nodeName": "node-a"}})
    rest.create(pods, {"metadata": {"name": "on-b"}, "spec": {**spec, "nodeName": "node-b"}})
    rest.create(pods, {"metadata": {"name": "pending"}, "spec": spec})
    rest.patch(pods + "/on-b/status", {"status": {"phase": "Running"}})
    sel = lambda s: names(rest.get(pods, params={"fieldSelector": s}).json())  # noqa: E731
    assert sel("spec.nodeName=node-a") == ["on-a"]
    assert sel("spec.nodeName=") == ["pending"]
    assert sel("status.phase=Running") == ["on-b"]
    assert sel("status.phase!=Running") == ["on-a", "pending"]
    assert sel("metadata.name=on-a,spec.nodeName=node-b") == []
    out = api_kubectl("get", "pods", "-A", "--field-selector", f"status.phase=Pending,metadata.namespace={ns}",
                      "-o", "name")
    assert sorted(out.split()) == ["pod/on-a", "pod/pending"]
    assert sel("spec.restartPolicy=Always,spec.schedulerName=default-scheduler") == ["on-a", "on-b", "pending"]
    r = rest.get(pods, params={"fieldSelector": "spec.dnsPolicy=Default"})
    assert r.status_code == 400
    assert r.json()["message"] == "field label not supported: spec.dnsPolicy"


def test_event_secret_and_node_field_selectors(rest, ns):
    events = f"/api/v1/namespaces/{ns}/events"
    for name, kind, target in (("e1", "Pod", "p1"), ("e2", "Pod", "p2"), ("e3", "ConfigMap", "p1")):
        rest.create(events, {"metadata": {"name": name}, "reason": "Test", "message": "m", "type": "Normal",
                             "involvedObject": {"kind": kind, "name": target, "namespace": ns}})
    sel = lambda path, s: names(rest.get(path, params={"fieldSelector": s}).json())  # noqa: E731
    assert sel(events, "involvedObject.name=p1") == ["e1", "e3"]
    assert sel(events, "involvedObject.kind=Pod,involvedObject.name=p1") == ["e1"]
    assert sel(events, f"involvedObject.namespace={ns},reason=Test,type=Normal") == ["e1", "e2", "e3"]

    secrets = f"/api/v1/namespaces/{ns}/secrets"
    rest.create(secrets, {"metadata": {"name": "plain"}, "stringData": {"a": "b"}})
    rest.create(secrets, {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
                          "data": {"tls.crt": "", "tls.key": ""}})
    assert sel(secrets, "type=kubernetes.io/tls") == ["tls"]
    assert sel(secrets, "type=Opaque") == ["plain"]

    suffix = ns[-8:]
    for name, unschedulable in ((f"n1-{suffix}", True), (f"n2-{suffix}", False)):
        rest.create("/api/v1/nodes", {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable}})
    found = sel("/api/v1/nodes", "spec.unschedulable=true")
    assert f"n1-{suffix}" in found and f"n2-{suffix}" not in found
    assert f"n2-{suffix}" in sel("/api/v1/nodes", "spec.unschedulable=false")
    for name in (f"n1-{suffix}", f"n2-{suffix}"):
        rest.delete(f"/api/v1/nodes/{name}")


def test_unsupported_field_selectors_are_400(rest):
    r = rest.get("/api/v1/configmaps", params={"fieldSelector": "data.key=x"})
    assert r.status_code == 400
    assert r.json()["message"] == '"data.key" is not a known field selector: only "metadata.name", ' \
                                  '"metadata.namespace"'
    r = rest.get("/api/v1/secrets", params={"fieldSelector": "data=x"})
    assert r.json()["message"] == "field label not supported: data"
    r = rest.get("/api/v1/configmaps", params={"fieldSelector": "metadata.name~x"})
    assert r.status_code == 400
