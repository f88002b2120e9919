"""Object metadata validation and the Invalid error kubectl prints."""

import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api import status
from kybernetes.api.validation import invalid_message, validate


def check(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    obj = copy.deepcopy(obj)
    default(group, kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        default(group, kind, old)
    return [f"{c['field']}: {c['message']}" for c in validate(group, kind, obj, old)]


def cm(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", **meta}}


def test_invalid_message_single_and_aggregate() -> None:
    one = [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}]
    assert invalid_message("Pod", "x", one) == 'Pod "x" is invalid: spec.containers[0].image: Required value'
    two = one + [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.restartPolicy"}]
    assert invalid_message("Deployment", "web", two + one, group="apps") == (
        'Deployment.apps "web" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: Required value]')
    assert invalid_message("Pod", "x", []) == 'Pod "x" is invalid'


def test_causes_fit_the_status_error() -> None:
    causes = validate("apps", "Deployment", {"metadata": {"name": "web"}, "spec": {}})
    err = status.invalid("Deployment", "apps", "web", causes, invalid_message("Deployment", "web", causes, "apps"))
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message.startswith('Deployment.apps "web" is invalid: [')


def test_name_rules_per_kind() -> None:
    assert check("", "ConfigMap", cm(name="a.b")) == []
    svc = {"metadata": {"name": "a.b"}, "spec": {"ports": [{"port": 80}]}}
    assert check("", "Service", svc)[0].startswith('metadata.name: Invalid value: "a.b": a DNS-1035 label')
    assert check("", "Namespace", {"metadata": {"name": "a.b"}}) == ['metadata.name: Invalid value: "a.b": must not contain dots']
    assert check("", "ConfigMap", cm(name="")) == ["metadata.name: Required value: name or generateName is required"]


def test_generate_name_prefix() -> None:
    assert check("", "ConfigMap", cm(name="web-abcde", generateName="web-")) == []
    errs = check("", "ConfigMap", cm(name="ok", generateName="Web-"))
    assert errs[0].startswith('metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123 subdomain')


def test_labels_annotations_and_finalizers() -> None:
    errs = check("", "ConfigMap", cm(labels={"app": "-x"}, annotations={"k": "v" * (256 * 1024)},
                                     finalizers=["foo", "example.com/bar"]))
    assert errs[0].startswith('metadata.labels: Invalid value: "-x": a valid label must be an empty string')
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in errs
    assert ('metadata.finalizers[0]: Invalid value: "foo": name is neither a standard finalizer name nor is it '
            "fully qualified") in errs
    assert check("", "ConfigMap", cm(annotations={"Example.COM/Key": "v"})) == []


def test_owner_references() -> None:
    refs = [{"apiVersion": "", "kind": "", "name": "", "uid": ""},
            {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}]
    errs = check("", "ConfigMap", cm(ownerReferences=refs))
    assert errs[:4] == ['metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
                        'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
                        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
                        'metadata.ownerReferences.uid: Invalid value: "": must not be empty']
    assert errs[4].endswith("/v1, Kind=Event is disallowed from being an owner")


def test_update_keeps_name_and_needs_resource_version() -> None:
    old = cm(resourceVersion="5", uid="u1")
    new = cm(resourceVersion="", uid="u2")
    new["metadata"]["name"] = "other"
    errs = check("", "ConfigMap", new, old)
    assert 'metadata.resourceVersion: Invalid value: "": must be specified for an update' in errs
    assert 'metadata.name: Invalid value: "other": field is immutable' in errs
    assert 'metadata.uid: Invalid value: "u2": field is immutable' in errs


def test_no_new_finalizers_while_deleting() -> None:
    old = cm(resourceVersion="1", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["a.io/x"])
    new = cm(resourceVersion="1", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["a.io/x", "a.io/y"])
    assert ('metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, '
            'found new finalizers []string{"a.io/y"}') in check("", "ConfigMap", new, old)


def test_unknown_kinds_get_metadata_validation_only() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "Bad"}, "spec": {"anything": 1}}
    errs = check("example.com", "Widget", obj)
    assert len(errs) == 1 and errs[0].startswith('metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain')
    obj["metadata"]["name"] = "good"
    assert check("example.com", "Widget", obj) == []
