"""Optimistic concurrency and object metadata, as kubectl and clients see them.

Stale writes are 409 Conflict with kube-apiserver's message, a taken name
409 AlreadyExists, failed delete preconditions 409 with the storage error
text; generation moves with the spec only; generateName draws five
characters from upstream's alphabet; finalizers hold a deleted object
until they are removed, and no new one may join; ownerReferences and
managedFields are stored (kubectl hides the latter unless asked).
"""

from __future__ import annotations

import json
import re

import yaml

MODIFIED = ("the object has been modified; please apply your changes to the latest version and "
            "try again")


def cms(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps"


def deployment(name: str = "web", replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}


def test_stale_put_and_patch_are_409_conflict(rest, api_kubectl, ns):
    cm = rest.create(cms(ns), {"metadata": {"name": "cm"}, "data": {"k": "1"}})
    rest.patch(cms(ns) + "/cm", {"data": {"k": "2"}})
    stale = {**cm, "data": {"k": "3"}}
    for r in (rest.put(cms(ns) + "/cm", stale),
              rest.patch(cms(ns) + "/cm", {"metadata": {"resourceVersion": cm["metadata"]["resourceVersion"]},
                                           "data": {"k": "3"}})):
        assert r.status_code == 409
        body = r.json()
        assert body["reason"] == "Conflict"
        assert body["message"] == f'Operation cannot be fulfilled on configmaps "cm": {MODIFIED}'
        assert body["details"] == {"name": "cm", "kind": "configmaps"}
    assert rest.get(cms(ns) + "/cm").json()["data"] == {"k": "2"}
    # kubectl replace of an object read earlier prints the same.
    result = api_kubectl.run("replace", "-n", ns, "-f", "-", input=json.dumps(stale), check=False)
    assert result.returncode == 1
    assert (f'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on '
            f'configmaps "cm": {MODIFIED}') in result.stderr


def test_existing_name_is_409_already_exists(rest, api_kubectl, ns):
    manifest = json.dumps(deployment())
    api_kubectl("create", "-n", ns, "-f", "-", input=manifest)
    result = api_kubectl.run("create", "-n", ns, "-f", "-", input=manifest, check=False)
    assert result.returncode == 1
    assert ('Error from server (AlreadyExists): error when creating "STDIN": deployments.apps "web" '
            'already exists') in result.stderr
    r = rest.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment())
    assert r.status_code == 409
    assert r.json()["reason"] == "AlreadyExists"
    assert r.json()["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_delete_preconditions(rest, ns):
    cm = rest.create(cms(ns), {"metadata": {"name": "cm"}})
    uid, rv = cm["metadata"]["uid"], cm["metadata"]["resourceVersion"]
    key = f"/registry/configmaps/{ns}/cm"
    r = rest.delete(cms(ns) + "/cm", {"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert r.json()["message"] == (
        f'Operation cannot be fulfilled on configmaps "cm": StorageError: invalid object, Code: 4, '
        f'Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: '
        f'not-the-uid, UID in object meta: {uid}')
    r = rest.delete(cms(ns) + "/cm", {"preconditions": {"resourceVersion": "1"}})
    assert r.status_code == 409
    assert r.json()["message"].endswith(
        f"Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {rv}")
    assert rest.get(cms(ns) + "/cm").status_code == 200
    r = rest.delete(cms(ns) + "/cm", {"preconditions": {"uid": uid, "resourceVersion": rv}})
    assert r.status_code == 200
    assert r.json()["status"] == "Success" and r.json()["details"]["uid"] == uid
    assert rest.get(cms(ns) + "/cm").status_code == 404


def test_put_naming_another_uid_is_a_failed_precondition(rest, ns):
    cm = rest.create(cms(ns), {"metadata": {"name": "cm"}})
    r = rest.put(cms(ns) + "/cm", {**cm, "metadata": {**cm["metadata"], "uid": "someone-else"}})
    assert r.status_code == 409
    assert r.json()["message"].endswith(
        f"Precondition failed: UID in precondition: someone-else, UID in object meta: {cm['metadata']['uid']}")


def test_generation_moves_with_the_spec_only(rest, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    d = rest.create(path, deployment())
    assert d["metadata"]["generation"] == 1
    d = rest.patch(path + "/web", {"metadata": {"labels": {"extra": "x"}, "annotations": {"a": "b"}}}).json()
    assert d["metadata"]["generation"] == 1
    d = rest.patch(path + "/web/status", {"status": {"observedGeneration": 1, "replicas": 1}}).json()
    assert d["metadata"]["generation"] == 1
    d = rest.patch(path + "/web", {"spec": {"replicas": 3}}).json()
    assert d["metadata"]["generation"] == 2
    d = rest.patch(path + "/web/scale", {"spec": {"replicas": 4}}).json()
    assert rest.get(path + "/web").json()["metadata"]["generation"] == 3
    # A write that changes nothing stores nothing: same resourceVersion.
    current = rest.get(path + "/web").json()
    again = rest.put(path + "/web", current).json()
    assert again["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 3


def test_generate_name_draws_from_upstreams_alphabet(rest, ns):
    made = {rest.create(cms(ns), {"metadata": {"generateName": "job-"}})["metadata"]["name"]
            for _ in range(30)}
    assert len(made) == 30
    assert all(re.fullmatch(r"job-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in made), made
    r = rest.post(cms(ns), {"metadata": {"generateName": "Bad_"}})
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "metadata.generateName"


def test_finalizers_hold_a_deleted_object(rest, api_kubectl, ns):
    rest.create(cms(ns), {"metadata": {"name": "held", "finalizers": ["example.com/a", "example.com/b"]}})
    r = rest.delete(cms(ns) + "/held")
    assert r.status_code == 200
    marked = r.json()
    assert marked["kind"] == "ConfigMap" and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    got = rest.get(cms(ns) + "/held").json()
    assert got["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]

    # No finalizer may join once deletion started (kube-apiserver's 422).
    result = api_kubectl.run("patch", "configmap", "held", "-n", ns, "--type=json", "-p",
                             '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/c"}]',
                             check=False)
    assert result.returncode == 1
    assert ('The ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added '
            'if the object is being deleted, found new finalizers []string{"example.com/c"}') in result.stderr
    # Other changes are still allowed; deletionTimestamp cannot be moved.
    r = rest.patch(cms(ns) + "/held", {"data": {"k": "v"}, "metadata": {"deletionTimestamp": None}})
    assert r.status_code == 200
    assert r.json()["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    # Removing one finalizer keeps it; removing the last one completes the deletion.
    rest.patch(cms(ns) + "/held", {"metadata": {"finalizers": ["example.com/b"]}})
    assert rest.get(cms(ns) + "/held").status_code == 200
    r = rest.patch(cms(ns) + "/held", [{"op": "remove", "path": "/metadata/finalizers"}],
                   content_type="application/json-patch+json")
    assert r.status_code == 200
    assert rest.get(cms(ns) + "/held").status_code == 404


def test_owner_references_and_managed_fields(rest, api_kubectl, ns):
    owner = rest.create(cms(ns), {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    rest.create(cms(ns), {"metadata": {"name": "child", "ownerReferences": [ref]}, "data": {"a": "1"}},
                params={"fieldManager": "tester"})
    child = rest.get(cms(ns) + "/child").json()
    assert child["metadata"]["ownerReferences"] == [ref]
    managed = child["metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managed] == [("tester", "Update")]
    assert "f:data" in managed[0]["fieldsV1"] and managed[0]["fieldsType"] == "FieldsV1"

    shown = yaml.safe_load(api_kubectl("get", "configmap", "child", "-n", ns, "-o", "yaml"))
    assert "managedFields" not in shown["metadata"]
    assert shown["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    full = yaml.safe_load(api_kubectl("get", "configmap", "child", "-n", ns, "-o", "yaml",
                                      "--show-managed-fields"))
    assert full["metadata"]["managedFields"][0]["manager"] == "tester"


def test_put_creates_only_where_the_kind_allows_it(rest, ns):
    # Leases, Endpoints, Events, LimitRanges and RBAC objects: AllowCreateOnUpdate.
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
             "spec": {"holderIdentity": "me"}}
    r = rest.put(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/lock", lease)
    assert r.status_code == 201 and r.json()["metadata"]["uid"]
    path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/lock"
    # A Lease, unlike most kinds, is never updated without a resourceVersion.
    r = rest.put(path, {**lease, "spec": {"holderIdentity": "you"}})
    assert r.status_code == 422
    assert r.json()["message"] == ('leases.coordination.k8s.io "lock" is invalid: metadata.resourceVersion: '
                                   "Invalid value: 0x0: must be specified for an update")
    current = rest.get(path).json()
    r = rest.put(path, {**current, "spec": {"holderIdentity": "you"}})
    assert r.status_code == 200 and r.json()["spec"]["holderIdentity"] == "you"
    r = rest.put(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/other",
                 {**lease, "metadata": {"name": "other", "uid": "expected-uid"}})
    assert r.status_code == 409
    assert r.json()["message"].endswith(
        "Precondition failed: UID in precondition: expected-uid, UID in object meta: ")
    # Everything else: 404; an update without a resourceVersion is unconditional.
    rest.create(cms(ns), {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    r = rest.put(cms(ns) + "/cm", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                                  "data": {"a": "2"}})
    assert r.status_code == 200 and r.json()["data"] == {"a": "2"}
    r = rest.put(cms(ns) + "/missing", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "missing"}})
    assert r.status_code == 404 and r.json()["message"] == 'configmaps "missing" not found'
