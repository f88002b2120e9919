"""The OpenAPI schemas of every Kubernetes 1.32 type, as kube-apiserver serves them.

Loaded once from ``data/definitions.json.gz`` (made by ``tools/gen_schemas.py``
from upstream's published definitions). Used for the OpenAPI documents,
strict field validation and pruning, and the strategic-merge metadata
(``x-kubernetes-patch-merge-key`` and friends) of patches.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
from typing import Any, Iterable, Mapping

import orjson

REF_PREFIX = "#/components/schemas/"

Schema = Mapping[str, Any]


@functools.cache
def definitions() -> Mapping[str, Schema]:
    """Every definition by its full name (``io.k8s.api.core.v1.Pod``)."""
    data = importlib.resources.files("kybernetes.api").joinpath("data/definitions.json.gz")
    return orjson.loads(gzip.decompress(data.read_bytes()))


def definition(name: str) -> Schema:
    return definitions()[name]


def ref_name(schema: Schema) -> str | None:
    """The definition a schema refers to, through ``$ref`` or a one-item ``allOf``."""
    ref = schema.get("$ref")
    if ref is None:
        all_of = schema.get("allOf")
        if all_of and len(all_of) == 1:
            ref = all_of[0].get("$ref")
    if ref is None:
        return None
    return ref[len(REF_PREFIX):]


def resolve(schema: Schema) -> Schema:
    """Follow references until a schema with its own type or properties."""
    seen = 0
    while (name := ref_name(schema)) is not None and seen < 32:
        schema = definitions()[name]
        seen += 1
    return schema


def field(schema: Schema, name: str) -> Schema | None:
    """The (unresolved) schema of property ``name`` of an object schema."""
    props = resolve(schema).get("properties")
    return None if props is None else props.get(name)


def items(schema: Schema) -> Schema | None:
    """The schema of the items of an array, or of the values of a map."""
    schema = resolve(schema)
    if schema.get("type") == "array":
        return schema.get("items")
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


@functools.cache
def _gvk_index() -> Mapping[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            index.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return index


def by_gvk(group: str, version: str, kind: str) -> str | None:
    """The definition whose ``x-kubernetes-group-version-kind`` names this kind."""
    return _gvk_index().get((group, version, kind))


def refs(schema: object) -> set[str]:
    """Every definition name a schema refers to directly (not transitively)."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.add(ref[len(REF_PREFIX):])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def closure(names: Iterable[str]) -> set[str]:
    """The given definitions and every definition they reach through references."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions():
            continue
        seen.add(name)
        todo.extend(refs(definitions()[name]) - seen)
    return seen
