"""The OpenAPI v2 document: what kubectl reads there (definitions, found by
group-version-kind) in the JSON form and in gnostic's protobuf, read back here
with the wire reader and compared with the JSON."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import yaml

from kybernetes.api import openapi_v2, openapi_v2_protobuf, protobuf_wire, schemas

TOKEN_REVIEW = "io.k8s.api.authentication.v1.TokenReview"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _without_empty_strings(node: Any) -> Any:
    """What proto3 keeps of a JSON schema: empty strings are zero values, not written."""
    if isinstance(node, dict):
        return {k: _without_empty_strings(v) for k, v in node.items() if v != ""}
    return node


def _by_number(data: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for f in protobuf_wire.fields(data):
        out.setdefault(f.number, []).append(f.value)
    return out


def _named(data: bytes) -> tuple[str, bytes]:
    fields = _by_number(data)
    return fields[1][0].decode(), fields[2][0]


def _any(data: bytes) -> Any:
    """gnostic Any: YAML text in field 2, read as Go's yaml would."""
    return yaml.safe_load(_by_number(data)[2][0].decode())


def _schema(data: bytes) -> dict[str, Any]:
    """An openapi.v2.Schema read back into its JSON form."""
    strings = {v: k for k, v in openapi_v2_protobuf._SCHEMA_STRINGS.items()}
    out: dict[str, Any] = {}
    for number, values in _by_number(data).items():
        if number in strings:
            out[strings[number]] = values[0].decode()
        elif number == 19:
            out["required"] = [v.decode() for v in values]
        elif number == 21:
            item = _by_number(values[0])
            out["additionalProperties"] = _schema(item[1][0]) if 1 in item else bool(item[2][0])
        elif number == 22:
            types = [v.decode() for v in _by_number(values[0])[1]]
            out["type"] = types[0]
        elif number == 23:
            out["items"] = _schema(_by_number(values[0])[1][0])
        elif number == 25:
            out["properties"] = {name: _schema(value) for name, value in
                                 map(_named, _by_number(values[0]).get(1, []))}
        elif number == 31:
            out.update((name, _any(value)) for name, value in map(_named, values))
        elif number in (6, 7, 9):
            out[str(number)] = struct.unpack("<d", struct.pack("<Q", values[0]))[0]
        else:
            raise AssertionError(f"field {number} not expected in these schemas")
    return out


def test_every_definition_in_v2_form() -> None:
    doc = openapi_v2.document()
    assert doc["swagger"] == "2.0"
    assert doc["paths"] == {}
    assert set(doc["definitions"]) == set(schemas.definitions())
    refs = _refs(doc["definitions"])
    assert refs and all(r.startswith("#/definitions/") for r in refs)
    assert {r.removeprefix("#/definitions/") for r in refs} <= set(doc["definitions"])
    review = doc["definitions"][TOKEN_REVIEW]
    assert review["x-kubernetes-group-version-kind"] == [
        {"group": "authentication.k8s.io", "kind": "TokenReview", "version": "v1"}]
    # v3's allOf wrapper around a reference is a plain $ref again, its description beside it.
    assert review["properties"]["spec"] == {
        "$ref": "#/definitions/io.k8s.api.authentication.v1.TokenReviewSpec",
        "description": "Spec holds information about the request being evaluated"}
    assert orjson.loads(openapi_v2.json_bytes()) == doc


def test_protobuf_carries_the_json_document() -> None:
    top = _by_number(openapi_v2_protobuf.document_bytes())
    assert top[1] == [b"2.0"]
    info = _by_number(top[2][0])
    assert info[1] == [b"Kubernetes"] and info[2] == [b"v1.32.0"]
    assert top[8] == [b""]  # paths: present, empty
    definitions = dict(map(_named, _by_number(top[9][0])[1]))
    expected = openapi_v2.document()["definitions"]
    assert list(definitions) == list(expected)
    assert {name: _schema(data) for name, data in definitions.items()} == \
        {name: _without_empty_strings(s) for name, s in expected.items()}
    security = _by_number(top[13][0])[1]
    name, item = _named(security[0])
    api_key = _by_number(_by_number(item)[2][0])
    assert name == "BearerToken" and api_key[1] == [b"apiKey"] and api_key[3] == [b"header"]
    requirement = _named(_by_number(top[12][0])[1][0])
    assert requirement == ("BearerToken", b"")


def test_protobuf_writes_zeros_as_proto3_does() -> None:
    assert openapi_v2_protobuf.schema({"type": "object", "description": ""}) == \
        b"\xb2\x01\x08\x0a\x06object"
    # A oneof member is written even when false.
    assert _schema(openapi_v2_protobuf.schema({"additionalProperties": False})) == \
        {"additionalProperties": False}
    assert _schema(openapi_v2_protobuf.schema({"maximum": 2.5, "minLength": 0})) == {"7": 2.5}
