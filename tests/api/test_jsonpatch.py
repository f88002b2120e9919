"""JSON patch (RFC 6902) as ``kubectl patch --type=json`` sees it from kube-apiserver 1.32."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api import jsonpatch
from kybernetes.api.patching_errors import PatchError


def pod() -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"example.com/a~b": "1", "example.com/path": "x"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "args": ["a", "b", "c"]}],
                 "tolerations": []},
    }


def test_add_replace_remove_on_a_pod():
    original = pod()
    result = jsonpatch.apply(original, [
        {"op": "add", "path": "/metadata/labels/tier", "value": "frontend"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "remove", "path": "/metadata/annotations/example.com~1path"},
    ])
    assert result["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert result["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert result["metadata"]["annotations"] == {"example.com/a~b": "1"}
    assert original == pod(), "the input must not change"


def test_pointer_escapes_tilde_and_slash():
    result = jsonpatch.apply(pod(), [{"op": "replace", "path": "/metadata/annotations/example.com~1a~0b",
                                      "value": "2"}])
    assert result["metadata"]["annotations"]["example.com/a~b"] == "2"
    assert jsonpatch.escape("example.com/a~b") == "example.com~1a~0b"
    assert jsonpatch.unescape("~01") == "~1"


def test_array_indices_dash_and_negative():
    result = jsonpatch.apply(pod(), [
        {"op": "add", "path": "/spec/containers/0/args/-", "value": "d"},
        {"op": "add", "path": "/spec/containers/0/args/0", "value": "first"},
        {"op": "remove", "path": "/spec/containers/0/args/-1"},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "k", "operator": "Exists"}},
    ])
    assert result["spec"]["containers"][0]["args"] == ["first", "a", "b", "c"]
    assert result["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]


def test_move_and_copy():
    result = jsonpatch.apply(pod(), [
        {"op": "copy", "from": "/metadata/labels", "path": "/spec/nodeSelector"},
        {"op": "move", "from": "/spec/containers/0/args/0", "path": "/spec/containers/0/args/2"},
    ])
    assert result["spec"]["nodeSelector"] == {"app": "web"}
    assert result["spec"]["containers"][0]["args"] == ["b", "c", "a"]
    result["spec"]["nodeSelector"]["x"] = "y"
    assert "x" not in result["metadata"]["labels"], "copy must deep-copy"


def test_test_operation():
    jsonpatch.apply(pod(), [{"op": "test", "path": "/metadata/labels", "value": {"app": "web"}},
                            {"op": "test", "path": "/metadata/missing", "value": None}])
    with pytest.raises(PatchError) as e:
        jsonpatch.apply(pod(), [{"op": "test", "path": "/metadata/name", "value": "other"}])
    assert e.value.message == "testing value /metadata/name failed: test failed"
    assert e.value.code == 422


def test_replace_of_missing_object_key_adds_it_as_evanphx_v4_does():
    result = jsonpatch.apply(pod(), [{"op": "replace", "path": "/metadata/labels/new", "value": "v"}])
    assert result["metadata"]["labels"]["new"] == "v"


@pytest.mark.parametrize("op, message", [
    ({"op": "remove", "path": "/metadata/labels/missing"},
     "error in remove for path: '/metadata/labels/missing': Unable to remove nonexistent key: missing: "
     "missing value"),
    ({"op": "add", "path": "/spec/missing/x", "value": 1},
     'add operation does not apply: doc is missing path: "/spec/missing/x": missing value'),
    ({"op": "replace", "path": "/spec/containers/5", "value": {}},
     "replace operation does not apply: doc is missing key: /spec/containers/5: missing value"),
    ({"op": "add", "path": "/spec/containers/0/args/9", "value": "x"},
     "error in add for path: '/spec/containers/0/args/9': Unable to access invalid index: 9: "
     "invalid index referenced"),
    ({"op": "remove", "path": "/spec/containers/x"},
     "error in remove for path: '/spec/containers/x': strconv.Atoi: parsing \"x\": invalid syntax"),
    ({"op": "move", "from": "/nope/x", "path": "/spec/y"},
     "move operation does not apply: doc is missing from path: /nope/x: missing value"),
    ({"op": "add", "value": 1}, "add operation failed to decode path: missing value"),
    ({"op": "bogus", "path": "/a"}, "Unexpected kind: bogus"),
])
def test_errors_are_worded_as_kube_apiserver_words_them(op, message):
    with pytest.raises(PatchError) as e:
        jsonpatch.apply(pod(), [op])
    assert e.value.message == message
    assert e.value.code == 422


def test_a_failed_patch_leaves_the_input_alone():
    original = pod()
    with pytest.raises(PatchError):
        jsonpatch.apply(original, [{"op": "remove", "path": "/metadata/labels/app"},
                                   {"op": "remove", "path": "/metadata/labels/app"}])
    assert original == pod()


def test_a_patch_must_be_an_array():
    with pytest.raises(PatchError) as e:
        jsonpatch.apply(pod(), {"op": "add"})
    assert e.value.code == 400
    assert e.value.message == "json: cannot unmarshal object into Go value of type jsonpatch.Patch"


def test_more_than_ten_thousand_operations_are_refused_with_413():
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001
    with pytest.raises(PatchError) as e:
        jsonpatch.apply(pod(), ops)
    assert e.value.code == 413
    assert e.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"
    jsonpatch.apply(pod(), ops[:10000])


def test_exponential_growth_through_copy_is_bounded():
    doc = {"metadata": {"name": "bomb"}, "data": {"a": "x" * 1024}}
    ops = [{"op": "copy", "from": "/data", "path": f"/data/c{i}"} for i in range(30)]
    with pytest.raises(PatchError) as e:
        jsonpatch.apply(doc, ops)
    assert "Unable to complete the copy, the accumulated size increase of copy is" in e.value.message
    assert "exceeding the limit 3145728" in e.value.message


def test_values_from_the_patch_are_not_shared_with_the_result():
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    saved = copy.deepcopy(patch)
    result = jsonpatch.apply(pod(), patch)
    result["metadata"]["labels"]["c"] = "d"
    assert patch == saved
