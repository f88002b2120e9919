"""Strategic merge patch as kube-apiserver 1.32 applies it to pods and deployments.

Expected results come from apimachinery's own strategicpatch test cases
(translated from its MergeItem test type to real fields: containers and
volumes merge by name, finalizers are a merging list of scalars, args and
tolerations are replaced, strategy keeps only ``$retainKeys``) and from what
kubectl sends for ``set image``, ``rollout restart`` and ``edit``.
"""

from __future__ import annotations

import copy

import pytest

from kybernetes.api import strategicpatch
from kybernetes.api.patching_errors import PatchError

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]},
                ]},
            },
        },
    }


def pod(containers: list[dict], **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers, **spec}}


def names(obj: dict) -> list[str]:
    return [c["name"] for c in obj["spec"]["containers"]]


def test_kubectl_set_image_changes_one_container_only():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.26", "name": "nginx"}]}}}}
    result = strategicpatch.apply(deployment(), patch, DEPLOYMENT)
    expected = deployment()
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert result == expected


def test_kubectl_rollout_restart_adds_a_template_annotation():
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}
    result = strategicpatch.apply(deployment(), patch, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}


def test_inputs_are_not_modified():
    original, patch = deployment(), {"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "y"}]}}}}
    saved = copy.deepcopy(patch)
    strategicpatch.apply(original, patch, DEPLOYMENT)
    assert original == deployment() and patch == saved


def test_merge_by_key_in_nested_lists():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
         "ports": [{"containerPort": 443}]}]}}}}
    nginx = strategicpatch.apply(deployment(), patch, DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0]
    assert nginx["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}]
    # Upstream places a new item of the patch before the server-only items around it.
    assert nginx["ports"] == [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]


def test_lists_without_a_merge_strategy_are_replaced():
    patch = {"spec": {"containers": [{"name": "sidecar", "args": ["sleep", "1"]}],
                      "tolerations": [{"key": "b", "operator": "Exists"}]}}
    original = pod([{"name": "sidecar", "args": ["sleep", "3600"]}], tolerations=[{"key": "a", "operator": "Exists"}])
    result = strategicpatch.apply(original, patch, POD)
    assert result["spec"]["containers"][0]["args"] == ["sleep", "1"]
    assert result["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]


def test_null_deletes_a_field():
    result = strategicpatch.apply(deployment(), {"spec": {"replicas": None, "strategy": {"rollingUpdate": None}}},
                                  DEPLOYMENT)
    assert "replicas" not in result["spec"]
    assert result["spec"]["strategy"] == {"type": "RollingUpdate"}


@pytest.mark.parametrize("original, patch, expected", [
    # "preserve the order from the patch in a merging list"
    (["a", "b", "c"], ["c", "a", "b"], ["c", "a", "b"]),
    # "preserve the order from the patch in a merging list 2"
    (["a", "b", "c"], ["c", "a"], ["b", "c", "a"]),
    # "merge lists of maps" with new items: patch items first, then server-only ones
    (["a", "b"], ["d", "c"], ["d", "c", "a", "b"]),
])
def test_merged_list_order_follows_the_patch_then_the_live_list(original, patch, expected):
    result = strategicpatch.apply(pod([{"name": n, "image": "i"} for n in original]),
                                  {"spec": {"containers": [{"name": n, "image": "j"} for n in patch]}}, POD)
    assert names(result) == expected


def test_merged_items_keep_their_fields():
    original = pod([{"name": "a"}, {"name": "b", "image": "b"}, {"name": "c"}])
    patch = {"spec": {"containers": [{"name": "c", "image": "c"}, {"name": "a", "image": "a"},
                                     {"name": "b", "workingDir": "/x"}]}}
    assert strategicpatch.apply(original, patch, POD)["spec"]["containers"] == [
        {"name": "c", "image": "c"}, {"name": "a", "image": "a"}, {"name": "b", "image": "b", "workingDir": "/x"}]


def test_set_element_order_with_items_not_in_the_list():
    # "$setElementOrder contains item that is not present in the list to be merged"
    original = pod([{"name": "a"}, {"name": "c"}])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "c", "image": "3"}, {"name": "a", "image": "1"}]}}
    assert strategicpatch.apply(original, patch, POD)["spec"]["containers"] == [
        {"name": "c", "image": "3"}, {"name": "a", "image": "1"}]


def test_set_element_order_alone_reorders_a_list():
    result = strategicpatch.apply(pod([{"name": "a"}, {"name": "b"}]),
                                  {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}, POD)
    assert names(result) == ["b", "a"]


def test_set_element_order_with_new_items_among_server_only_ones():
    # "merge lists of maps": current [1 (other a), 2], patch adds 4 first and 3 last
    original = pod([{"name": "1", "workingDir": "a"}, {"name": "2", "image": "2"}])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
                      "containers": [{"name": "4", "image": "4"}, {"name": "3", "image": "3"}]}}
    assert names(strategicpatch.apply(original, patch, POD)) == ["4", "1", "2", "3"]


def test_set_element_order_that_contradicts_the_patch_fails():
    original = pod([{"name": "a"}, {"name": "c"}, {"name": "b"}])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                      "containers": [{"name": "c", "image": "3"}, {"name": "a", "image": "1"}]}}
    with pytest.raises(PatchError) as e:
        strategicpatch.apply(original, patch, POD)
    assert "doesn't match $setElementOrder list" in e.value.message


def test_missing_merge_key_fails():
    with pytest.raises(PatchError) as e:
        strategicpatch.apply(pod([{"name": "a", "image": "a"}]), {"spec": {"containers": [{"image": "b"}]}}, POD)
    assert e.value.message == "map: map[image:b] does not contain declared merge key: name"


def finalizers(values: list[str]) -> dict:
    return {"metadata": {"name": "x", "finalizers": values}}


@pytest.mark.parametrize("current, patch, expected", [
    # "unique scalars when merging lists"
    (["1", "2"], {"finalizers": ["2", "3"]}, ["1", "2", "3"]),
    # "preserve the order from the patch in a merging int list"
    (["1", "2", "3"], {"finalizers": ["3", "1", "2"]}, ["3", "1", "2"]),
    (["1", "2", "3"], {"finalizers": ["3", "1"]}, ["2", "3", "1"]),
    # "delete items in lists of scalars"
    (["1", "2", "3", "4"], {"$setElementOrder/finalizers": ["1", "2"], "$deleteFromPrimitiveList/finalizers": ["3"]},
     ["1", "2", "4"]),
    # "delete all duplicate items in lists of scalars"
    (["1", "2", "3", "3", "4"], {"$setElementOrder/finalizers": ["1", "2"],
                                 "$deleteFromPrimitiveList/finalizers": ["3"]}, ["1", "2", "4"]),
    # "add and delete items in lists of scalars"
    (["1", "2", "3", "4"], {"$setElementOrder/finalizers": ["1", "2", "4"],
                            "$deleteFromPrimitiveList/finalizers": ["3"], "finalizers": ["4"]}, ["1", "2", "4"]),
    # "$setElementOrder contains item that is not present in the int list to be merged"
    (["1", "3"], {"$setElementOrder/finalizers": ["3", "2", "1"]}, ["3", "1"]),
])
def test_merging_lists_of_scalars(current, patch, expected):
    result = strategicpatch.apply(finalizers(current), {"metadata": patch}, POD)
    assert result["metadata"]["finalizers"] == expected


def test_delete_from_primitive_list_works_on_lists_without_merge_strategy():
    # kubernetes#110472: the deletion list no longer replaces a replace-strategy list
    original = pod([{"name": "a", "args": ["x", "y", "z"]}])
    patch = {"spec": {"containers": [{"name": "a", "$deleteFromPrimitiveList/args": ["y"]}]}}
    assert strategicpatch.apply(original, patch, POD)["spec"]["containers"][0]["args"] == ["x", "z"]


def test_delete_from_a_missing_primitive_list_is_a_no_op():
    result = strategicpatch.apply({"metadata": {"name": "x"}},
                                  {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, POD)
    assert result == {"metadata": {"name": "x"}}


def test_patch_directive_delete_removes_list_elements():
    patch = {"spec": {"containers": [{"name": "a", "$patch": "delete"}, {"name": "c", "$patch": "delete"}]}}
    result = strategicpatch.apply(pod([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "c"}]), patch, POD)
    assert names(result) == ["b"]


def test_patch_directive_replace_on_a_list():
    # "delete all items from merging list" and replacing with new ones
    assert strategicpatch.apply(pod([{"name": "a"}]), {"spec": {"containers": [{"$patch": "replace"}]}},
                                POD)["spec"]["containers"] == []
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "new", "image": "x"}]}}
    assert strategicpatch.apply(pod([{"name": "a"}]), patch, POD)["spec"]["containers"] == [
        {"name": "new", "image": "x"}]


def test_patch_directive_on_maps():
    original = pod([{"name": "a"}], nodeSelector={"disk": "hdd", "zone": "a"})
    # "delete map from nested map"
    assert strategicpatch.apply(original, {"spec": {"nodeSelector": {"$patch": "delete"}}},
                                POD)["spec"]["nodeSelector"] == {}
    assert strategicpatch.apply(original, {"spec": {"nodeSelector": {"$patch": "replace", "disk": "ssd"}}},
                                POD)["spec"]["nodeSelector"] == {"disk": "ssd"}
    # "add key and delete all keys from map" at the top level
    assert strategicpatch.apply({"a": 1, "b": 2}, {"$patch": "replace", "c": 3}, POD) == {"c": 3}


@pytest.mark.parametrize("patch, message", [
    ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}, "merging lists cannot yet be specified in the patch"),
    ({"spec": {"nodeSelector": {"$patch": "bogus"}}}, "unknown patch type: bogus in map: map[$patch:bogus]"),
])
def test_bad_directives(patch, message):
    with pytest.raises(PatchError) as e:
        strategicpatch.apply(pod([{"name": "a"}], nodeSelector={"a": "b"}), patch, POD)
    assert e.value.message == message


def test_retain_keys_clears_the_other_members_of_a_union():
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategicpatch.apply(deployment(), patch, DEPLOYMENT)["spec"]["strategy"] == {"type": "Recreate"}
    # "retainKeys map can change a field when no retainKeys directive present"
    patch = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}}
    assert strategicpatch.apply(deployment(), patch, DEPLOYMENT)["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}


def test_retain_keys_in_a_merging_list_of_volumes():
    original = pod([{"name": "a"}], volumes=[{"name": "data", "hostPath": {"path": "/srv"}},
                                             {"name": "tmp", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"name": "data", "$retainKeys": ["emptyDir", "name"], "emptyDir": {}}]}}
    assert strategicpatch.apply(original, patch, POD)["spec"]["volumes"] == [
        {"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]


def test_retain_keys_must_list_every_field_of_the_patch():
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}
    with pytest.raises(PatchError) as e:
        strategicpatch.apply(deployment(), patch, DEPLOYMENT)
    assert (e.value.code, e.value.message) == (400, "invalid patch format of retainKeys")


def test_new_values_lose_nulls_and_directives():
    patch = {"spec": {"affinity": {"nodeAffinity": None, "podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone", "labelSelector": None}]}},
        "containers": [{"name": "b", "image": "x", "workingDir": None}]}}
    result = strategicpatch.apply(pod([{"name": "a"}]), patch, POD)
    assert result["spec"]["affinity"] == {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}}
    assert result["spec"]["containers"] == [{"name": "b", "image": "x"}, {"name": "a"}]


def test_without_a_schema_it_is_a_merge_patch():
    original = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [{"name": "a"}], "size": 1}}
    result = strategicpatch.apply(original, {"spec": {"items": [{"name": "b"}], "size": None, "color": "red"}}, None)
    assert result["spec"] == {"items": [{"name": "b"}], "color": "red"}


def test_a_patch_must_be_an_object():
    with pytest.raises(PatchError) as e:
        strategicpatch.apply(deployment(), [1], DEPLOYMENT)
    assert e.value.code == 400
    assert strategicpatch.apply(deployment(), None, DEPLOYMENT) == deployment()


def test_lists_of_lists_are_refused_with_422():
    with pytest.raises(PatchError) as e:
        strategicpatch.apply({"metadata": {"finalizers": [["a"]]}}, {"metadata": {"finalizers": [["b"]]}}, POD)
    assert (e.value.code, e.value.message) == (422, "lists of lists are not supported")
