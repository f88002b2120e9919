"""OpenAPI v2 (``/openapi/v2``): the definitions of kube-apiserver's Swagger 2.0 document.

kubectl 1.32 reads OpenAPI v3 first and falls back to v2 in one case: when the
group-version document of a kind has no PATCH operation for it (the review
kinds, Binding: create-only). Its ``fieldValidation`` check then finds no
PATCH for the kind in v2 either, so it validates the object client-side
against v2's ``definitions`` (the one carrying the kind in
``x-kubernetes-group-version-kind``) and posts it without the parameter.
Without a v2 document ``kubectl create -f`` of such a kind fails with
"failed to download openapi".

The document holds every definition (refs rewritten from
``#/components/schemas/`` to ``#/definitions/``, ``allOf: [$ref]`` back to a
plain ``$ref``, as v2 writes them) and no paths. The paths are left out on
purpose: when kubectl finds no PATCH for a kind in v2 but finds one taking
``fieldValidation`` for Namespace, it lists CustomResourceDefinitions to see
whether the kind is a CRD, and kybernetes serves no apiextensions group, so
that list would fail the create. Without paths kubectl reaches the verdict
kube-apiserver's document leads it to ("doesn't support fieldValidation")
without that list.

kubectl asks for gnostic's protobuf only (``openapi_v2_protobuf``); JSON is
served otherwise, as kube-apiserver does.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from kybernetes.api import openapi, schemas

V2_REF = "#/definitions/"

SECURITY_DEFINITIONS = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                        "description": "Bearer Token authentication"}}


def v2_schema(schema: schemas.Schema) -> dict[str, Any]:
    """A v3 component schema written as v2 writes it."""
    out: dict[str, Any] = {}
    ref = schemas.ref_name(schema)
    if ref is not None:
        out["$ref"] = V2_REF + ref
    for key, value in schema.items():
        if key in ("$ref", "allOf"):
            continue
        if key == "properties":
            out[key] = {name: v2_schema(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = v2_schema(value)
        else:
            out[key] = value
    return out


@functools.cache
def document() -> dict[str, Any]:
    """The ``/openapi/v2`` document; callers must not mutate it."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": openapi.KUBERNETES_VERSION},
        "paths": {},
        "definitions": {name: v2_schema(schemas.definition(name))
                        for name in sorted(schemas.definitions())},
        "securityDefinitions": SECURITY_DEFINITIONS,
        "security": [{"BearerToken": []}],
    }


@functools.cache
def json_bytes() -> bytes:
    return orjson.dumps(document(), option=orjson.OPT_SORT_KEYS)
