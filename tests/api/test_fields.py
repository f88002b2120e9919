"""Decoding checks report what kube-apiserver's decoder reports, in its words."""

from __future__ import annotations

import pytest

from kybernetes.api import fields

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def _pod(**container: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox", **container}]}}


def test_unknown_fields_are_reported_with_their_full_path() -> None:
    body = _pod(imagee="nginx")
    body["spec"]["foo"] = 1  # type: ignore[index]
    pruned, problems = fields.check(POD, body, "Strict")
    assert problems == ['unknown field "spec.containers[0].imagee"', 'unknown field "spec.foo"']
    assert fields.strict_error_message(problems) == (
        'strict decoding error: unknown field "spec.containers[0].imagee", '
        'unknown field "spec.foo"')
    assert pruned["spec"] == {"containers": [{"name": "c", "image": "busybox"}]}
    assert body["spec"]["foo"] == 1  # type: ignore[index]  # the input is left alone


def test_warn_reports_and_ignore_only_prunes() -> None:
    body = {"metadata": {"name": "x", "labelz": {"a": "b"}}, "data": {"k": "v"}, "extra": True}
    pruned, problems = fields.check("io.k8s.api.core.v1.ConfigMap", body, "Warn")
    assert fields.warnings(problems) == ['unknown field "metadata.labelz"', 'unknown field "extra"']
    pruned, problems = fields.check("io.k8s.api.core.v1.ConfigMap", body, "Ignore")
    assert problems == []
    assert pruned == {"metadata": {"name": "x"}, "data": {"k": "v"}}
    with pytest.raises(ValueError):
        fields.check("io.k8s.api.core.v1.ConfigMap", body, "Loose")


def test_maps_and_opaque_values_are_never_reported() -> None:
    body = {
        "metadata": {"name": "r", "labels": {"any": "thing"}, "annotations": {"x/y": "z"},
                     "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]},
        "data": {"whatever": {"nested": [1, 2, {"deep": True}]}},
        "revision": 1,
    }
    pruned, problems = fields.check("io.k8s.api.apps.v1.ControllerRevision", body)
    assert problems == []
    assert pruned == body


def test_apiversion_kind_and_status_are_known() -> None:
    body = _pod()
    body["status"] = {"phase": "Running", "podIP": "10.0.0.1", "bogus": 1}
    assert fields.check(POD, body)[1] == ['unknown field "status.bogus"']


def test_strict_errors_stop_at_a_hundred() -> None:
    body = {"metadata": {"name": "x"}, **{f"f{i}": i for i in range(150)}}
    assert len(fields.check("io.k8s.api.core.v1.ConfigMap", body)[1]) == 100


@pytest.mark.parametrize("body, message", [
    ({"spec": {"replicas": "three"}},
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ({"spec": {"replicas": 1.5}},
     "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas "
     "of type int32"),
    ({"spec": {"replicas": 2**31}},
     "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas "
     "of type int32"),
    ({"spec": "x"},
     "json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec"),
    ({"spec": {"template": {"spec": {"containers": {"name": "c"}}}}},
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers "
     "of type []v1.Container"),
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": 5}]}}}},
     "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers"
     ".image of type string"),
    ({"metadata": {"labels": {"a": True}}},
     "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"),
    ({"spec": {"paused": "yes"}},
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
    ([1, 2], "json: cannot unmarshal array into Go value of type v1.Deployment"),
])
def test_type_errors_read_like_go(body: object, message: str) -> None:
    decoded = fields.decode(DEPLOYMENT, body)
    assert decoded.error == message
    assert fields.type_errors(DEPLOYMENT, body) == [message]
    assert fields.cannot_handle_message("Deployment", "v1", decoded.error) == (
        f'Deployment in version "v1" cannot be handled as a Deployment: {message}')


def test_the_first_type_error_is_the_one_reported() -> None:
    body = {"spec": {"replicas": "a", "minReadySeconds": "b"}}
    assert len(fields.type_errors(DEPLOYMENT, body)) == 2
    assert "replicas" in fields.decode(DEPLOYMENT, body).error


def test_null_is_never_a_type_error() -> None:
    assert fields.decode(DEPLOYMENT, {"spec": {"replicas": None, "selector": None}}).error is None


def test_int_or_string_takes_either() -> None:
    svc = "io.k8s.api.core.v1.Service"
    for target in (8080, "http"):
        body = {"spec": {"ports": [{"port": 80, "targetPort": target}]}}
        assert fields.decode(svc, body) == (body, [], None)
    assert fields.decode(svc, {"spec": {"ports": [{"port": 80, "targetPort": True}]}}).error == (
        "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort "
        "of type int32")


def test_quantities_take_strings_and_numbers() -> None:
    for cpu in ("100m", "1.5", 2, 0.5, "1Gi", "2e3"):
        assert fields.decode(POD, _pod(resources={"limits": {"cpu": cpu}})).error is None
    for cpu in ("lots", True, [1]):
        assert fields.decode(POD, _pod(resources={"limits": {"cpu": cpu}})).error == (
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def test_timestamps_must_be_rfc3339() -> None:
    ok = {"metadata": {"creationTimestamp": "2024-05-01T10:00:00Z"}}
    assert fields.decode(POD, ok).error is None
    assert fields.decode(POD, {"metadata": {"creationTimestamp": "yesterday"}}).error == (
        'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": '
        'cannot parse "yesterday" as "2006"')
    assert fields.decode(POD, {"metadata": {"creationTimestamp": 5}}).error == (
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp "
        "of type string")


def test_secret_data_must_be_base64() -> None:
    secret = "io.k8s.api.core.v1.Secret"
    assert fields.decode(secret, {"data": {"k": "aGVsbG8="}}).error is None
    assert fields.decode(secret, {"data": {"k": "he!!"}}).error == \
        "illegal base64 data at input byte 2"
    assert fields.decode(secret, {"data": {"k": 1}}).error == (
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8")


def test_a_type_error_wins_over_unknown_fields() -> None:
    decoded = fields.decode(DEPLOYMENT, {"spec": {"replicas": "x", "bogus": 1}})
    assert decoded.unknown == ['unknown field "spec.bogus"']
    assert decoded.error is not None and decoded.error.startswith("json: cannot unmarshal")
