"""Request bodies in and response bodies out: JSON and YAML, safely.

Bodies over 3 MiB are refused (413) before they are parsed, as
kube-apiserver refuses them. YAML is composed first and its alias graph
measured before any value is built, so an alias bomb ("billion laughs")
costs a few milliseconds and a bounded amount of memory, then a 400. The
response format follows the Accept header: JSON, YAML, or a Table or
PartialObjectMetadata rendering (``as=Table;g=meta.k8s.io;v=v1``); a client
that prefers protobuf gets JSON, which kubectl accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import yaml

from kybernetes.api import protobuf, status

MAX_BODY = 3 * 1024 * 1024
MAX_YAML_NODES = 1_000_000
# Nesting deeper than any Kubernetes object needs is refused before the
# recursive patch, apply and validation code sees it (kube-apiserver's JSON
# decoder has a depth limit too).
MAX_DEPTH = 200

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents whose alias expansion is too large."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], budget: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, budget)
            if size > budget:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, budget) + _expanded_size(v, memo, budget)
            if size > budget:
                break
    memo[key] = size
    if size > budget:
        raise status.bad_request("yaml: document contains excessive aliasing")
    return size


def check_depth(value, limit: int = MAX_DEPTH, what: str = "json") -> None:
    """400 for a document nested deeper than ``limit`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise status.bad_request(f"{what}: exceeded max depth of {limit}")
        stack.extend((child, depth + 1) for child in children)


def load_yaml(data: bytes | str):
    loader = _BoundedLoader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, MAX_YAML_NODES)
        value = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise status.bad_request(f"error converting YAML to JSON: {_yaml_message(e)}") from e
    except RecursionError:  # PyYAML composes recursively: nesting this deep is refused
        raise status.bad_request(
            f"error converting YAML to JSON: yaml: exceeded max depth of {MAX_DEPTH}") from None
    finally:
        loader.dispose()
    check_depth(value, what="error converting YAML to JSON: yaml")
    return value


def _yaml_message(e: yaml.YAMLError) -> str:
    text = str(e).replace("\n", " ")
    return f"yaml: {text}"


def load_json(data: bytes):
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise status.bad_request(f"error decoding JSON: {e}") from e
    check_depth(value)
    return value


def decode_body(data: bytes, content_type: str | None, *, allow_yaml: bool = True):
    """A request body as plain JSON values, by its Content-Type."""
    if len(data) > MAX_BODY:
        raise status.request_entity_too_large(MAX_BODY)
    kind = media_type(content_type)
    if kind in ("", JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
        stripped = data.lstrip()
        if kind == "" and stripped[:1] not in (b"{", b"["):
            return load_yaml(data)
        return load_json(data)
    if kind in (YAML, APPLY_PATCH, "text/yaml", "application/x-yaml") and allow_yaml:
        return load_yaml(data)
    if kind == PROTOBUF:
        # kubectl's typed clients (create namespace|configmap|...) send protobuf.
        try:
            return protobuf.decode(data)
        except protobuf.ProtobufError as e:
            raise status.bad_request(f"error decoding protobuf body: {e}") from e
    raise status.unsupported_media_type()


@dataclass(frozen=True, slots=True)
class Rendering:
    """How to write a response: ``format`` json|yaml, ``as_`` ""|Table|PartialObjectMetadata(List)."""

    format: str = "json"
    as_: str = ""
    version: str = "v1"


def _params(part: str) -> tuple[str, dict[str, str]]:
    pieces = [p.strip() for p in part.split(";")]
    params = {}
    for p in pieces[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip()
    return pieces[0].lower(), params


def negotiate(accept: str | None, *, allow_table: bool = True) -> Rendering:
    """Pick the first acceptable rendering from an Accept header."""
    if not accept:
        return Rendering()
    unsupported = []
    for part in accept.split(","):
        if not part.strip():
            continue
        kind, params = _params(part)
        if "as" in params:
            if params.get("g") != "meta.k8s.io" or params["as"] not in (
                    "Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                unsupported.append(part)
                continue
            if params["as"] == "Table" and not allow_table:
                unsupported.append(part)
                continue
            if kind in (JSON, "*/*", "application/*"):
                return Rendering("json", params["as"], params.get("v", "v1"))
            if kind == YAML:
                return Rendering("yaml", params["as"], params.get("v", "v1"))
            unsupported.append(part)
            continue
        if kind in (JSON, "*/*", "application/*", "application/json;stream=watch"):
            return Rendering("json")
        if kind in (YAML, "text/yaml"):
            return Rendering("yaml")
        unsupported.append(part)
    raise status.not_acceptable(
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf")


def dumps(obj, rendering: Rendering) -> tuple[bytes, str]:
    if rendering.format == "yaml":
        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True).encode(), YAML
    return orjson.dumps(obj), JSON
