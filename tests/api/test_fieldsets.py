"""Field sets and the ``fieldsV1`` format of ``metadata.managedFields``."""

from __future__ import annotations

import pytest

from kybernetes.api import fieldsets
from kybernetes.api.fieldsets import FieldSet, PathElement, field_path

DEPLOYMENT = fieldsets.definition_type("io.k8s.api.apps.v1.Deployment")
POD = fieldsets.definition_type("io.k8s.api.core.v1.Pod")


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25",
                                                       "ports": [{"containerPort": 80}], "resources": {}}]}}},
    }


def test_field_set_of_an_applied_deployment_matches_kubectl_apply_server_side():
    # What `kubectl apply --server-side` records for this manifest (atomic selector,
    # map keys without ".", list items with ".", the TCP default in the port key).
    assert fieldsets.field_set(deployment(), DEPLOYMENT).to_fields_v1() == {
        "f:apiVersion": {}, "f:kind": {},
        "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
        "f:spec": {
            "f:replicas": {}, "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                    "f:resources": {}}}}}}}


def test_sets_atomic_lists_and_nulls():
    obj = {"metadata": {"finalizers": ["b", "a"], "annotations": None},
           "spec": {"containers": [{"name": "c", "args": ["x"]}], "tolerations": [{"key": "k"}],
                    "nodeSelector": {"disk": "ssd"}}}
    fields = fieldsets.field_set(obj, POD).to_fields_v1()
    assert fields["f:metadata"] == {"f:annotations": {}, "f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}
    assert fields["f:spec"]["f:tolerations"] == {}
    assert fields["f:spec"]["f:nodeSelector"] == {}
    assert fields["f:spec"]["f:containers"]['k:{"name":"c"}']["f:args"] == {}


def test_fields_v1_round_trip_and_order():
    text = {"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
            "f:spec": {"f:containers": {'k:{"name":"b"}': {".": {}, "f:image": {}},
                                        'k:{"name":"a"}': {}},
                       "f:args": {"i:1": {}, "i:0": {}}}}
    parsed = FieldSet.from_fields_v1(text)
    assert parsed.has(field_path("metadata", "labels"))
    assert parsed.has(field_path("metadata", "labels", "a"))
    assert not parsed.has(field_path("metadata"))
    out = parsed.to_fields_v1()
    assert out == text
    assert list(out["f:spec"]) == ["f:args", "f:containers"]
    assert list(out["f:spec"]["f:containers"]) == ['k:{"name":"a"}', 'k:{"name":"b"}']
    assert list(out["f:spec"]["f:args"]) == ["i:0", "i:1"]
    assert list(out["f:metadata"]["f:labels"]) == [".", "f:a"]


def test_malformed_fields_v1_is_an_error():
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1({"x:y": {}})
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1({"f:a": []})


def test_path_strings_as_conflicts_print_them():
    path = field_path("spec", "template", "spec", "containers") + (
        PathElement.key({"name": "nginx"}), PathElement.field("image"))
    assert fieldsets.path_string(path) == '.spec.template.spec.containers[name="nginx"].image'
    assert fieldsets.path_string(field_path("metadata", "finalizers") + (PathElement.item("x"),)) == \
        '.metadata.finalizers[="x"]'
    ports = PathElement.key({"protocol": "TCP", "containerPort": 80})
    assert str(ports) == '[containerPort=80,protocol="TCP"]'
    assert ports.serialize() == 'k:{"containerPort":80,"protocol":"TCP"}'
    assert str(PathElement.index(2)) == "[2]"


def test_set_operations():
    a = FieldSet.of(field_path("spec", "replicas"), field_path("spec"), field_path("spec", "paused"))
    b = FieldSet.of(field_path("spec"), field_path("metadata", "labels", "x"))
    assert a.union(b).to_fields_v1() == {"f:metadata": {"f:labels": {"f:x": {}}},
                                         "f:spec": {".": {}, "f:paused": {}, "f:replicas": {}}}
    assert a.intersection(b) == FieldSet.of(field_path("spec"))
    # difference removes members only; recursive_difference also drops what lies under them
    assert a.difference(b) == FieldSet.of(field_path("spec", "replicas"), field_path("spec", "paused"))
    assert a.recursive_difference(b).empty()
    assert a.difference(a).empty() and a.difference(a).to_fields_v1() == {}
    assert list(fieldsets.path_string(p) for p in a.paths()) == [".spec", ".spec.paused", ".spec.replicas"]


def test_ensure_named_fields_are_members():
    owned = FieldSet.of(field_path("spec", "template", "spec", "containers")
                        + (PathElement.key({"name": "c"}), PathElement.field("image")),
                        field_path("metadata", "labels", "app"))
    named = fieldsets.ensure_named_fields_are_members(owned, DEPLOYMENT)
    for path in [("spec",), ("spec", "template"), ("spec", "template", "spec"),
                 ("spec", "template", "spec", "containers"), ("metadata",), ("metadata", "labels")]:
        assert named.has(field_path(*path)), path
    assert not named.has(field_path("spec", "template", "spec", "containers") + (PathElement.key({"name": "c"}),))


@pytest.mark.parametrize("obj, message", [
    ({"spec": {"replica": 3}}, ".spec.replica: field not declared in schema"),
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
     '.spec.template.spec.containers: element 0: associative list with keys has an element that omits key '
     'field "name" (and doesn\'t have default value)'),
    ({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}},
     '.spec.template.spec.containers: duplicate entries for key [name="a"]'),
])
def test_strict_field_sets_check_the_schema(obj, message):
    with pytest.raises(fieldsets.SchemaMismatch) as e:
        fieldsets.field_set(obj, DEPLOYMENT, strict=True)
    assert str(e.value) == message
    fieldsets.field_set(obj, DEPLOYMENT)  # live objects are tolerated


def test_untyped_objects_have_granular_maps_and_atomic_lists():
    obj = {"spec": {"size": 1, "items": [1, 2], "nested": {"a": "b"}}}
    assert fieldsets.field_set(obj, fieldsets.UNTYPED).to_fields_v1() == {
        "f:spec": {".": {}, "f:items": {}, "f:nested": {".": {}, "f:a": {}}, "f:size": {}}}
