"""Field selectors as kube-apiserver parses ?fieldSelector= and compares object fields."""

import pytest

from kybernetes.api import fieldselectors as fs
from kybernetes.api.fieldselectors import FieldRequirement, FieldSelectorError

POD = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "default"},
    "status": {"phase": "Running", "podIP": "10.244.1.5",
               "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}], "nominatedNodeName": ""},
}


def test_parse_operators_and_order():
    sel = fs.parse("status.phase!=Failed,metadata.name==web-1,spec.nodeName=node-1")
    assert sel.requirements == [
        FieldRequirement("metadata.name", "=", "web-1"),
        FieldRequirement("spec.nodeName", "=", "node-1"),
        FieldRequirement("status.phase", "!=", "Failed"),
    ]
    field, op, value = sel.requirements[0]
    assert (field, op, value) == ("metadata.name", "=", "web-1")
    assert str(sel) == "metadata.name=web-1,spec.nodeName=node-1,status.phase!=Failed"


def test_empty_selector_matches_everything():
    for text in ("", ",", ",,"):
        sel = fs.parse(text)
        assert sel.empty
        assert sel.matches(POD)
    assert fs.everything().empty


def test_escaped_values():
    sel = fs.parse(r"metadata.name=a\,b\=c\\d,x=y")
    assert sel.requirements[0] == FieldRequirement("metadata.name", "=", "a,b=c\\d")
    assert str(sel) == r"metadata.name=a\,b\=c\\d,x=y"
    assert fs.escape_value("a,b=c\\") == r"a\,b\=c\\"
    assert fs.unescape_value(r"a\,b") == "a,b"


def test_no_whitespace_trimming():
    sel = fs.parse("status.phase = Running")
    assert sel.requirements == [FieldRequirement("status.phase ", "=", " Running")]
    assert not sel.matches(POD)


@pytest.mark.parametrize(
    "text, message",
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(FieldSelectorError) as info:
        fs.parse(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    "text, matches",
    [
        ("metadata.name=web-1", True),
        ("metadata.namespace=prod", True),
        ("metadata.namespace!=prod", False),
        ("spec.nodeName=node-1,status.phase=Running", True),
        ("spec.nodeName=", False),
        ("status.phase!=Running", False),
        ("status.podIP=10.244.1.5", True),
        ("spec.hostNetwork=false", True),
        ("spec.restartPolicy=Always", True),
        ("status.nominatedNodeName=", True),
        # Accepted for Pods but never put in their field set: only "" matches.
        ("status.podIPs=10.244.1.5", False),
        ("status.podIPs=", True),
    ],
)
def test_pod_fields(text, matches):
    assert fs.parse(text).matches(POD) is matches


def test_pod_ip_from_pod_ips_first():
    pod = {"status": {"podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}]}}
    assert fs.field_value(pod, "status.podIP") == "fd00::1"
    assert fs.field_value({"status": {"podIP": "10.0.0.2"}}, "status.podIP") == "10.0.0.2"
    assert fs.field_value({}, "status.podIP") == ""


def test_scalars_as_strings():
    assert fs.field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
    assert fs.field_value({"spec": {}}, "spec.unschedulable") == "false"
    assert fs.field_value({"spec": {"hostNetwork": True}}, "spec.hostNetwork") == "true"
    assert fs.field_value({"status": {"replicas": 3}}, "status.replicas") == "3"
    assert fs.field_value({"status": {}}, "status.replicas") == "0"
    assert fs.field_value({"status": {"succeeded": 2}}, "status.successful") == "2"
    assert fs.field_value({"type": "kubernetes.io/tls"}, "type") == "kubernetes.io/tls"
    assert fs.field_value({}, "spec.missing.deeper") == ""


def test_event_fields_core_and_events_k8s_io():
    core = {
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "prod", "uid": "u1"},
        "reason": "Scheduled",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler",
    }
    sel = fs.parse("involvedObject.name=web-1,involvedObject.namespace=prod,involvedObject.uid=u1")
    assert sel.matches(core)
    assert fs.field_value(core, "source") == "default-scheduler"
    new_api = {"regarding": {"kind": "Node", "name": "n1"}, "reportingController": "kubelet"}
    assert fs.field_value(new_api, "involvedObject.kind") == "Node"
    assert fs.field_value(new_api, "source") == "kubelet"
    assert fs.field_value(new_api, "reportingComponent") == "kubelet"


def test_custom_getter_and_field_sets():
    sel = fs.parse("a=1,b!=2")
    assert sel.matches({}, getter=lambda obj, path: {"a": "1", "b": "3"}[path])
    assert sel.matches_fields({"a": "1"})
    assert not sel.matches_fields({"a": "1", "b": "2"})


def test_single_name():
    assert fs.single_name(fs.parse("metadata.name=web-1")) == "web-1"
    assert fs.single_name(fs.parse("metadata.name=web-1,metadata.namespace=prod")) == "web-1"
    assert fs.single_name(fs.parse("metadata.name!=web-1")) is None
    assert fs.single_name(fs.parse("")) is None
    assert fs.single_name(None) is None


def test_transform_renames_and_drops():
    sel = fs.parse("spec.host=node-1,status.phase=Running")
    renamed = sel.transform(lambda f, v: ("spec.nodeName", v) if f == "spec.host" else (f, v))
    assert str(renamed) == "spec.nodeName=node-1,status.phase=Running"
    assert fs.parse("=").empty


@pytest.mark.parametrize(
    "field, kind, group, message",
    [
        ("spec.foo", "Pod", "", "field label not supported: spec.foo"),
        ("spec.foo", "Node", "", "field label not supported: spec.foo"),
        ("foo", "Event", "events.k8s.io", "field label not supported: foo"),
        ("status.x", "Job", "batch", 'field label "status.x" not supported for batchv1.Job'),
        ("foo.bar", "Ingress", "networking.k8s.io",
         '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("spec.replicas", "Deployment", "apps",
         '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("spec.pool", "ResourceSlice", "resource.k8s.io",
         "field label not supported for resource.k8s.io/v1beta1, Kind=ResourceSlice: spec.pool"),
    ],
)
def test_unsupported_message(field, kind, group, message):
    assert fs.unsupported_message(field, kind, group) == message
