"""The registry of kinds matches what kube-apiserver 1.32's discovery shows users."""

from __future__ import annotations

import pytest

from kybernetes.api import registry, schemas


def test_every_resource_points_at_its_own_definition() -> None:
    for r in registry.all_resources():
        gvks = schemas.definition(r.definition).get("x-kubernetes-group-version-kind") or []
        assert {"group": r.group, "version": r.version, "kind": r.kind} in gvks, r


def test_every_stored_resource_has_a_list_definition() -> None:
    for r in registry.all_resources():
        if r.stored:
            assert schemas.by_gvk(r.group, r.version, r.list_kind), r.list_kind


@pytest.mark.parametrize("short, plural, group", [
    ("po", "pods", ""), ("svc", "services", ""), ("deploy", "deployments", "apps"),
    ("rs", "replicasets", "apps"), ("sts", "statefulsets", "apps"), ("ds", "daemonsets", "apps"),
    ("cm", "configmaps", ""), ("ns", "namespaces", ""), ("no", "nodes", ""),
    ("sa", "serviceaccounts", ""), ("ep", "endpoints", ""), ("rc", "replicationcontrollers", ""),
    ("quota", "resourcequotas", ""), ("limits", "limitranges", ""),
    ("pv", "persistentvolumes", ""), ("pvc", "persistentvolumeclaims", ""),
    ("cs", "componentstatuses", ""), ("hpa", "horizontalpodautoscalers", "autoscaling"),
    ("pdb", "poddisruptionbudgets", "policy"), ("ing", "ingresses", "networking.k8s.io"),
    ("netpol", "networkpolicies", "networking.k8s.io"), ("sc", "storageclasses", "storage.k8s.io"),
    ("pc", "priorityclasses", "scheduling.k8s.io"), ("cj", "cronjobs", "batch"),
])
def test_short_names_resolve_like_kubectl(short: str, plural: str, group: str) -> None:
    found = registry.find(short)
    assert found and found[0].plural == plural and found[0].group == group


def test_ev_means_core_events_first_and_events_k8s_io_second() -> None:
    assert [r.api_version for r in registry.find("ev")] == ["v1", "events.k8s.io/v1"]
    assert [r.api_version for r in registry.find("events.events.k8s.io")] == ["events.k8s.io/v1"]


def test_the_all_category_is_exactly_upstreams() -> None:
    in_all = {(r.group, r.plural) for r in registry.all_resources() if "all" in r.categories}
    assert in_all == {
        ("", "pods"), ("", "replicationcontrollers"), ("", "services"),
        ("apps", "daemonsets"), ("apps", "deployments"), ("apps", "replicasets"),
        ("apps", "statefulsets"), ("autoscaling", "horizontalpodautoscalers"),
        ("batch", "cronjobs"), ("batch", "jobs"),
    }
    assert registry.lookup("apiregistration.k8s.io", "v1", "apiservices").categories == (
        "api-extensions",)


def test_verbs_as_discovery_lists_them() -> None:
    assert "deletecollection" not in registry.lookup("", "v1", "namespaces").verbs
    assert registry.lookup("", "v1", "componentstatuses").verbs == ("get", "list")
    assert registry.lookup("", "v1", "bindings").verbs == ("create",)
    assert registry.lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews").verbs == (
        "create",)
    assert registry.lookup("", "v1", "pods").verbs == (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def test_subresources_name_the_kind_of_their_body() -> None:
    pods = registry.lookup("", "v1", "pods")
    assert pods.subresource_gvk("eviction") == ("policy", "v1", "Eviction")
    assert pods.subresource_gvk("status") == ("", "v1", "Pod")
    assert pods.subresource("exec").verbs == ("create", "get")
    assert pods.subresource("log").verbs == ("get",)
    assert registry.lookup("apps", "v1", "deployments").subresource_gvk("scale") == (
        "autoscaling", "v1", "Scale")
    assert registry.lookup("", "v1", "serviceaccounts").subresource_gvk("token") == (
        "authentication.k8s.io", "v1", "TokenRequest")
    assert registry.lookup("", "v1", "namespaces").subresource("finalize").verbs == ("update",)
    assert registry.lookup("apps", "v1", "daemonsets").subresource("scale") is None


@pytest.mark.parametrize("group, plural, namespace, key", [
    ("", "pods", "default", "/registry/pods/default/x"),
    ("", "services", "default", "/registry/services/specs/default/x"),
    ("", "endpoints", "default", "/registry/services/endpoints/default/x"),
    ("", "nodes", None, "/registry/minions/x"),
    ("", "replicationcontrollers", "ns1", "/registry/controllers/ns1/x"),
    ("networking.k8s.io", "ingresses", "ns1", "/registry/ingress/ns1/x"),
    ("apps", "deployments", "ns1", "/registry/deployments/ns1/x"),
    ("apiregistration.k8s.io", "apiservices", None, "/registry/apiregistration.k8s.io/apiservices/x"),
])
def test_storage_keys_follow_upstreams_etcd_layout(group: str, plural: str,
                                                   namespace: str | None, key: str) -> None:
    r = registry.lookup(group, registry.preferred_version(group) or "v1", plural)
    assert r.key(namespace, "x") == key


def test_two_versions_share_one_storage() -> None:
    core = registry.lookup("", "v1", "events")
    new = registry.lookup("events.k8s.io", "v1", "events")
    assert new.key_prefix == core.key_prefix == "/registry/events/"
    assert new.storage_gv == core.storage_gv == ("", "v1")
    assert set(registry.sharing_storage(new)) == {core, new}
    v1 = registry.lookup("autoscaling", "v1", "horizontalpodautoscalers")
    assert v1.storage_gv == ("autoscaling", "v2")
    assert v1.key_prefix == "/registry/horizontalpodautoscalers/"


def test_storage_version_hash_matches_upstream() -> None:
    # Values from kube-apiserver's own discovery documents.
    assert registry.lookup("", "v1", "pods").storage_version_hash == "xPOwRZ+Yhw8="
    assert registry.lookup("", "v1", "configmaps").storage_version_hash == "qFsyl6wFWjQ="
    assert registry.lookup("apps", "v1", "deployments").storage_version_hash == "8aSe+NMegvE="
    assert registry.lookup("events.k8s.io", "v1", "events").storage_version_hash == "r2yiGXH7wu8="


def test_review_kinds_are_never_stored() -> None:
    virtual = {r.plural for r in registry.all_resources() if r.virtual}
    assert {"tokenreviews", "selfsubjectreviews", "subjectaccessreviews", "bindings",
            "localsubjectaccessreviews", "selfsubjectrulesreviews"} <= virtual
    assert not any(r.stored for r in registry.all_resources() if r.virtual)


def test_discovery_order_and_preferred_versions() -> None:
    groups = [g for g, _ in registry.group_versions()]
    assert groups[:4] == ["", "apiregistration.k8s.io", "apps", "events.k8s.io"]
    assert dict(registry.group_versions())["autoscaling"] == ["v2", "v1"]
    assert registry.preferred_version("autoscaling") == "v2"
    assert registry.preferred_version("nope.example.com") is None
    served = {(r.group, r.version) for r in registry.all_resources()}
    assert served == {(g, v) for g, vs in registry.group_versions() for v in vs}


def test_lookups() -> None:
    pods = registry.lookup("", "v1", "pods")
    assert registry.by_kind("", "v1", "Pod") is pods
    assert registry.by_api_version("v1", "Pod") is pods
    assert registry.by_api_version("apps/v1", "Deployment").plural == "deployments"
    assert pods.api_version == "v1" and pods.list_kind == "PodList"
    assert registry.lookup("apps", "v1", "nope") is None
    assert [r.plural for r in registry.resources_in("batch", "v1")] == ["cronjobs", "jobs"]


def test_field_selectors_accept_what_upstream_accepts() -> None:
    pods = registry.lookup("", "v1", "pods")
    assert pods.field_label("spec.nodeName") == "spec.nodeName"
    assert pods.field_label("spec.host") == "spec.nodeName"
    assert pods.field_label("metadata.name") == "metadata.name"
    assert pods.field_label("spec.containers") is None
    events = registry.lookup("events.k8s.io", "v1", "events")
    assert events.field_label("regarding.name") == "involvedObject.name"
    assert events.field_label("reportingController") == "reportingComponent"
    assert registry.lookup("", "v1", "events").field_label("involvedObject.uid") == \
        "involvedObject.uid"
    assert registry.lookup("", "v1", "secrets").field_label("type") == "type"
    assert registry.lookup("", "v1", "nodes").field_label("spec.unschedulable")
    assert registry.lookup("batch", "v1", "jobs").field_label("status.successful")
    assert registry.lookup("", "v1", "configmaps").field_label("data") is None
