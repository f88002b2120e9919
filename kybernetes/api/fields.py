"""Schema-driven decoding checks: what kube-apiserver's JSON decoder reports.

kube-apiserver decodes a request body into the versioned Go struct of its kind
with sigs.k8s.io/json. Two things a user sees come out of that decoder:

* unknown fields, dropped from the object, and reported per ``fieldValidation``
  (``Strict``: 400 ``strict decoding error: unknown field "spec.foo"``;
  ``Warn``: one ``Warning`` header per field; ``Ignore``: silently dropped);
* type errors, which fail the request with Go's ``encoding/json`` message
  (``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
  of type int32``) or, for types with their own decoder (Quantity, IntOrString,
  Time), that decoder's message.

This module reproduces both from the OpenAPI schemas, so the API server can
answer exactly as upstream does. A type error wins over unknown fields, as in Go.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from kybernetes.api import quantities, schemas

MODES = ("Strict", "Warn", "Ignore")
MAX_STRICT_ERRORS = 100  # sigs.k8s.io/json stops collecting strict errors here
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME_LAYOUTS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "2006-01-02T15:04:05Z07:00",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "2006-01-02T15:04:05.000000Z07:00",
}
_TIME_ELEMENTS = {"2006": re.compile(r"\d{4}"), ".000000": re.compile(r"\.\d{6}"),
                  "Z07:00": re.compile(r"Z|[+-]\d{2}:\d{2}"),
                  **{e: re.compile(r"\d{2}") for e in ("01", "02", "15", "04", "05")}}
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
               "int": (-(2**63), 2**63 - 1)}


class Decoded(NamedTuple):
    """The result of decoding ``obj`` as kube-apiserver would.

    ``object``: the body with unknown fields removed; ``unknown``: the
    ``unknown field "<path>"`` texts (empty in Ignore mode); ``error``: the
    decode error kube-apiserver fails the request with, or None.
    """

    object: Any
    unknown: list[str]
    error: str | None


@dataclass
class _Walk:
    report_unknown: bool
    unknown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fatal: str | None = None  # an error from a custom UnmarshalJSON: decoding stops there

    def unknown_field(self, path: str) -> None:
        text = f'unknown field "{path}"'
        if self.report_unknown and len(self.unknown) < MAX_STRICT_ERRORS and text not in self.unknown:
            self.unknown.append(text)


def decode(definition: str, obj: Any, mode: str = "Strict") -> Decoded:
    """Decode ``obj`` (parsed JSON) against the definition, as kube-apiserver does."""
    if mode not in MODES:
        raise ValueError(f"fieldValidation must be one of {MODES}, not {mode!r}")
    walk = _Walk(report_unknown=mode != "Ignore")
    ref = {"$ref": schemas.REF_PREFIX + definition}
    pruned = _value(walk, ref, obj, "", [], "")
    error = walk.fatal or (walk.errors[0] if walk.errors else None)
    return Decoded(pruned, walk.unknown, error)


def check(definition: str, obj: Any, mode: str = "Strict") -> tuple[Any, list[str]]:
    """``obj`` with unknown fields removed, and the ``unknown field "<path>"`` texts.

    Paths are as kube-apiserver reports them (``spec.containers[0].imagee``);
    map keys, labels, annotations and opaque values (RawExtension) are never
    reported. In ``Ignore`` mode the list is empty.
    """
    decoded = decode(definition, obj, mode)
    return decoded.object, decoded.unknown


def type_errors(definition: str, obj: Any) -> list[str]:
    """Every JSON type error in ``obj``, in document order, Go's messages.

    kube-apiserver reports only one: ``decode(...).error`` is that one.
    """
    walk = _Walk(report_unknown=False)
    _value(walk, {"$ref": schemas.REF_PREFIX + definition}, obj, "", [], "")
    return walk.errors + ([walk.fatal] if walk.fatal else [])


def strict_error_message(problems: list[str]) -> str:
    """The 400 text for unknown fields in Strict mode."""
    return "strict decoding error: " + ", ".join(problems)


def warnings(problems: list[str]) -> list[str]:
    """The ``Warning`` header texts for Warn mode: one per unknown field."""
    return list(problems)


def cannot_handle_message(kind: str, version: str, detail: str) -> str:
    """kube-apiserver's BadRequest text for a body that does not decode."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'


# --- the walk ---

def _resolve(schema: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    name = ""
    for _ in range(32):
        ref = schemas.ref_name(schema)
        if ref is None:
            break
        name, schema = ref, schemas.definition(ref)
    return name, schema


def _go_type(schema: Mapping[str, Any]) -> str:
    """The Go type String() of the field a schema describes, as error messages print it."""
    name = schemas.ref_name(schema)
    if name:
        package, _, type_name = name.rpartition(".")
        return f"{package.rpartition('.')[2]}.{type_name}"
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "array":
        return "[]" + _go_type(schema.get("items") or {})
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, Mapping):
        return "map[string]" + _go_type(extra)
    if kind == "string":
        return "[]uint8" if fmt == "byte" else "string"
    if kind == "integer":
        return fmt if fmt in ("int32", "int64") else "int"
    return {"number": "float64", "boolean": "bool"}.get(kind or "", "interface {}")


def _json_kind(value: Any, with_number: bool = False) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value!r}" if with_number else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_error(value: str, go_type: str, struct: str, fields: list[str]) -> str:
    if struct or fields:
        return (f"json: cannot unmarshal {value} into Go struct field "
                f"{struct}.{'.'.join(fields)} of type {go_type}")
    return f"json: cannot unmarshal {value} into Go value of type {go_type}"


def _value(walk: _Walk, schema: Mapping[str, Any], value: Any, path: str,
           fields: list[str], struct: str) -> Any:
    if walk.fatal:
        return value
    name, resolved = _resolve(schema)
    if value is None:
        return None  # null leaves any Go field at its zero value, never an error
    if name in (QUANTITY, INT_OR_STRING) or name in TIME_LAYOUTS:
        walk.fatal = _special(name, value, struct, fields)
        return value
    kind = resolved.get("type")
    props = resolved.get("properties")
    extra = resolved.get("additionalProperties")
    if resolved.get("x-kubernetes-preserve-unknown-fields") or kind is None or (
            kind == "object" and props is None and not isinstance(extra, Mapping)):
        return copy.deepcopy(value)  # RawExtension, FieldsV1...: kept as sent
    if kind == "object" and props is not None:
        if not isinstance(value, dict):
            walk.errors.append(_type_error(_json_kind(value), _go_type(schema), struct, fields))
            return value
        own = name.rpartition(".")[2]
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                out[key] = _value(walk, props[key], item, sub, fields + [key], own)
            else:
                walk.unknown_field(sub)
        return out
    if kind == "object":
        if not isinstance(value, dict):
            walk.errors.append(_type_error(_json_kind(value), _go_type(schema), struct, fields))
            return value
        return {k: _value(walk, extra, v, f"{path}.{k}" if path else k, fields, struct)
                for k, v in value.items()}
    if kind == "array":
        if not isinstance(value, list):
            walk.errors.append(_type_error(_json_kind(value), _go_type(schema), struct, fields))
            return value
        items = resolved.get("items") or {}
        return [_value(walk, items, v, f"{path}[{i}]", fields, struct) for i, v in enumerate(value)]
    problem = _scalar(kind, resolved.get("format"), value)
    if problem is not None:
        walk.errors.append(problem if problem.startswith("illegal base64") else
                           _type_error(problem, _go_type(schema), struct, fields))
    return value


def _scalar(kind: str, fmt: str | None, value: Any) -> str | None:
    """What is wrong with a scalar value: the JSON value's description, or a base64 error."""
    if kind == "string":
        if not isinstance(value, str):
            return _json_kind(value)
        return _base64_error(value) if fmt == "byte" else None
    if kind == "boolean":
        return None if isinstance(value, bool) else _json_kind(value)
    if kind == "number":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else _json_kind(value)
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = _INT_RANGES.get(fmt or "int", _INT_RANGES["int"])
            return None if low <= value <= high else f"number {value}"
        return _json_kind(value, with_number=True)
    return None


def _special(name: str, value: Any, struct: str, fields: list[str]) -> str | None:
    """Errors of the types that decode themselves (their UnmarshalJSON stops the decode)."""
    if name == QUANTITY:
        if not isinstance(value, (str, int, float)):
            return quantities.ERR_FORMAT_WRONG  # ParseQuantity of the raw JSON text fails
        try:
            quantities.parse(value)
        except ValueError as e:
            return str(e)
        return None
    if name == INT_OR_STRING:
        if isinstance(value, str):
            return None
        problem = _scalar("integer", "int32", value)
        # encoding/json's error inside UnmarshalJSON gets the field's context on the way out.
        return None if problem is None else _type_error(problem, "int32", struct, fields)
    if not isinstance(value, str):
        return _type_error(_json_kind(value), "string", struct, fields)
    return time_error(value, TIME_LAYOUTS[name])


def time_error(text: str, layout: str) -> str | None:
    """Go's time.Parse error for ``text`` in an RFC 3339 layout, or None if it parses."""
    micro = ".000000" in layout
    elements = ["2006", "-", "01", "-", "02", "T", "15", ":", "04", ":", "05",
                *([".000000"] if micro else []), "Z07:00"]
    rest, numbers = text, []
    for element in elements:
        match = _TIME_ELEMENTS.get(element, re.compile(re.escape(element))).match(rest)
        if match is None:
            return f'parsing time "{text}" as "{layout}": cannot parse "{rest}" as "{element}"'
        if element[0].isdigit():
            numbers.append(int(match.group()))
        rest = rest[match.end():]
        if element == "05" and not micro:
            rest = re.sub(r"^[.,]\d+", "", rest)  # Go accepts fractional seconds the layout lacks
    if rest:
        return f'parsing time "{text}": extra text: "{rest}"'
    _, month, day, hour, minute, second = numbers
    for what, ok in (("month", 1 <= month <= 12), ("day", 1 <= day <= 31), ("hour", hour < 24),
                     ("minute", minute < 60), ("second", second < 60)):
        if not ok:
            return f'parsing time "{text}": {what} out of range'
    return None


def _base64_error(text: str) -> str | None:
    """Go's base64.StdEncoding error for a []byte field's string, or None."""
    stripped = text.replace("\r", "").replace("\n", "")
    try:
        base64.b64decode(stripped, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    offset = next((i for i, ch in enumerate(text) if ch not in alphabet and ch not in "\r\n="), None)
    if offset is None:
        first_pad = text.find("=")
        quantum_start = len(stripped) - len(stripped) % 4
        offset = first_pad if 0 <= first_pad < quantum_start else quantum_start
    return f"illegal base64 data at input byte {offset}"
