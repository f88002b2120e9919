"""OpenAPI v3 as kube-apiserver serves it: ``/openapi/v3`` and one document per path.

``/openapi/v3`` lists a document per group version (``api/v1``,
``apis/apps/v1``), per group (``apis/apps``) and for the roots (``api``,
``apis``), each at a ``serverRelativeURL`` carrying a content hash (uppercase
hex sha512, as upstream) so clients cache them. kubectl reads them before
create/apply (to decide whether the server validates fields), for
``kubectl explain`` and for client-side apply's merge keys.

Documents are built once from the registry and the stored schemas, and cached
as bytes: callers must not mutate what ``document`` returns.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson

from kybernetes.api import openapi_paths, registry, schemas
from kybernetes.api.openapi_paths import META, REF

Document = dict[str, Any]

KUBERNETES_VERSION = "v1.32.0"
# Definitions every group-version document carries, whether or not a path uses them.
ALWAYS = (META + "Status", META + "DeleteOptions", META + "WatchEvent", META + "APIResourceList",
          META + "Patch")


def paths() -> list[str]:
    """Every document path, as ``/openapi/v3`` lists them: api, api/v1, apis, apis/<g>, apis/<g>/<v>."""
    out = ["api", "apis"]
    for group, versions in registry.group_versions():
        if group:
            out.append(f"apis/{group}")
        out.extend(openapi_paths.group_prefix(group, v).lstrip("/") for v in versions)
    return sorted(out)


def _path_of(group: str, version: str) -> str:
    return openapi_paths.group_prefix(group, version).lstrip("/")


def _discovery_op(operation_id: str, op_tag: str, description: str, definition: str) -> Any:
    return {"get": {"description": description, "operationId": operation_id, "tags": [op_tag],
                    "responses": openapi_paths.response_map({"$ref": REF + definition}, "200")}}


def _document(doc_paths: dict[str, Any], roots: set[str]) -> Document:
    names = schemas.closure(roots | schemas.refs(doc_paths))
    components = {name: schemas.definition(name) for name in sorted(names)}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": doc_paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization",
                                                "in": "header",
                                                "description": "Bearer Token authentication"}},
        },
    }


def _group_version_document(group: str, version: str) -> Document | None:
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    prefix = openapi_paths.group_prefix(group, version)
    gv = openapi_paths.gv_id(group, version)
    doc_paths: dict[str, Any] = {
        prefix + "/": _discovery_op(f"get{gv}APIResources", openapi_paths.tag(group, version),
                                    "get available resources", META + "APIResourceList"),
    }
    for resource in resources:
        list_definition = schemas.by_gvk(group, version, resource.list_kind)
        doc_paths.update(openapi_paths.resource_paths(resource, list_definition))
    return _document(dict(sorted(doc_paths.items())), set(ALWAYS))


def _group_document(group: str) -> Document:
    word = openapi_paths.gv_id(group, "v1").removesuffix("V1")
    op_tag = word[:1].lower() + word[1:]
    return _document({f"/apis/{group}/": _discovery_op(
        f"get{word}APIGroup", op_tag, "get information of a group", META + "APIGroup")},
        {META + "APIGroup"})


@functools.cache
def document_bytes_at(path: str) -> bytes | None:
    """The serialized document at a ``/openapi/v3/<path>`` path (keys sorted, as Go writes maps)."""
    doc: Document | None
    if path == "api":
        doc = _document({"/api/": _discovery_op("getCoreAPIVersions", "core",
                                               "get available API versions",
                                               META + "APIVersions")}, {META + "APIVersions"})
    elif path == "apis":
        doc = _document({"/apis/": _discovery_op("getAPIVersions", "apis",
                                                "get available API versions",
                                                META + "APIGroupList")}, {META + "APIGroupList"})
    elif path.startswith("api/"):
        doc = _group_version_document("", path[len("api/"):])
    elif path.startswith("apis/"):
        group, _, version = path[len("apis/"):].partition("/")
        if version:
            doc = _group_version_document(group, version)
        else:
            doc = _group_document(group) if registry.preferred_version(group) else None
    else:
        doc = None
    return None if doc is None else orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def document_at(path: str) -> Document | None:
    """The document at ``path`` ("api/v1", "apis/apps/v1", "apis/apps", "api", "apis")."""
    data = document_bytes_at(path)
    return None if data is None else _parsed(path)


@functools.cache
def _parsed(path: str) -> Document:
    return orjson.loads(document_bytes_at(path) or b"{}")


def document(group: str, version: str) -> Document | None:
    """The OpenAPI v3 document of one served group version, or None."""
    return document_at(_path_of(group, version))


def document_bytes(group: str, version: str) -> bytes:
    """The serialized document of a served group version; KeyError if not served."""
    data = document_bytes_at(_path_of(group, version))
    if data is None:
        raise KeyError(f"{group}/{version} is not served")
    return data


@functools.cache
def hash_of(path: str) -> str:
    """The ``hash`` query value for a document: uppercase hex sha512 of its bytes."""
    return hashlib.sha512(document_bytes_at(path) or b"").hexdigest().upper()


def root(base_url_prefix: str = "") -> Document:
    """The ``/openapi/v3`` discovery document."""
    return {"paths": {
        path: {"serverRelativeURL": f"{base_url_prefix}/openapi/v3/{path}?hash={hash_of(path)}"}
        for path in paths()
    }}
