"""The OpenAPI v2 document as gnostic's protobuf (``openapi.v2.Document``).

client-go's ``OpenAPISchema()`` asks ``/openapi/v2`` for
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` only and
decodes the answer with ``proto.Unmarshal`` into gnostic's generated types
(``github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto``, proto3).
Field numbers below are that file's. Values of free form (vendor extensions,
``default``, ``example``, ``enum``) are gnostic ``Any`` messages carrying
YAML text: JSON is written there, which YAML parsers read as flow style, and
kubectl reads ``x-kubernetes-group-version-kind`` from it to find a kind's
definition. Fields are written in field-number order and zero values left
out, as Go's proto.Marshal does.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, Iterable, Mapping

import orjson

from kybernetes.api import openapi_v2

# What clients ask for (client-go still sends the first, deprecated one); the
# answer always carries the second: Go's mime parser rejects the "@".
MEDIA_TYPES = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
               "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
CONTENT_TYPE = MEDIA_TYPES[1]

# openapi.v2.Schema fields, by JSON Schema keyword.
_SCHEMA_STRINGS = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13,
                   "discriminator": 26}
_SCHEMA_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_SCHEMA_BOOLS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16, "readOnly": 27}
_SCHEMA_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15,
                "maxProperties": 17, "minProperties": 18}
_SCHEMA_ANYS = {"default": 5, "example": 30}


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _message(number: int, body: bytes) -> bytes:
    """A length-delimited field (message, string or bytes)."""
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def _string(number: int, value: str) -> bytes:
    return _message(number, value.encode()) if value else b""


def _strings(number: int, values: Iterable[str]) -> bytes:
    return b"".join(_message(number, v.encode()) for v in values)


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _int64(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value) if value else b""


def _any(value: Any) -> bytes:
    """gnostic ``Any``: field 2 holds the value as YAML text."""
    return _message(2, orjson.dumps(value))


def _named(name: str, value: bytes) -> bytes:
    """The body of gnostic's Named* messages: name = 1, value = 2."""
    return _string(1, name) + _message(2, value)


def _extensions(number: int, obj: Mapping[str, Any]) -> bytes:
    return b"".join(_message(number, _named(k, _any(v))) for k, v in obj.items()
                    if k.startswith("x-"))


def schema(s: Mapping[str, Any]) -> bytes:
    """One ``openapi.v2.Schema``."""
    fields: dict[int, bytes] = {}
    for key, value in s.items():
        if key in _SCHEMA_STRINGS:
            fields[_SCHEMA_STRINGS[key]] = _string(_SCHEMA_STRINGS[key], value)
        elif key in _SCHEMA_DOUBLES:
            fields[_SCHEMA_DOUBLES[key]] = _double(_SCHEMA_DOUBLES[key], float(value))
        elif key in _SCHEMA_BOOLS:
            fields[_SCHEMA_BOOLS[key]] = _bool(_SCHEMA_BOOLS[key], bool(value))
        elif key in _SCHEMA_INTS:
            fields[_SCHEMA_INTS[key]] = _int64(_SCHEMA_INTS[key], int(value))
        elif key in _SCHEMA_ANYS:
            fields[_SCHEMA_ANYS[key]] = _message(_SCHEMA_ANYS[key], _any(value))
        elif key == "required":
            fields[19] = _strings(19, value)
        elif key == "enum":
            fields[20] = b"".join(_message(20, _any(v)) for v in value)
        elif key == "additionalProperties":
            # AdditionalPropertiesItem: a schema (1) or a boolean (2).
            # A oneof member is written even when false.
            item = (_message(1, schema(value)) if isinstance(value, Mapping)
                    else _varint(2 << 3) + (b"\x01" if value else b"\x00"))
            fields[21] = _message(21, item)
        elif key == "type":
            fields[22] = _message(22, _strings(1, [value] if isinstance(value, str) else value))
        elif key == "items":
            fields[23] = _message(23, _message(1, schema(value)))
        elif key == "allOf":
            fields[24] = b"".join(_message(24, schema(v)) for v in value)
        elif key == "properties":
            props = b"".join(_message(1, _named(name, schema(p))) for name, p in value.items())
            fields[25] = _message(25, props)
    fields[31] = _extensions(31, s)
    return b"".join(fields[n] for n in sorted(fields))


def _security_definitions(defs: Mapping[str, Mapping[str, str]]) -> bytes:
    out = b""
    for name, d in defs.items():
        # SecurityDefinitionsItem.api_key_security = 2: ApiKeySecurity{type, name, in, description}.
        api_key = (_string(1, d["type"]) + _string(2, d["name"]) + _string(3, d["in"]) +
                   _string(4, d.get("description", "")))
        out += _message(1, _named(name, _message(2, api_key)))
    return out


def _security(requirement: Mapping[str, list[str]]) -> bytes:
    # SecurityRequirement: NamedStringArray (name, StringArray{repeated value = 1}).
    return b"".join(_message(1, _named(name, _strings(1, scopes)))
                    for name, scopes in requirement.items())


@functools.cache
def document_bytes() -> bytes:
    """``openapi_v2.document()`` as an ``openapi.v2.Document``."""
    doc = openapi_v2.document()
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    definitions = b"".join(_message(1, _named(name, schema(s)))
                           for name, s in doc["definitions"].items())
    if doc["paths"]:
        raise ValueError("paths are not written: the document carries none")
    return b"".join([
        _string(1, doc["swagger"]),
        _message(2, info),
        _message(8, b""),
        _message(9, definitions),
        b"".join(_message(12, _security(r)) for r in doc["security"]),
        _message(13, _security_definitions(doc["securityDefinitions"])),
    ])
