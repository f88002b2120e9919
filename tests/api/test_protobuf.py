"""kybernetes.api.protobuf: Kubernetes protobuf bodies decode to the JSON kubectl would send.

Two kinds of evidence: bodies kubectl 1.32 really sent (recorded from a fake
server on 127.0.0.1, compared with ``kubectl ... --dry-run=client -o json`` of
the same command, ``creationTimestamp: null`` left out), and objects encoded
here by hand, field numbers written out from upstream's generated.proto.
"""

from __future__ import annotations

import base64
import struct

import pytest

from kybernetes.api import protobuf, protobuf_wire, registry, schemas
from kybernetes.api.protobuf import ProtobufError
from kybernetes.api.protobuf_zeros import KEEP_ZERO

# -- a tiny protobuf writer -------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers as Go writes them: 64-bit two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def v(num: int, n: int | bool) -> bytes:
    """A varint field."""
    return _varint(num << 3) + _varint(int(n))


def s(num: int, data: str | bytes) -> bytes:
    """A length-delimited field (string, bytes)."""
    raw = data.encode() if isinstance(data, str) else data
    return _varint(num << 3 | 2) + _varint(len(raw)) + raw


def m(num: int, *parts: bytes) -> bytes:
    """A nested message field."""
    return s(num, b"".join(parts))


def entry(num: int, key: str, value: bytes) -> bytes:
    """One entry of a map field: {1 key, 2 value}; ``value`` is field 2 already encoded."""
    return m(num, s(1, key), value)


def quantity(num: int, text: str) -> bytes:
    return m(num, s(1, text))


def int_or_string(num: int, value: int | str) -> bytes:
    if isinstance(value, str):
        return m(num, v(1, 1), v(2, 0), s(3, value))
    return m(num, v(1, 0), v(2, value), s(3, ""))


def time(num: int, seconds: int, nanos: int = 0) -> bytes:
    return m(num, v(1, seconds), v(2, nanos))


def body(api_version: str, kind: str, *parts: bytes) -> bytes:
    """The envelope: magic, then runtime.Unknown {1 typeMeta, 2 raw, 3 encoding, 4 type}."""
    return (b"k8s\x00" + m(1, s(1, api_version), s(2, kind)) + m(2, *parts)
            + s(3, "") + s(4, ""))


def meta(name: str, *parts: bytes) -> bytes:
    """ObjectMeta as gogo writes it: every non-pointer field, zero or not."""
    return m(1, s(1, name), s(2, ""), s(3, ""), s(4, ""), s(5, ""), s(6, ""), v(7, 0),
             m(8), *parts)


# -- objects encoded by hand ------------------------------------------------------------


def test_deployment_with_pod_template():
    container = m(
        2,  # PodSpec.containers
        s(1, "web"), s(2, "nginx:1.27"), s(3, "nginx"), s(3, "-g"),
        m(6, s(1, "http"), v(2, 0), v(3, 8080), s(4, "TCP"), s(5, "")),  # ports
        m(7, s(1, "MODE"), s(2, "prod")),  # env
        m(7, s(1, "FROM_CM"), s(2, ""),
          m(3, m(3, m(1, s(1, "settings")), s(2, "mode"), v(3, False)))),  # valueFrom.configMapKeyRef
        m(8,  # resources
          entry(1, "cpu", quantity(2, "500m")), entry(1, "memory", quantity(2, "128Mi")),
          entry(2, "cpu", quantity(2, "0"))),
        m(10, m(1, m(2, s(1, "/healthz"), int_or_string(2, "http"), s(3, ""), s(4, "HTTP"))),
          v(2, 0), v(3, 1), v(4, 10), v(5, 1), v(6, 3)),  # livenessProbe, handler inlined
        s(14, "IfNotPresent"),
        m(15, v(4, 0), v(7, False)),  # securityContext.runAsUser 0, allowPrivilegeEscalation false
        v(16, False), v(18, False),  # stdin, tty: written by gogo, absent from JSON
    )
    pod_spec = m(
        2,  # PodTemplateSpec.spec
        m(1, s(1, "config"), m(2, m(19, m(1, s(1, "settings")),  # volumes: configMap, name inlined
                                     m(2, s(1, "a"), s(2, "a.conf"), v(3, 0o400)),
                                     v(3, 0), v(4, False)))),
        container,
        s(3, "Always"), v(4, 0), s(6, "ClusterFirst"), s(8, ""), s(10, ""), v(11, False),
        m(14),  # securityContext: {}
        s(19, "default-scheduler"), v(21, False), v(30, True),
    )
    spec = m(
        2,
        v(1, 0),  # replicas: an explicit 0 (a pointer in Go)
        m(2, entry(1, "app", s(2, "web"))),  # selector.matchLabels
        m(3, m(1, s(1, ""), m(8), entry(11, "app", s(2, "web"))), pod_spec),
        m(4, s(1, "RollingUpdate"), m(2, int_or_string(1, 0), int_or_string(2, "25%"))),
        v(5, 0), v(6, 10), v(7, False), v(9, 600),
    )
    data = body("apps/v1", "Deployment",
                meta("web", s(3, "prod"), entry(11, "app", s(2, "web"))), spec, m(3))
    assert protobuf.decode(data) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "volumes": [{"name": "config", "configMap": {
                        "name": "settings", "items": [{"key": "a", "path": "a.conf", "mode": 0o400}],
                        "defaultMode": 0, "optional": False}}],
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.27",
                        "command": ["nginx", "-g"],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {
                                "name": "settings", "key": "mode", "optional": False}}},
                        ],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                      "requests": {"cpu": "0"}},
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                            "failureThreshold": 3,
                        },
                        "imagePullPolicy": "IfNotPresent",
                        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False},
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 0,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": True,
                },
            },
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


def test_service_ports_and_int_or_string():
    ports = [
        m(1, s(1, "http"), s(2, "TCP"), v(3, 80), int_or_string(4, 8080), v(5, 0)),
        m(1, s(1, "named"), s(2, "TCP"), v(3, 443), int_or_string(4, "https"), v(5, 30443)),
        # targetPort left at its zero: JSON has no targetPort, defaulting copies port.
        m(1, s(1, ""), s(2, "UDP"), v(3, 53), int_or_string(4, 0), v(5, 0)),
    ]
    spec = m(2, *ports, entry(2, "app", s(2, "dns")), s(3, ""), s(4, "NodePort"),
             s(7, "None"), v(12, 0), v(13, False), v(20, False))
    assert protobuf.decode(body("v1", "Service", meta("dns"), spec, m(3, m(1)))) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns"},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "named", "protocol": "TCP", "port": 443, "targetPort": "https",
                 "nodePort": 30443},
                {"protocol": "UDP", "port": 53},
            ],
            "selector": {"app": "dns"},
            "type": "NodePort",
            "sessionAffinity": "None",
            "allocateLoadBalancerNodePorts": False,
        },
        "status": {"loadBalancer": {}},
    }


def test_secret_and_configmap_bytes_are_base64():
    secret = body("v1", "Secret", meta("s"),
                  entry(2, "bin", s(2, b"\x00\x01\xfe\xff")), entry(2, "empty", s(2, b"")),
                  s(3, "Opaque"), entry(4, "plain", s(2, "text")), v(5, False))
    assert protobuf.decode(secret) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"bin": base64.b64encode(b"\x00\x01\xfe\xff").decode(), "empty": ""},
        "type": "Opaque", "stringData": {"plain": "text"}, "immutable": False,
    }
    # A map entry whose zero value gogo left out decodes to that zero.
    configmap = body("v1", "ConfigMap", meta("c"), entry(2, "a", s(2, "x")), m(2, s(1, "b")),
                     entry(3, "blob", s(2, b"\xff")))
    assert protobuf.decode(configmap) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "data": {"a": "x", "b": ""}, "binaryData": {"blob": "/w=="},
    }


def test_times_owner_references_and_managed_fields():
    fields = b'{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}'
    data = body(
        "v1", "ConfigMap",
        meta("c",
             s(5, "0a1b"), s(6, "42"), v(7, 3),
             time(9, 1_700_000_000, 999_000_000),  # deletionTimestamp: whole seconds in JSON
             v(10, 0),  # deletionGracePeriodSeconds: an explicit 0
             m(13, s(1, "ReplicaSet"), s(3, "rs"), s(4, "u1"), s(5, "apps/v1"), v(6, True),
               v(7, False)),
             s(14, "example.com/cleanup"),
             m(17, s(1, "kubectl"), s(2, "Apply"), s(3, "v1"), time(4, 0), s(6, "FieldsV1"),
               m(7, s(1, fields)), s(8, ""))),
    )
    # creationTimestamp (field 8, written empty by meta()) is the zero time: absent.
    assert protobuf.decode(data)["metadata"] == {
        "name": "c",
        "uid": "0a1b",
        "resourceVersion": "42",
        "generation": 3,
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 0,
        "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u1",
                             "apiVersion": "apps/v1", "controller": True,
                             "blockOwnerDeletion": False}],
        "finalizers": ["example.com/cleanup"],
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                           "time": "1970-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}],
    }


def test_micro_time_and_series():
    data = body("events.k8s.io/v1", "Event", meta("e", s(3, "default")),
                time(2, 1_700_000_000, 123_456_789),
                m(3, v(1, 2), time(2, 1_700_000_001, 5_000)),
                s(4, "kubelet"), s(5, "node-1"), s(6, "Pulling"), s(7, "Pulling"),
                m(8, s(1, "Pod"), s(2, "default"), s(3, "p")), s(10, "pulling"), s(11, "Normal"),
                m(13), m(14), v(15, 0))
    event = protobuf.decode(data)
    assert event["eventTime"] == "2023-11-14T22:13:20.123456Z"
    assert event["series"] == {"count": 2, "lastObservedTime": "2023-11-14T22:13:21.000005Z"}
    assert event["regarding"] == {"kind": "Pod", "namespace": "default", "name": "p"}
    assert "deprecatedFirstTimestamp" not in event and "deprecatedCount" not in event


def test_lease_keeps_pointer_zeros():
    data = body("coordination.k8s.io/v1", "Lease", meta("l", s(3, "kube-system")),
                m(2, s(1, "me"), v(2, 15), time(4, 1_700_000_000, 1_000), v(5, 0)))
    assert protobuf.decode(data)["spec"] == {
        "holderIdentity": "me", "leaseDurationSeconds": 15,
        "renewTime": "2023-11-14T22:13:20.000001Z", "leaseTransitions": 0,
    }


def test_negative_numbers():
    # Go writes a negative int32 as the 10-byte varint of its int64 sign extension.
    spec = m(2, m(1, s(1, "p"), s(2, "TCP"), v(3, -1), int_or_string(4, -5), v(5, 0)))
    service = protobuf.decode(body("v1", "Service", meta("s", v(7, -7)), spec))
    assert service["spec"]["ports"] == [{"name": "p", "protocol": "TCP", "port": -1,
                                         "targetPort": -5}]
    assert service["metadata"]["generation"] == -7
    assert protobuf_wire.signed(0xFFFFFFFF, 32) == -1
    assert protobuf_wire.signed(0x7FFFFFFF, 32) == 2**31 - 1


def test_packed_and_unpacked_repeated_ints():
    unpacked = m(14, v(4, 1000), v(4, 0), v(4, 3000))
    packed = m(14, s(4, _varint(1000) + _varint(0) + _varint(3000)))
    for security_context in (unpacked, packed):
        data = body("v1", "Pod", meta("p"), m(2, m(2, s(1, "c"), s(2, "busybox")),
                                              security_context))
        # zero items of a list stay: only zero fields are dropped.
        assert protobuf.decode(data)["spec"]["securityContext"] == {
            "supplementalGroups": [1000, 0, 3000]}


def test_raw_extension_holds_json_or_nested_protobuf():
    revision = body("apps/v1", "ControllerRevision", meta("r"),
                    m(2, s(1, b'{"spec":{"template":{"x":1}}}')), v(3, 0))
    assert protobuf.decode(revision) == {
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "data": {"spec": {"template": {"x": 1}}},
        "revision": 0,  # required: kept at zero
    }
    nested = body("apps/v1", "ControllerRevision", meta("r"),
                  m(2, s(1, body("v1", "Namespace", meta("inner")))), v(3, 2))
    assert protobuf.decode(nested)["data"] == {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "inner"}}


def test_map_of_string_lists_and_required_false():
    # UserInfo.extra and SubjectAccessReviewSpec.extra are map[string][]string, carried as
    # map<string, ExtraValue{1 repeated items}>.
    spec = m(2, m(2, s(1, "/healthz"), s(2, "get")), s(3, "alice"), s(4, "devs"),
             entry(5, "scopes", m(2, s(1, "a"), s(1, "b"))), s(6, ""))
    review = protobuf.decode(body("authorization.k8s.io/v1", "SubjectAccessReview", meta(""),
                                  spec, m(3, v(1, False), v(4, False))))
    assert review["spec"] == {"nonResourceAttributes": {"path": "/healthz", "verb": "get"},
                              "user": "alice", "groups": ["devs"],
                              "extra": {"scopes": ["a", "b"]}}
    assert review["status"] == {"allowed": False}  # required, so kept; denied is not


def test_eviction_keeps_an_explicit_zero_grace_period():
    # kubectl drain --grace-period=0: DeleteOptions.gracePeriodSeconds is a *int64.
    data = body("policy/v1", "Eviction", meta("p", s(3, "default")),
                m(2, v(1, 0), m(2, s(1, "uid-1")), s(5, "All")))
    assert protobuf.decode(data) == {
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "p", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"},
                          "dryRun": ["All"]},
    }


def test_api_service_from_the_aggregator():
    data = body("apiregistration.k8s.io/v1", "APIService", meta("v1.metrics.k8s.io"),
                m(2, m(1, s(1, "kube-system"), s(2, "metrics"), v(3, 443)),
                  s(2, "metrics.k8s.io"), s(3, "v1"), v(4, False), s(5, b"PEM"),
                  v(7, 100), v(8, 0)))
    assert protobuf.decode(data)["spec"] == {
        "service": {"namespace": "kube-system", "name": "metrics", "port": 443},
        "group": "metrics.k8s.io", "version": "v1", "caBundle": "UEVN",
        "groupPriorityMinimum": 100, "versionPriority": 0,
    }


def test_unknown_fields_are_reported_and_skipped():
    unknown: list[str] = []
    data = body("v1", "Namespace", meta("n", s(99, "future")),
                m(2, s(1, "kubernetes"), v(55, 1)))
    assert protobuf.decode(data, unknown) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
        "spec": {"finalizers": ["kubernetes"]},
    }
    assert unknown == ["metadata.#99", "spec.#55"]
    assert protobuf.decode(data) == protobuf.decode(data, [])


def test_wire_helpers():
    assert protobuf_wire.double(struct.unpack("<Q", struct.pack("<d", 1.5))[0]) == 1.5
    assert protobuf_wire.float32(struct.unpack("<I", struct.pack("<f", -2.0))[0]) == -2.0
    assert protobuf_wire.read_varint(_varint(300), 0) == (300, 2)
    assert [f.number for f in protobuf_wire.fields(v(1, 1) + s(2, "x") + v(3, 0))] == [1, 2, 3]


def test_json_content_type_inside_the_envelope():
    data = (b"k8s\x00" + m(1, s(1, "v1"), s(2, "Namespace")) + s(2, b'{"kind":"Namespace"}')
            + s(4, "application/json"))
    assert protobuf.decode(data) == {"kind": "Namespace"}


@pytest.mark.parametrize("data, message", [
    (b"", "prefix"),
    (b'{"kind":"Namespace"}', "prefix"),
    (b"k8s\x00\x0a", "truncated varint"),
    (b"k8s\x00\x0a\x05ab", "runs past the end"),
    (b"k8s\x00\x0b", "wire type 3"),
    (b"k8s\x00" + s(2, b""), "without apiVersion and kind"),
    (body("v1", "NoSuchKind"), "no protobuf decoding for v1 NoSuchKind"),
    (body("example.com/v1", "Widget"), "no protobuf decoding"),
    (body("v1", "Namespace", m(1, v(1, 5))), "metadata.name: field 1 has wire type 0"),
    (body("v1", "Namespace", m(1, s(1, b"\xff\xfe"))), "not UTF-8"),
    (body("v1", "Namespace", m(1, s(7, "x"))), "expected varint"),
    (body("v1", "Namespace", m(1, time(9, 10**15))), "time out of range"),
    (body("apps/v1", "ControllerRevision", m(2, s(1, b"{nope"))), "embedded JSON is invalid"),
    (body("v1", "Namespace") + s(3, "gzip"), "unsupported contentEncoding"),
    (body("v1", "Namespace") + s(4, "application/yaml"), "unsupported contentType"),
])
def test_malformed_bodies_raise_protobuf_error(data, message):
    with pytest.raises(ProtobufError, match=message):
        protobuf.decode(data)


def test_protobuf_error_is_a_value_error():
    assert issubclass(ProtobufError, ValueError)


# -- the tables --------------------------------------------------------------------------


def _served_definitions() -> set[str]:
    names = set()
    for resource in registry.all_resources():
        names.add(resource.definition)
        list_definition = schemas.by_gvk(resource.group, resource.version, resource.list_kind)
        if list_definition:
            names.add(list_definition)
        for sub in resource.subresources:
            gvk = resource.subresource_gvk(sub.name)
            if gvk and schemas.by_gvk(*gvk):
                names.add(schemas.by_gvk(*gvk))
    return names


def test_every_definition_a_served_kind_reaches_has_field_numbers():
    reached = schemas.closure(_served_definitions())
    assert len(reached) > 300
    missing = sorted(name for name in reached if protobuf.field_numbers(name) is None)
    assert missing == []


def test_every_served_kind_decodes_from_an_empty_body():
    for resource in registry.all_resources():
        data = body(resource.api_version, resource.kind)
        assert protobuf.decode(data) == {"apiVersion": resource.api_version,
                                         "kind": resource.kind}


def _embedders() -> dict[str, set[str]]:
    """Embedded (inline) message → the definitions whose JSON holds its fields."""
    owners: dict[str, set[str]] = {}
    for name in schemas.definitions():
        for inner in protobuf.embedded(name).values():
            owners.setdefault(inner, set()).add(name)
    changed = True
    while changed:  # an embedded struct may embed another (RuleWithOperations → Rule)
        changed = False
        for inner, outer in list(owners.items()):
            for deeper in protobuf.embedded(inner).values():
                extra = outer - owners.setdefault(deeper, set())
                if extra:
                    owners[deeper] |= extra
                    changed = True
    return owners


def test_every_table_name_is_a_json_field():
    owners = _embedders()
    special = {"io.k8s.apimachinery.pkg.apis.meta.v1.Time",
               "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
               "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
               "io.k8s.apimachinery.pkg.runtime.RawExtension",
               "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
               "io.k8s.apimachinery.pkg.api.resource.Quantity"}
    checked = 0
    wrong = []
    for name in schemas.definitions():
        numbers = protobuf.field_numbers(name)
        if numbers is None or name in special:
            continue
        props = schemas.definition(name).get("properties") or {}
        wrong += [(name, n) for n in numbers.values() if n not in props]
        checked += 1
    for inner, outer in owners.items():
        for field_name in (protobuf.field_numbers(inner) or {}).values():
            for definition in outer:
                if field_name not in (schemas.definition(definition).get("properties") or {}):
                    wrong.append((definition, field_name))
    assert wrong == []
    assert checked > 450


def test_keep_zero_table_names_real_fields():
    for definition, names in KEEP_ZERO.items():
        props = schemas.definition(definition).get("properties") or {}
        assert names <= set(props), (definition, names - set(props))


@pytest.mark.parametrize("definition, number, name", [
    # Facts from upstream's generated.proto, including fields added late (1.32 era).
    ("io.k8s.api.core.v1.PodSpec", 2, "containers"),
    ("io.k8s.api.core.v1.PodSpec", 37, "hostUsers"),
    ("io.k8s.api.core.v1.PodSpec", 38, "schedulingGates"),
    ("io.k8s.api.core.v1.PodSpec", 40, "resources"),
    ("io.k8s.api.core.v1.Container", 8, "resources"),
    ("io.k8s.api.core.v1.Container", 24, "restartPolicy"),
    ("io.k8s.api.core.v1.VolumeSource", 30, "image"),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", 11, "labels"),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", 17, "managedFields"),
    ("io.k8s.api.apps.v1.DeploymentSpec", 9, "progressDeadlineSeconds"),
    ("io.k8s.api.batch.v1.JobSpec", 15, "managedBy"),
    ("io.k8s.api.networking.v1.IngressClassParametersReference", 1, "apiGroup"),
    ("io.k8s.api.authentication.v1.BoundObjectReference", 4, "uid"),
])
def test_known_field_numbers(definition, number, name):
    assert protobuf.field_numbers(definition)[str(number)] == name


def test_embedded_structs_are_marked():
    assert protobuf.embedded("io.k8s.api.core.v1.Volume") == {"2": "io.k8s.api.core.v1.VolumeSource"}
    assert protobuf.embedded("io.k8s.api.core.v1.Probe") == {"1": "io.k8s.api.core.v1.ProbeHandler"}


# -- bodies kubectl 1.32 sent --------------------------------------------------------------

# name → (body, the JSON of `kubectl <same command> --dry-run=client -o json`). `token` and
# `cani` have no client-side JSON: their expectation is what encoding/json writes for them.
KUBECTL = {
    # POST /api/v1/namespaces
    "namespace": (
        b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03foo\x12\x00\x1a\x00"\x00*'
        b'\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00"\x00',
        {'kind': 'Namespace',
         'apiVersion': 'v1',
         'metadata': {'name': 'foo'},
         'spec': {},
         'status': {}}
    ),
    # POST /api/v1/namespaces/default/configmaps
    "configmap": (
        b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\'\n\x13\n\x03cm1\x12\x00\x1a\x00"\x00*'
        b'\x002\x008\x00B\x00\x12\x06\n\x01a\x12\x011\x12\x08\n\x01b\x12\x03two\x1a\x00"'
        b'\x00',
        {'kind': 'ConfigMap',
         'apiVersion': 'v1',
         'metadata': {'name': 'cm1'},
         'data': {'a': '1', 'b': 'two'}}
    ),
    # POST /api/v1/namespaces/default/secrets
    "secret": (
        b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12+\n\x12\n\x02s1\x12\x00\x1a\x00"\x00*\x002'
        b'\x008\x00B\x00\x12\x13\n\x08password\x12\x07hunter2\x1a\x00\x1a\x00"\x00',
        {'kind': 'Secret',
         'apiVersion': 'v1',
         'metadata': {'name': 's1'},
         'data': {'password': 'aHVudGVyMg=='}}
    ),
    # POST /api/v1/namespaces/default/secrets
    "secret_binary": (
        b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12!\n\x12\n\x02s2\x12\x00\x1a\x00"\x00*\x002'
        b'\x008\x00B\x00\x12\t\n\x03bin\x12\x02\x01\xff\x1a\x00\x1a\x00"\x00',
        {'kind': 'Secret',
         'apiVersion': 'v1',
         'metadata': {'name': 's2'},
         'data': {'bin': 'Af8='}}
    ),
    # POST /api/v1/namespaces/default/secrets
    "dockercfg": (
        b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x91\x01\n\x13\n\x03reg\x12\x00\x1a\x00"'
        b'\x00*\x002\x008\x00B\x00\x12Z\n\x11.dockerconfigjson\x12E{"auths":{"r.example":{"'
        b'username":"u","password":"p","auth":"dTpw"}}}\x1a\x1ekubernetes.io/dockerconfigjs'
        b'on\x1a\x00"\x00',
        {'kind': 'Secret',
         'apiVersion': 'v1',
         'metadata': {'name': 'reg'},
         'data': {'.dockerconfigjson': 'eyJhdXRocyI6eyJyLmV4YW1wbGUiOnsidXNlcm5hbWUiOiJ1IiwicGFz'
                                       'c3dvcmQiOiJwIiwiYXV0aCI6ImRUcHcifX19'},
         'type': 'kubernetes.io/dockerconfigjson'}
    ),
    # POST /api/v1/namespaces/default/serviceaccounts
    "serviceaccount": (
        b'k8s\x00\n\x14\n\x02v1\x12\x0eServiceAccount\x12\x15\n\x13\n\x03sa1\x12\x00\x1a'
        b'\x00"\x00*\x002\x008\x00B\x00\x1a\x00"\x00',
        {'kind': 'ServiceAccount', 'apiVersion': 'v1', 'metadata': {'name': 'sa1'}}
    ),
    # POST /apis/apps/v1/namespaces/default/deployments
    "deployment": (
        b'k8s\x00\n\x15\n\x07apps/v1\x12\nDeployment\x12\xab\x01\n\x1f\n\x03web\x12\x00\x1a'
        b'\x00"\x00*\x002\x008\x00B\x00Z\n\n\x03app\x12\x03web\x12z\x08\x00\x12\x0c\n\n\n'
        b'\x03app\x12\x03web\x1a`\n\x1c\n\x00\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00Z\n\n'
        b'\x03app\x12\x03web\x12@\x12"\n\x05nginx\x12\x05nginx*\x00B\x00j\x00r\x00\x80\x01'
        b'\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h'
        b'\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00"\x02\n\x00(\x008\x00\x1a\x0c'
        b'\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00"\x00',
        {'kind': 'Deployment',
         'apiVersion': 'apps/v1',
         'metadata': {'name': 'web', 'labels': {'app': 'web'}},
         'spec': {'replicas': 0,
                  'selector': {'matchLabels': {'app': 'web'}},
                  'template': {'metadata': {'labels': {'app': 'web'}},
                               'spec': {'containers': [{'name': 'nginx',
                                                        'image': 'nginx',
                                                        'resources': {}}]}},
                  'strategy': {}},
         'status': {}}
    ),
    # POST /apis/apps/v1/namespaces/default/deployments
    "deployment_port": (
        b'k8s\x00\n\x15\n\x07apps/v1\x12\nDeployment\x12\xbd\x01\n!\n\x04web2\x12\x00\x1a'
        b'\x00"\x00*\x002\x008\x00B\x00Z\x0b\n\x03app\x12\x04web2\x12\x89\x01\x08\x03\x12\r'
        b'\n\x0b\n\x03app\x12\x04web2\x1an\n\x1d\n\x00\x12\x00\x1a\x00"\x00*\x002\x008\x00B'
        b'\x00Z\x0b\n\x03app\x12\x04web2\x12M\x12/\n\x05nginx\x12\x05nginx*\x002\x0b\n\x00'
        b'\x10\x00\x18\x90?"\x00*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00'
        b'\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00'
        b'\x9a\x01\x00\xc2\x01\x00"\x02\n\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 '
        b'\x00(\x008\x00\x1a\x00"\x00',
        {'kind': 'Deployment',
         'apiVersion': 'apps/v1',
         'metadata': {'name': 'web2', 'labels': {'app': 'web2'}},
         'spec': {'replicas': 3,
                  'selector': {'matchLabels': {'app': 'web2'}},
                  'template': {'metadata': {'labels': {'app': 'web2'}},
                               'spec': {'containers': [{'name': 'nginx',
                                                        'image': 'nginx',
                                                        'ports': [{'containerPort': 8080}],
                                                        'resources': {}}]}},
                  'strategy': {}},
         'status': {}}
    ),
    # POST /api/v1/namespaces/default/services
    "service": (
        b'k8s\x00\n\r\n\x02v1\x12\x07Service\x12l\n!\n\x04svc1\x12\x00\x1a\x00"\x00*\x002'
        b'\x008\x00B\x00Z\x0b\n\x03app\x12\x04svc1\x12C\n\x1b\n\x0780-8080\x12\x03TCP\x18P"'
        b'\x07\x08\x00\x10\x90?\x1a\x00(\x00\x12\x0b\n\x03app\x12\x04svc1\x1a\x00"\tCluster'
        b'IP:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\n\x00\x1a\x00"\x00',
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'svc1', 'labels': {'app': 'svc1'}},
         'spec': {'ports': [{'name': '80-8080',
                             'protocol': 'TCP',
                             'port': 80,
                             'targetPort': 8080}],
                  'selector': {'app': 'svc1'},
                  'type': 'ClusterIP'},
         'status': {'loadBalancer': {}}}
    ),
    # POST /api/v1/namespaces/default/services
    "service_nodeport": (
        b'k8s\x00\n\r\n\x02v1\x12\x07Service\x12p\n!\n\x04svc2\x12\x00\x1a\x00"\x00*\x002'
        b'\x008\x00B\x00Z\x0b\n\x03app\x12\x04svc2\x12G\n \n\x0780-http\x12\x03TCP\x18P"\n'
        b'\x08\x01\x10\x00\x1a\x04http(\x80\xeb\x01\x12\x0b\n\x03app\x12\x04svc2\x1a\x00"'
        b'\x08NodePort:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\n\x00\x1a\x00"\x00',
        {'kind': 'Service',
         'apiVersion': 'v1',
         'metadata': {'name': 'svc2', 'labels': {'app': 'svc2'}},
         'spec': {'ports': [{'name': '80-http',
                             'protocol': 'TCP',
                             'port': 80,
                             'targetPort': 'http',
                             'nodePort': 30080}],
                  'selector': {'app': 'svc2'},
                  'type': 'NodePort'},
         'status': {'loadBalancer': {}}}
    ),
    # POST /apis/batch/v1/namespaces/default/jobs
    "job": (
        b'k8s\x00\n\x0f\n\x08batch/v1\x12\x03Job\x12\x84\x01\n\x12\n\x02j1\x12\x00\x1a\x00"'
        b'\x00*\x002\x008\x00B\x00\x12d2b\n\x10\n\x00\x12\x00\x1a\x00"\x00*\x002\x008\x00B'
        b'\x00\x12N\x12+\n\x02j1\x12\x07busybox\x1a\x04echo\x1a\x02hi*\x00B\x00j\x00r\x00'
        b'\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00'
        b'X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x08 \x00(\x00'
        b'0\x00:\x00\x1a\x00"\x00',
        {'kind': 'Job',
         'apiVersion': 'batch/v1',
         'metadata': {'name': 'j1'},
         'spec': {'template': {'metadata': {},
                               'spec': {'containers': [{'name': 'j1',
                                                        'image': 'busybox',
                                                        'command': ['echo', 'hi'],
                                                        'resources': {}}],
                                        'restartPolicy': 'Never'}}},
         'status': {}}
    ),
    # POST /apis/batch/v1/namespaces/default/cronjobs
    "cronjob": (
        b'k8s\x00\n\x13\n\x08batch/v1\x12\x07CronJob\x12\xa7\x01\n\x13\n\x03cj1\x12\x00\x1a'
        b'\x00"\x00*\x002\x008\x00B\x00\x12\x8d\x01\n\x0b*/1 * * * *\x1a\x00*|\n\x13\n\x03c'
        b'j1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12e2c\n\x10\n\x00\x12\x00\x1a\x00"'
        b'\x00*\x002\x008\x00B\x00\x12O\x12(\n\x03cj1\x12\x07busybox\x1a\x04date*\x00B\x00j'
        b'\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\tOnFailure2\x00B'
        b'\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a'
        b'\x00\x1a\x00"\x00',
        {'kind': 'CronJob',
         'apiVersion': 'batch/v1',
         'metadata': {'name': 'cj1'},
         'spec': {'schedule': '*/1 * * * *',
                  'jobTemplate': {'metadata': {'name': 'cj1'},
                                  'spec': {'template': {'metadata': {},
                                                        'spec': {'containers': [{'name': 'cj1',
                                                                                 'image': 'busybox',
                                                                                 'command': ['date'],
                                                                                 'resources': {}}],
                                                                 'restartPolicy': 'OnFailure'}}}}},
         'status': {}}
    ),
    # POST /apis/rbac.authorization.k8s.io/v1/namespaces/default/roles
    "role": (
        b'k8s\x00\n$\n\x1crbac.authorization.k8s.io/v1\x12\x04Role\x12I\n\x12\n\x02r1\x12'
        b'\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x13\n\x03get\n\x04list\x12\x00\x1a\x04p'
        b'ods\x12\x1e\n\x03get\n\x04list\x12\x04apps\x1a\x0bdeployments\x1a\x00"\x00',
        {'kind': 'Role',
         'apiVersion': 'rbac.authorization.k8s.io/v1',
         'metadata': {'name': 'r1'},
         'rules': [{'verbs': ['get', 'list'], 'apiGroups': [''], 'resources': ['pods']},
                   {'verbs': ['get', 'list'],
                    'apiGroups': ['apps'],
                    'resources': ['deployments']}]}
    ),
    # POST /apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings
    "rolebinding": (
        b'k8s\x00\n+\n\x1crbac.authorization.k8s.io/v1\x12\x0bRoleBinding\x12\x8a\x01\n\x13'
        b'\n\x03rb1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12*\n\x04User\x12\x19rbac.aut'
        b'horization.k8s.io\x1a\x05alice"\x00\x12 \n\x0eServiceAccount\x12\x00\x1a\x03sa1"'
        b'\x07default\x1a%\n\x19rbac.authorization.k8s.io\x12\x04Role\x1a\x02r1\x1a\x00"'
        b'\x00',
        {'kind': 'RoleBinding',
         'apiVersion': 'rbac.authorization.k8s.io/v1',
         'metadata': {'name': 'rb1'},
         'subjects': [{'kind': 'User',
                       'apiGroup': 'rbac.authorization.k8s.io',
                       'name': 'alice'},
                      {'kind': 'ServiceAccount', 'name': 'sa1', 'namespace': 'default'}],
         'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role', 'name': 'r1'}}
    ),
    # POST /apis/rbac.authorization.k8s.io/v1/clusterroles
    "clusterrole": (
        b'k8s\x00\n+\n\x1crbac.authorization.k8s.io/v1\x12\x0bClusterRole\x12&\n\x13\n\x03c'
        b'r1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x0f\n\x03get*\x08/healthz\x1a\x00'
        b'"\x00',
        {'kind': 'ClusterRole',
         'apiVersion': 'rbac.authorization.k8s.io/v1',
         'metadata': {'name': 'cr1'},
         'rules': [{'verbs': ['get'], 'nonResourceURLs': ['/healthz']}]}
    ),
    # POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings
    "clusterrolebinding": (
        b'k8s\x00\n2\n\x1crbac.authorization.k8s.io/v1\x12\x12ClusterRoleBinding\x12q\n\x14'
        b'\n\x04crb1\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12*\n\x05Group\x12\x19rbac.a'
        b'uthorization.k8s.io\x1a\x04devs"\x00\x1a-\n\x19rbac.authorization.k8s.io\x12\x0bC'
        b'lusterRole\x1a\x03cr1\x1a\x00"\x00',
        {'kind': 'ClusterRoleBinding',
         'apiVersion': 'rbac.authorization.k8s.io/v1',
         'metadata': {'name': 'crb1'},
         'subjects': [{'kind': 'Group',
                       'apiGroup': 'rbac.authorization.k8s.io',
                       'name': 'devs'}],
         'roleRef': {'apiGroup': 'rbac.authorization.k8s.io',
                     'kind': 'ClusterRole',
                     'name': 'cr1'}}
    ),
    # POST /api/v1/namespaces/default/resourcequotas
    "quota": (
        b'k8s\x00\n\x13\n\x02v1\x12\rResourceQuota\x12R\n\x12\n\x02q1\x12\x00\x1a\x00"\x00*'
        b'\x002\x008\x00B\x00\x12:\n\n\n\x03cpu\x12\x03\n\x011\n\x0f\n\x06memory\x12\x05\n'
        b'\x031Gi\n\x0b\n\x04pods\x12\x03\n\x012\x12\x0eNotTerminating\x1a\x00\x1a\x00"\x00',
        {'kind': 'ResourceQuota',
         'apiVersion': 'v1',
         'metadata': {'name': 'q1'},
         'spec': {'hard': {'cpu': '1', 'memory': '1Gi', 'pods': '2'},
                  'scopes': ['NotTerminating']},
         'status': {}}
    ),
    # POST /apis/policy/v1/namespaces/default/poddisruptionbudgets
    "pdb": (
        b'k8s\x00\n \n\tpolicy/v1\x12\x13PodDisruptionBudget\x128\n\x14\n\x04pdb1\x12\x00'
        b'\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x14\n\x06\x08\x00\x10\x00\x1a\x00\x12\n\n'
        b'\x08\n\x03app\x12\x01x\x1a\n\x08\x00\x18\x00 \x00(\x000\x00\x1a\x00"\x00',
        {'kind': 'PodDisruptionBudget',
         'apiVersion': 'policy/v1',
         'metadata': {'name': 'pdb1'},
         'spec': {'minAvailable': 0, 'selector': {'matchLabels': {'app': 'x'}}},
         'status': {'disruptionsAllowed': 0,
                    'currentHealthy': 0,
                    'desiredHealthy': 0,
                    'expectedPods': 0}}
    ),
    # POST /apis/policy/v1/namespaces/default/poddisruptionbudgets
    "pdb_pct": (
        b'k8s\x00\n \n\tpolicy/v1\x12\x13PodDisruptionBudget\x12;\n\x14\n\x04pdb2\x12\x00'
        b'\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x17\x12\n\n\x08\n\x03app\x12\x01x\x1a\t\x08'
        b'\x01\x10\x00\x1a\x0350%\x1a\n\x08\x00\x18\x00 \x00(\x000\x00\x1a\x00"\x00',
        {'kind': 'PodDisruptionBudget',
         'apiVersion': 'policy/v1',
         'metadata': {'name': 'pdb2'},
         'spec': {'selector': {'matchLabels': {'app': 'x'}}, 'maxUnavailable': '50%'},
         'status': {'disruptionsAllowed': 0,
                    'currentHealthy': 0,
                    'desiredHealthy': 0,
                    'expectedPods': 0}}
    ),
    # POST /apis/scheduling.k8s.io/v1/priorityclasses
    "priorityclass": (
        b'k8s\x00\n%\n\x14scheduling.k8s.io/v1\x12\rPriorityClass\x125\n\x13\n\x03pc1\x12'
        b'\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x10\x00\x18\x00"\x04zero*\x14PreemptLowerPr'
        b'iority\x1a\x00"\x00',
        {'kind': 'PriorityClass',
         'apiVersion': 'scheduling.k8s.io/v1',
         'metadata': {'name': 'pc1'},
         'value': 0,
         'description': 'zero',
         'preemptionPolicy': 'PreemptLowerPriority'}
    ),
    # POST /apis/networking.k8s.io/v1/namespaces/default/ingresses
    "ingress": (
        b'k8s\x00\n\x1f\n\x14networking.k8s.io/v1\x12\x07Ingress\x12g\n\x14\n\x04ing1\x12'
        b'\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12K\x12\x13\n\x07foo.com\x12\x08mysecret'
        b'\x1a-\n\x07foo.com\x12"\n \n\x1e\n\x04/bar\x12\x0e"\x0c\n\x04svc1\x12\x04\n\x00'
        b'\x10P\x1a\x06Prefix"\x05nginx\x1a\x02\n\x00\x1a\x00"\x00',
        {'kind': 'Ingress',
         'apiVersion': 'networking.k8s.io/v1',
         'metadata': {'name': 'ing1'},
         'spec': {'ingressClassName': 'nginx',
                  'tls': [{'hosts': ['foo.com'], 'secretName': 'mysecret'}],
                  'rules': [{'host': 'foo.com',
                             'http': {'paths': [{'path': '/bar',
                                                 'pathType': 'Prefix',
                                                 'backend': {'service': {'name': 'svc1',
                                                                         'port': {'number': 80}}}}]}}]},
         'status': {'loadBalancer': {}}}
    ),
    # POST /api/v1/namespaces/default/serviceaccounts/sa1/token
    "token": (
        b'k8s\x00\n(\n\x18authentication.k8s.io/v1\x12\x0cTokenRequest\x12\x1d\n\x10\n\x00'
        b'\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x03 \xd8\x04\x1a\x04\n\x00\x12\x00'
        b'\x1a\x00"\x00',
        {'apiVersion': 'authentication.k8s.io/v1',
         'kind': 'TokenRequest',
         'metadata': {},
         'spec': {'expirationSeconds': 600},
         'status': {'token': ''}}
    ),
    # POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
    "cani": (
        b'k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12<\n\x10'
        b'\n\x00\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x1e\n\x1c\n\x07default\x12'
        b'\x03get\x1a\x00"\x00*\x04pods2\x00:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a'
        b'\x00"\x00',
        {'apiVersion': 'authorization.k8s.io/v1',
         'kind': 'SelfSubjectAccessReview',
         'metadata': {},
         'spec': {'resourceAttributes': {'namespace': 'default',
                                         'verb': 'get',
                                         'resource': 'pods'}},
         'status': {'allowed': False}}
    ),
}


@pytest.mark.parametrize("name", sorted(KUBECTL))
def test_kubectl_bodies_decode_to_kubectls_json(name):
    data, expected = KUBECTL[name]
    unknown: list[str] = []
    assert protobuf.decode(data, unknown) == expected
    assert unknown == []
