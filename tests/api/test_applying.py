"""Server-side apply and managedFields, through the flows kubectl 1.32 drives.

Each test plays requests the way kube-apiserver's handlers would run them:
``track_update`` for create/update/patch, ``apply`` for apply patches.
"""

from __future__ import annotations

import copy

import pytest

from kybernetes.api import applying, fieldsets, strategicpatch
from kybernetes.api.patching_errors import ApplyConflict, PatchError, conflict_status_details

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CONFIGMAP = "io.k8s.api.core.v1.ConfigMap"
T1, T2, T3, T4 = ("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z",
                  "2024-05-01T13:00:00Z")


def manifest(replicas: int = 2, image: str = "nginx:1.25") -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": image}]}}},
    }


def entries(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owns(obj: dict, manager: str, operation: str, *path: str) -> bool:
    fields = fieldsets.FieldSet.from_fields_v1(entries(obj)[manager, operation]["fieldsV1"])
    return fields.has(fieldsets.field_path(*path))


def without_managed_fields(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"].pop("managedFields", None)
    return obj


def test_create_gives_every_field_to_the_creating_manager():
    created = applying.track_update(None, manifest(), "kubectl-create", definition=DEPLOYMENT, now=T1)
    assert created["metadata"]["managedFields"] == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {},
                       "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                      "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                                          ".": {}, "f:image": {}, "f:name": {}}}}}}},
    }]
    assert without_managed_fields(created) == manifest()


def test_update_moves_changed_fields_and_keeps_times_of_untouched_managers():
    created = applying.track_update(None, manifest(), "kubectl-create", definition=DEPLOYMENT, now=T1)
    changed = copy.deepcopy(created)
    changed["spec"]["replicas"] = 5
    updated = applying.track_update(created, changed, "kubectl-edit", definition=DEPLOYMENT, now=T2)
    assert not owns(updated, "kubectl-create", "Update", "spec", "replicas")
    assert owns(updated, "kubectl-create", "Update", "spec", "template", "metadata", "labels", "app")
    assert entries(updated)["kubectl-create", "Update"]["time"] == T1
    assert entries(updated)["kubectl-edit", "Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert entries(updated)["kubectl-edit", "Update"]["time"] == T2
    # Removing a field takes it from its owner too.
    removed = copy.deepcopy(updated)
    del removed["metadata"]["labels"]
    after = applying.track_update(updated, removed, "kubectl-edit", definition=DEPLOYMENT, now=T3)
    assert not owns(after, "kubectl-create", "Update", "metadata", "labels", "app")


def test_a_no_op_update_leaves_managed_fields_alone():
    created = applying.track_update(None, manifest(), "kubectl-create", definition=DEPLOYMENT, now=T1)
    again = applying.track_update(created, copy.deepcopy(created), "someone", definition=DEPLOYMENT, now=T2)
    assert again == created


def test_status_is_tracked_only_through_the_status_subresource():
    created = applying.track_update(None, manifest(), "kubectl-create", definition=DEPLOYMENT, now=T1)
    with_status = copy.deepcopy(created)
    with_status["status"] = {"replicas": 2, "readyReplicas": 2}
    main = applying.track_update(created, with_status, "meddler", definition=DEPLOYMENT, now=T2)
    assert ("meddler", "Update") not in entries(main)
    status = applying.track_update(created, with_status, "kube-controller-manager", definition=DEPLOYMENT,
                                   now=T2, subresource="status")
    entry = entries(status)["kube-controller-manager", "Update"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}}


def test_request_managed_fields_replace_or_reset_the_live_ones():
    created = applying.track_update(None, manifest(), "kubectl-create", definition=DEPLOYMENT, now=T1)
    reset = copy.deepcopy(created)
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in applying.track_update(created, reset, "x", definition=DEPLOYMENT,
                                                        now=T2)["metadata"]
    edited = copy.deepcopy(created)
    edited["metadata"]["managedFields"][0]["manager"] = "renamed"
    assert set(entries(applying.track_update(created, edited, "x", definition=DEPLOYMENT, now=T2))) == {
        ("renamed", "Update")}
    forgotten = without_managed_fields(created)  # a client unaware of managedFields keeps them
    assert applying.track_update(created, forgotten, "x", definition=DEPLOYMENT, now=T2) == created


def test_more_than_ten_update_managers_fold_into_ancient_changes():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {}}
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj = applying.track_update(obj, new, f"writer-{i:02d}", definition=CONFIGMAP,
                                    now=f"2024-05-01T10:{i:02d}:00Z")
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert managers[0] == "ancient-changes"
    assert managers[1:] == [f"writer-{i:02d}" for i in range(3, 12)]
    ancient = obj["metadata"]["managedFields"][0]
    assert ancient["fieldsV1"] == {"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}
    assert ancient["time"] == "2024-05-01T10:02:00Z"


def test_server_side_apply_creates_then_a_repeat_is_a_no_op():
    created = applying.apply(None, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    assert without_managed_fields(created) == manifest()
    assert created["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                     "f:spec": {"f:replicas": {}, "f:selector": {},
                                "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                                               "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                                                   ".": {}, "f:image": {}, "f:name": {}}}}}}}}]
    again = applying.apply(created, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T2)
    assert again == created


def test_changing_one_field_keeps_the_fields_others_set():
    live = applying.apply(None, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    defaulted = copy.deepcopy(live)  # what the server and controllers add
    defaulted["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    defaulted["spec"]["template"]["metadata"]["annotations"] = {"team": "a"}
    live = applying.track_update(live, defaulted, "kubectl-annotate", definition=DEPLOYMENT, now=T2)
    result = applying.apply(live, manifest(image="nginx:1.26"), "kubectl", force=False, definition=DEPLOYMENT,
                            now=T3)
    container = result["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx:1.26", "imagePullPolicy": "IfNotPresent"}
    assert result["spec"]["template"]["metadata"]["annotations"] == {"team": "a"}
    assert entries(result)["kubectl", "Apply"]["time"] == T3
    assert entries(result)["kubectl-annotate", "Update"]["time"] == T2


def test_fields_dropped_from_the_config_are_removed_unless_someone_else_owns_them():
    config = manifest()
    config["metadata"]["labels"] = {"app": "web", "tier": "front", "team": "a"}
    live = applying.apply(None, config, "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    other = applying.apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "web", "labels": {"team": "a"}}},
                           "labeller", force=False, definition=DEPLOYMENT, now=T2)
    result = applying.apply(other, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T3)
    assert result["metadata"]["labels"] == {"app": "web", "team": "a"}
    config = manifest()
    config["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    two = applying.apply(result, config, "kubectl", force=False, definition=DEPLOYMENT, now=T4)
    assert [c["name"] for c in two["spec"]["template"]["spec"]["containers"]] == ["nginx", "sidecar"]
    one = applying.apply(two, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T4)
    assert [c["name"] for c in one["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_conflicts_with_another_applier_and_force():
    live = applying.apply(None, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    scaler = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 9}}
    with pytest.raises(ApplyConflict) as e:
        applying.apply(live, scaler, "scaler", force=False, definition=DEPLOYMENT, now=T2)
    assert e.value.conflicts == [('"kubectl"', ".spec.replicas")]
    message, causes = conflict_status_details(e.value.conflicts)
    assert message == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert causes == [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"',
                       "field": ".spec.replicas"}]
    forced = applying.apply(live, scaler, "scaler", force=True, definition=DEPLOYMENT, now=T2)
    assert forced["spec"]["replicas"] == 9
    assert not owns(forced, "kubectl", "Apply", "spec", "replicas")
    assert owns(forced, "scaler", "Apply", "spec", "replicas")
    # The same value is no conflict: ownership is shared.
    shared = applying.apply(live, {**scaler, "spec": {"replicas": 2}}, "scaler", force=False,
                            definition=DEPLOYMENT, now=T2)
    assert owns(shared, "kubectl", "Apply", "spec", "replicas")
    assert owns(shared, "scaler", "Apply", "spec", "replicas")


def test_conflicts_with_updaters_are_printed_with_their_api_version():
    created = applying.track_update(None, manifest(), "kube-controller-manager", definition=DEPLOYMENT, now=T1)
    with pytest.raises(ApplyConflict) as e:
        applying.apply(created, manifest(replicas=3, image="nginx:2"), "kubectl", force=False,
                       definition=DEPLOYMENT, now=T2)
    message, causes = conflict_status_details(e.value.conflicts)
    assert message == ('Apply failed with 2 conflicts: conflicts with "kube-controller-manager" using apps/v1:\n'
                       '- .spec.replicas\n'
                       '- .spec.template.spec.containers[name="nginx"].image')
    assert [c["field"] for c in causes] == [".spec.replicas", '.spec.template.spec.containers[name="nginx"].image']
    assert causes[0]["message"] == 'conflict with "kube-controller-manager" using apps/v1'


def client_side_apply_create(config: dict) -> dict:
    """``kubectl apply`` on a missing object: POST with the last-applied annotation."""
    obj = copy.deepcopy(config)
    obj["metadata"]["annotations"] = {applying.LAST_APPLIED: fieldsets.go_json(config) + "\n"}
    return applying.track_update(None, obj, "kubectl-client-side-apply", definition=DEPLOYMENT, now=T1)


def test_client_side_apply_then_server_side_apply():
    live = client_side_apply_create(manifest())
    # `kubectl apply` again, unchanged: an empty strategic merge patch changes nothing.
    patched = strategicpatch.apply(live, {}, DEPLOYMENT)
    assert applying.track_update(live, patched, "kubectl-client-side-apply", definition=DEPLOYMENT,
                                 now=T2) == live
    # `kubectl apply --server-side` with the same manifest: nothing changes but ownership is shared.
    ssa = applying.apply(live, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T2)
    assert without_managed_fields(ssa) == without_managed_fields(live)
    assert owns(ssa, "kubectl", "Apply", "spec", "replicas")
    assert owns(ssa, "kubectl-client-side-apply", "Update", "spec", "replicas")
    assert "time" not in entries(ssa)["kubectl", "Apply"], "upstream leaves the time of a no-op apply unset"
    # Changing a field that client-side apply owns is allowed: it matches the last-applied annotation.
    scaled = applying.apply(ssa, manifest(replicas=4), "kubectl", force=False, definition=DEPLOYMENT, now=T3)
    assert scaled["spec"]["replicas"] == 4
    assert not owns(scaled, "kubectl-client-side-apply", "Update", "spec", "replicas")
    assert scaled["metadata"]["annotations"][applying.LAST_APPLIED] == \
        fieldsets.go_json(manifest(replicas=4)) + "\n"
    # And applying it again is a no-op.
    assert applying.apply(scaled, manifest(replicas=4), "kubectl", force=False, definition=DEPLOYMENT,
                          now=T4) == scaled


def test_server_side_apply_conflicts_when_live_differs_from_last_applied():
    live = client_side_apply_create(manifest())
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 7
    live = applying.track_update(live, edited, "kubectl-edit", definition=DEPLOYMENT, now=T2)
    with pytest.raises(ApplyConflict) as e:
        applying.apply(live, manifest(replicas=4), "kubectl", force=False, definition=DEPLOYMENT, now=T3)
    assert e.value.conflicts == [('"kubectl-edit" using apps/v1', ".spec.replicas")]


def test_client_side_apply_changing_a_field_after_server_side_apply():
    live = applying.apply(None, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    patch = {"spec": {"replicas": 6}}
    patched = strategicpatch.apply(live, patch, DEPLOYMENT)
    result = applying.track_update(live, patched, "kubectl-client-side-apply", definition=DEPLOYMENT, now=T2)
    assert entries(result)["kubectl-client-side-apply", "Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert not owns(result, "kubectl", "Apply", "spec", "replicas")


@pytest.mark.parametrize("change, code, message", [
    ({"metadata": {"name": "web", "managedFields": []}}, 400, "metadata.managedFields must be nil"),
    ({"apiVersion": "apps/v1beta1"}, 400,
     "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"),
    ({"kind": "StatefulSet"}, 400, "invalid object type: apps/v1, Kind=StatefulSet"),
    ({"spec": {"replica": 1}}, 500,
     "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
     ".spec.replica: field not declared in schema"),
])
def test_apply_refuses_configs_kube_apiserver_refuses(change, code, message):
    config = {**manifest(), **change}
    if "metadata" in change:
        config["metadata"] = {**manifest()["metadata"], **change["metadata"]}
    with pytest.raises(PatchError) as e:
        applying.apply(None, config, "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    assert (e.value.code, e.value.message) == (code, message)


def test_managed_fields_are_ordered_apply_first_then_by_time():
    live = applying.track_update(None, manifest(), "creator", definition=DEPLOYMENT, now=T2)
    changed = copy.deepcopy(live)
    changed["metadata"]["labels"]["x"] = "y"
    live = applying.track_update(live, changed, "aaa-later", definition=DEPLOYMENT, now=T3)
    live = applying.apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                 "metadata": {"name": "web", "annotations": {"a": "b"}}},
                          "zz-applier", force=False, definition=DEPLOYMENT, now=T4)
    assert [(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]] == [
        ("zz-applier", "Apply"), ("creator", "Update"), ("aaa-later", "Update")]


def test_custom_resources_without_a_schema_merge_maps_and_replace_lists():
    live = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "colors": ["red"], "owner": {"team": "a"}}}
    live = applying.track_update(None, live, "creator", definition=None, now=T1)
    config = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"colors": ["blue"], "owner": {"email": "x@example.com"}}}
    with pytest.raises(ApplyConflict) as e:
        applying.apply(live, config, "tool", force=False, definition=None, now=T2)
    assert e.value.conflicts == [('"creator" using example.com/v1', ".spec.colors")]
    result = applying.apply(live, config, "tool", force=True, definition=None, now=T2)
    assert result["spec"] == {"size": 1, "colors": ["blue"], "owner": {"team": "a", "email": "x@example.com"}}


def test_apply_to_the_status_subresource_owns_status_only():
    live = applying.apply(None, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 1}, "status": {"replicas": 2}}
    result = applying.apply(live, status, "controller", force=False, definition=DEPLOYMENT, now=T2,
                            subresource="status")
    entry = entries(result)["controller", "Apply"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    assert owns(result, "kubectl", "Apply", "spec", "replicas"), "spec is reset on the status subresource"


def test_malformed_live_managed_fields():
    live = manifest()
    live["metadata"]["managedFields"] = [{"manager": "x", "operation": "Patch", "apiVersion": "apps/v1",
                                          "fieldsType": "FieldsV1", "fieldsV1": {}}]
    with pytest.raises(PatchError) as e:
        applying.apply(live, manifest(), "kubectl", force=False, definition=DEPLOYMENT, now=T1)
    assert (e.value.code, e.value.message) == (
        500, "failed to decode managed fields: operation must be `Apply` or `Update`")
    # A create/update simply starts over.
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 3
    del changed["metadata"]["managedFields"]
    tracked = applying.track_update(live, changed, "kubectl-edit", definition=DEPLOYMENT, now=T2)
    assert set(entries(tracked)) == {("kubectl-edit", "Update")}
