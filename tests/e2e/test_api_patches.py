"""Patch variants, server-side apply, dry runs and delete options.

JSON patch, JSON merge patch and strategic merge patch with its directives
(``$patch: delete``, ``$setElementOrder``, ``$retainKeys``,
``$deleteFromPrimitiveList``); server-side apply conflicts (409 with
FieldManagerConflict causes) and ``force``; ``dryRun=All`` on every verb
leaving storage as it was; grace periods, propagation policies and
deletecollection with a label selector.
"""

from __future__ import annotations

import json

import yaml

STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


def cms(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps"


def deps(ns: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments"


def deployment(containers: list[str]) -> dict:
    return {"metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": n, "image": f"{n}:1"} for n in containers]}}}}


def containers(d: dict) -> list[tuple[str, str]]:
    return [(c["name"], c["image"]) for c in d["spec"]["template"]["spec"]["containers"]]


def test_json_patch_and_merge_patch(rest, api_kubectl, ns):
    rest.create(cms(ns), {"metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}})
    r = rest.patch(cms(ns) + "/cm", [{"op": "test", "path": "/data/x", "value": "1"},
                                     {"op": "replace", "path": "/data/x", "value": "2"},
                                     {"op": "add", "path": "/data/y", "value": "3"},
                                     {"op": "remove", "path": "/metadata/labels/a"}],
                   content_type=JSON_PATCH)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"x": "2", "y": "3"} and r.json()["metadata"]["labels"] == {"b": "2"}
    r = rest.patch(cms(ns) + "/cm", [{"op": "test", "path": "/data/x", "value": "1"}], content_type=JSON_PATCH)
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    # Merge patch: null deletes a key, a map merges, a list is replaced whole.
    r = rest.patch(cms(ns) + "/cm", {"data": {"y": None, "z": "4"}, "metadata": {"finalizers": ["a/b"]}})
    assert r.json()["data"] == {"x": "2", "z": "4"}
    api_kubectl("patch", "configmap", "cm", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    api_kubectl("patch", "configmap", "cm", "-n", ns, "--type=json", "-p",
                '[{"op":"add","path":"/data/w","value":"5"}]')
    got = rest.get(cms(ns) + "/cm").json()
    assert got["data"] == {"x": "2", "z": "4", "w": "5"} and "finalizers" not in got["metadata"]


def test_strategic_merge_patch_directives(rest, api_kubectl, ns):
    rest.create(deps(ns), deployment(["a", "b", "c"]))
    # Lists of containers merge by name.
    d = rest.patch(deps(ns) + "/web", {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "image": "b:2"}]}}}}, content_type=STRATEGIC).json()
    assert containers(d) == [("a", "a:1"), ("b", "b:2"), ("c", "c:1")]
    # $patch: delete removes one element.
    d = rest.patch(deps(ns) + "/web", {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "$patch": "delete"}]}}}}, content_type=STRATEGIC).json()
    assert containers(d) == [("a", "a:1"), ("c", "c:1")]
    # $setElementOrder reorders (kubectl edit sends it).
    d = rest.patch(deps(ns) + "/web", {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "c:3"}]}}}}, content_type=STRATEGIC).json()
    assert containers(d) == [("c", "c:3"), ("a", "a:1")]
    # $retainKeys: switching the strategy type drops rollingUpdate with it.
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    d = rest.patch(deps(ns) + "/web", {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                   content_type=STRATEGIC).json()
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    # $deleteFromPrimitiveList removes values from a merged list of scalars.
    rest.patch(deps(ns) + "/web", {"metadata": {"finalizers": ["x/a", "x/b", "x/c"]}})
    d = rest.patch(deps(ns) + "/web", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/b"]}},
                   content_type=STRATEGIC).json()
    assert d["metadata"]["finalizers"] == ["x/a", "x/c"]
    rest.patch(deps(ns) + "/web", {"metadata": {"finalizers": None}})
    # kubectl patch is strategic by default; set image too.
    api_kubectl("patch", "deployment", "web", "-n", ns, "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:9"}]}}}}')
    api_kubectl("set", "image", "deployment/web", "-n", ns, "c=c:9")
    assert containers(rest.get(deps(ns) + "/web").json()) == [("c", "c:9"), ("a", "a:9")]


def test_server_side_apply_conflicts_and_force(rest, api_kubectl, ns):
    doc = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                          "data": {"k": "alice", "a": "1"}})
    r = rest.patch(cms(ns) + "/cm", data=doc, content_type=APPLY, params={"fieldManager": "alice"})
    assert r.status_code == 201, r.text
    theirs = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                             "data": {"k": "bob"}})
    r = rest.patch(cms(ns) + "/cm", data=theirs, content_type=APPLY, params={"fieldManager": "bob"})
    assert r.status_code == 409
    body = r.json()
    assert body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.k'
    assert body["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "alice"',
                                          "field": ".data.k"}]
    assert rest.get(cms(ns) + "/cm").json()["data"]["k"] == "alice"

    r = rest.patch(cms(ns) + "/cm", data=theirs, content_type=APPLY, params={"fieldManager": "bob",
                                                                               "force": "true"})
    assert r.status_code == 200
    assert r.json()["data"] == {"k": "bob", "a": "1"}
    owners = {m["manager"]: m["fieldsV1"] for m in r.json()["metadata"]["managedFields"]}
    assert owners["bob"]["f:data"] == {"f:k": {}}
    assert owners["alice"]["f:data"] == {"f:a": {}}

    # kubectl apply --server-side: the same conflict, then --force-conflicts.
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                           "data": {"k": "carol"}})
    result = api_kubectl.run("apply", "--server-side", "-n", ns, "-f", "-", input=manifest, check=False)
    assert result.returncode == 1
    assert 'conflict with "bob": .data.k' in result.stderr
    out = api_kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", input=manifest)
    assert "configmap/cm serverside-applied" in out
    assert rest.get(cms(ns) + "/cm").json()["data"]["k"] == "carol"


def test_dry_run_on_every_verb_changes_nothing(rest, api_kubectl, ns):
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                           "data": {"k": "v"}})
    out = json.loads(api_kubectl("create", "--dry-run=server", "-n", ns, "-f", "-", "-o", "json",
                                 input=manifest))
    assert out["metadata"]["uid"] and out["metadata"]["creationTimestamp"]
    assert rest.get(cms(ns) + "/cm").status_code == 404

    real = rest.create(cms(ns), json.loads(manifest))
    rv = real["metadata"]["resourceVersion"]
    edited = json.dumps({**real, "data": {"k": "changed"}})
    api_kubectl("replace", "--dry-run=server", "-n", ns, "-f", "-", input=edited)
    api_kubectl("patch", "--dry-run=server", "configmap", "cm", "-n", ns, "-p", '{"data":{"k":"p"}}')
    api_kubectl("label", "--dry-run=server", "configmap", "cm", "-n", ns, "x=y")
    api_kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-n", ns, "-f", "-",
                input=manifest.replace('"v"', '"applied"'))
    out = api_kubectl("delete", "--dry-run=server", "configmap", "cm", "-n", ns)
    assert "(server dry run)" in out
    r = rest.delete(cms(ns), params={"dryRun": "All"})
    assert r.status_code == 200 and [o["metadata"]["name"] for o in r.json()["items"]] == ["cm"]
    got = rest.get(cms(ns) + "/cm").json()
    assert got["metadata"]["resourceVersion"] == rv and got["data"] == {"k": "v"}
    assert rest.get(cms(ns), params={"dryRun": "Some"}).status_code == 200  # ignored on reads
    r = rest.post(cms(ns), {"metadata": {"name": "x"}}, params={"dryRun": "Some"})
    assert r.status_code == 400
    assert r.json()["message"] == 'Invalid dryRun value: "Some": supported values: "All"'


def test_grace_periods_of_pods(rest, ns):
    pods = f"/api/v1/namespaces/{ns}/pods"
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    rest.create(pods, {"metadata": {"name": "never-scheduled"}, "spec": spec})
    # A pod no node runs goes at once.
    assert rest.delete(pods + "/never-scheduled").status_code == 200
    assert rest.get(pods + "/never-scheduled").status_code == 404

    rest.create(pods, {"metadata": {"name": "running"}, "spec": {**spec, "nodeName": "node-1"}})
    marked = rest.delete(pods + "/running").json()
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30 and marked["metadata"]["deletionTimestamp"]
    # A shorter grace period shortens it; 0 (kubectl delete --force) removes it.
    shorter = rest.delete(pods + "/running", {"gracePeriodSeconds": 5}).json()
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
    assert rest.get(pods + "/running").status_code == 200
    assert rest.delete(pods + "/running", params={"gracePeriodSeconds": "0"}).status_code == 200
    assert rest.get(pods + "/running").status_code == 404


def test_propagation_policies_add_their_finalizers(rest, ns):
    for name in ("fg", "orphan", "bg", "old-style"):
        rest.create(cms(ns), {"metadata": {"name": name}})
    fg = rest.delete(cms(ns) + "/fg", {"propagationPolicy": "Foreground"})
    assert fg.status_code == 200
    assert fg.json()["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert fg.json()["metadata"]["deletionTimestamp"]
    orphan = rest.delete(cms(ns) + "/orphan", params={"propagationPolicy": "Orphan"}).json()
    assert orphan["metadata"]["finalizers"] == ["orphan"]
    assert rest.get(cms(ns) + "/fg").status_code == 200 and rest.get(cms(ns) + "/orphan").status_code == 200
    bg = rest.delete(cms(ns) + "/bg", {"propagationPolicy": "Background"}).json()
    assert bg["status"] == "Success"
    assert rest.get(cms(ns) + "/bg").status_code == 404
    # The deprecated orphanDependents=false: 202 while the object waits for the collector.
    rest.patch(cms(ns) + "/old-style", {"metadata": {"finalizers": ["example.com/x"]}})
    assert rest.delete(cms(ns) + "/old-style", {"orphanDependents": False}).status_code == 202
    r = rest.delete(cms(ns) + "/fg", {"propagationPolicy": "Sideways"})
    assert r.status_code == 400
    assert r.json()["message"] == ('propagationPolicy: Unsupported value: "Sideways": supported values: '
                                   '"Background", "Foreground", "Orphan"')


def test_deletecollection_with_a_label_selector(rest, api_kubectl, ns):
    for i in range(6):
        rest.create(cms(ns), {"metadata": {"name": f"cm-{i}", "labels": {"tier": "a" if i % 2 else "b"}}})
    r = rest.delete(cms(ns), params={"labelSelector": "tier=a"})
    assert r.status_code == 200
    assert r.json()["kind"] == "ConfigMapList"
    assert sorted(o["metadata"]["name"] for o in r.json()["items"]) == ["cm-1", "cm-3", "cm-5"]
    assert sorted(o["metadata"]["name"] for o in rest.get(cms(ns)).json()["items"]) == ["cm-0", "cm-2", "cm-4"]
    out = api_kubectl("delete", "configmaps", "-n", ns, "-l", "tier=b")
    assert sorted(out.splitlines()) == [f'configmap "cm-{i}" deleted' for i in (0, 2, 4)]
    assert rest.get(cms(ns)).json()["items"] == []
