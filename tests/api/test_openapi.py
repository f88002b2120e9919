"""The OpenAPI v3 documents give kubectl what it looks for (validation, explain, apply)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

import pytest

from kybernetes.api import openapi, registry

REF = "#/components/schemas/"


def _kubectl_finds_field_validation(doc: dict[str, Any], group: str, version: str,
                                    kind: str) -> bool:
    """kubectl's supportsQueryParamV3: the first PATCH operation of the kind it meets
    decides, in Go's random map order, so every one of them must take the parameter."""
    gvk = {"group": group, "version": version, "kind": kind}
    patches = [path["patch"] for path in doc["paths"].values()
               if path.get("patch", {}).get("x-kubernetes-group-version-kind") == gvk]
    return bool(patches) and all(
        any(p["name"] == "fieldValidation" and p["in"] == "query" for p in op.get("parameters", []))
        for op in patches)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_root_lists_every_document_with_its_hash() -> None:
    root = openapi.root()
    assert {"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/autoscaling/v1",
            "apis/autoscaling/v2"} <= set(root["paths"])
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    digest = hashlib.sha512(openapi.document_bytes("", "v1")).hexdigest().upper()
    assert url == f"/openapi/v3/api/v1?hash={digest}"
    assert openapi.root("/prefix")["paths"]["apis/apps/v1"]["serverRelativeURL"].startswith(
        "/prefix/openapi/v3/apis/apps/v1?hash=")


def test_kubectl_finds_field_validation_on_the_pod_patch() -> None:
    doc = openapi.document("", "v1")
    assert _kubectl_finds_field_validation(doc, "", "v1", "Pod")


def test_kubectl_can_validate_every_patchable_kind() -> None:
    for r in registry.all_resources():
        if "patch" in r.verbs:
            doc = openapi.document(r.group, r.version)
            assert _kubectl_finds_field_validation(doc, r.group, r.version, r.kind), r.plural


@pytest.mark.parametrize("path", openapi.paths())
def test_documents_are_self_contained_json_under_10_mb(path: str) -> None:
    data = openapi.document_bytes_at(path)
    assert data is not None and len(data) < 10 * 1024 * 1024
    doc = json.loads(data)
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes"
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith(REF) and ref[len(REF):] in schemas, (path, ref)


def test_every_document_carries_the_meta_types() -> None:
    for group, versions in registry.group_versions():
        for version in versions:
            schemas = openapi.document(group, version)["components"]["schemas"]
            for name in ("Status", "DeleteOptions", "WatchEvent", "APIResourceList"):
                assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{name}" in schemas


def _follow(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
        if not ref:
            return schema
        schema = doc["components"]["schemas"][ref[len(REF):]]


def test_explain_pods_spec_containers_can_walk_the_schema() -> None:
    doc = openapi.document("", "v1")
    pod = next(s for s in doc["components"]["schemas"].values()
               if {"group": "", "version": "v1", "kind": "Pod"} in
               s.get("x-kubernetes-group-version-kind", []))
    spec = _follow(doc, pod["properties"]["spec"])
    containers = spec["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    container = _follow(doc, containers["items"])
    assert container["properties"]["image"]["type"] == "string"
    assert "Container image name" in container["properties"]["image"]["description"]
    assert "name" in container["required"]


def test_operations_are_named_as_upstream() -> None:
    doc = openapi.document("", "v1")
    ops = {op["operationId"]: (path, method, op) for path, item in doc["paths"].items()
           for method, op in item.items() if method != "parameters"}
    assert ops["listCoreV1NamespacedPod"][:2] == ("/api/v1/namespaces/{namespace}/pods", "get")
    assert ops["createCoreV1NamespacedPod"][1] == "post"
    assert ops["deleteCoreV1CollectionNamespacedPod"][2]["x-kubernetes-action"] == \
        "deletecollection"
    assert ops["listCoreV1PodForAllNamespaces"][0] == "/api/v1/pods"
    assert ops["readCoreV1NamespacedPodLog"][0] == "/api/v1/namespaces/{namespace}/pods/{name}/log"
    assert ops["createCoreV1NamespacedPodEviction"][2]["x-kubernetes-group-version-kind"] == {
        "group": "policy", "version": "v1", "kind": "Eviction"}
    assert ops["connectCoreV1GetNamespacedPodExec"][2]["x-kubernetes-action"] == "connect"
    assert "connectCoreV1GetNamespacedPodProxyWithPath" in ops
    assert ops["replaceCoreV1NamespaceFinalize"][0] == "/api/v1/namespaces/{name}/finalize"
    assert ops["readCoreV1Node"][0] == "/api/v1/nodes/{name}"
    assert ops["watchCoreV1NamespacedPodList"][2]["x-kubernetes-action"] == "watchlist"
    assert ops["getCoreV1APIResources"][0] == "/api/v1/"
    apps = openapi.document("apps", "v1")["paths"]
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["operationId"] == "patchAppsV1NamespacedDeploymentScale"
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "version": "v1", "kind": "Scale"}
    rbac = openapi.document("rbac.authorization.k8s.io", "v1")["paths"]
    assert rbac["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"] == \
        "listRbacAuthorizationV1ClusterRole"


def test_patch_accepts_every_patch_type_and_list_takes_list_parameters() -> None:
    item = openapi.document("apps", "v1")["paths"][
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert set(item["patch"]["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json",
        "application/merge-patch+json", "application/strategic-merge-patch+json"}
    assert {p["name"] for p in item["patch"]["parameters"]} == {
        "dryRun", "fieldManager", "fieldValidation", "force"}
    assert "application/vnd.kubernetes.protobuf" in item["get"]["responses"]["200"]["content"]
    listing = openapi.document("apps", "v1")["paths"][
        "/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
            "resourceVersionMatch", "watch", "timeoutSeconds", "allowWatchBookmarks",
            "sendInitialEvents"} <= {p["name"] for p in listing["parameters"]}


def test_create_only_kinds_have_only_a_post() -> None:
    paths = openapi.document("authorization.k8s.io", "v1")["paths"]
    local = paths["/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"]
    assert set(local) == {"post", "parameters"}
    assert "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/{name}" not in paths


def test_group_and_root_documents() -> None:
    group = openapi.document_at("apis/apps")
    assert group["paths"]["/apis/apps/"]["get"]["operationId"] == "getAppsAPIGroup"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup" in group["components"]["schemas"]
    assert openapi.document_at("api")["paths"]["/api/"]["get"]["operationId"] == \
        "getCoreAPIVersions"
    assert openapi.document_at("apis")["paths"]["/apis/"]["get"]["operationId"] == "getAPIVersions"


def test_unknown_documents() -> None:
    assert openapi.document("example.com", "v1") is None
    assert openapi.document_at("apis/example.com") is None
    assert openapi.document_at("logs") is None
    with pytest.raises(KeyError):
        openapi.document_bytes("apps", "v9")


def test_documents_are_deterministic() -> None:
    first = openapi.hash_of("apis/apps/v1")
    openapi.document_bytes_at.cache_clear()
    openapi.hash_of.cache_clear()
    assert openapi.hash_of("apis/apps/v1") == first
