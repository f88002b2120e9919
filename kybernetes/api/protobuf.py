"""Kubernetes protobuf request bodies, decoded into the JSON dicts a JSON body gives.

kubectl's generator commands (``kubectl create namespace|deployment|secret...``,
``kubectl auth can-i``, ``kubectl create token``) send typed objects as
``application/vnd.kubernetes.protobuf``. The body is the 4-byte magic
``k8s\\x00`` and a ``runtime.Unknown`` wrapping the object's own message
(apimachinery's protobuf serializer). Responses stay JSON; kubectl reads them.

Decoding is driven by two pieces of knowledge: the field numbers of every
message (``data/protofields.json.gz``, from upstream's generated.proto, see
``tools/gen_protofields.py``) and our OpenAPI definitions (``schemas``), which
give each field's JSON type. Kubernetes' own encodings of Time, MicroTime,
Quantity, IntOrString, FieldsV1 and RawExtension are turned into their JSON
forms; ``bytes`` become base64 strings as encoding/json writes them.

gogo-protobuf writes non-pointer scalars even when zero, encoding/json drops
them (``omitempty``): zero scalars are dropped unless the field is a Go
pointer (``protobuf_zeros``) or required. Non-pointer structs are written even
when empty, as encoding/json writes them (``status: {}``), and kept.
"""

from __future__ import annotations

import base64
import datetime
import functools
import gzip
import importlib.resources
from typing import Any, Callable, Mapping

import orjson

from kybernetes.api import protobuf_wire as wire
from kybernetes.api import schemas
from kybernetes.api.protobuf_wire import ProtobufError
from kybernetes.api.protobuf_zeros import KEEP_ZERO

__all__ = ["CONTENT_TYPE", "MAGIC", "ProtobufError", "decode"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
TIME = _META + "Time"
MICRO_TIME = _META + "MicroTime"
FIELDS_V1 = _META + "FieldsV1"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

# RawExtensions may nest whole encoded objects; real objects stay far below this.
MAX_DEPTH = 100


@functools.cache
def _tables() -> Mapping[str, Mapping[str, Mapping[str, str]]]:
    data = importlib.resources.files("kybernetes.api").joinpath("data/protofields.json.gz")
    return orjson.loads(gzip.decompress(data.read_bytes()))


def field_numbers(message: str) -> Mapping[str, str] | None:
    """Field number (as a string) → JSON name of one message, or None if unknown."""
    return _tables()["fields"].get(message)


def embedded(message: str) -> Mapping[str, str]:
    """Field number → message of the Go embedded structs (inlined in JSON) of one message."""
    return _tables()["inline"].get(message, {})


def decode(data: bytes, unknown: list[str] | None = None) -> dict[str, Any]:
    """The JSON dict of one Kubernetes protobuf body (``k8s\\x00`` + runtime.Unknown).

    Fields the tables or schemas do not know are skipped; when ``unknown`` is
    given, their paths (``spec.foo``, ``spec.#42`` for an unknown number) are
    appended to it, for ``fieldValidation``. Raises ``ProtobufError``.
    """
    return _Decoder(unknown).envelope(data, "", 0)


class _Decoder:
    def __init__(self, unknown: list[str] | None) -> None:
        self.unknown = unknown

    def envelope(self, data: bytes, path: str, depth: int) -> dict[str, Any]:
        if not data.startswith(MAGIC):
            raise ProtobufError("body does not start with the Kubernetes protobuf prefix k8s\\x00")
        api_version = kind = content_encoding = content_type = ""
        raw = b""
        for f in wire.fields(data[len(MAGIC):]):
            if f.number == 1:
                for g in wire.fields(_length_delimited(f, "typeMeta")):
                    if g.number == 1:
                        api_version = _text(_length_delimited(g, "apiVersion"), "apiVersion")
                    elif g.number == 2:
                        kind = _text(_length_delimited(g, "kind"), "kind")
            elif f.number == 2:
                raw = _length_delimited(f, "raw")
            elif f.number == 3:
                content_encoding = _text(_length_delimited(f, "contentEncoding"), "contentEncoding")
            elif f.number == 4:
                content_type = _text(_length_delimited(f, "contentType"), "contentType")
        if content_encoding:
            raise ProtobufError(f"unsupported contentEncoding {content_encoding!r}")
        if content_type == "application/json":
            return _json(raw, "raw")
        if content_type not in ("", CONTENT_TYPE):
            raise ProtobufError(f"unsupported contentType {content_type!r}")
        if not kind or not api_version:
            raise ProtobufError("protobuf body without apiVersion and kind")
        group, _, version = api_version.rpartition("/")
        definition = schemas.by_gvk(group, version, kind)
        if definition is None or field_numbers(definition) is None:
            raise ProtobufError(f"no protobuf decoding for {api_version} {kind}")
        obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
        obj.update(self.message(raw, definition, definition, path, depth + 1))
        return obj

    def message(self, data: bytes, table: str, definition: str, path: str,
                depth: int) -> dict[str, Any]:
        """One message; ``table`` names its field numbers, ``definition`` its JSON
        schema (they differ for embedded structs, whose fields are the embedder's)."""
        if depth > MAX_DEPTH:
            raise ProtobufError(f"{path}: nested too deeply")
        numbers = field_numbers(table)
        if numbers is None:
            raise ProtobufError(f"{path or 'body'}: no field numbers for {table}")
        schema = schemas.definitions()[definition]
        props = schema.get("properties") or {}
        inline = embedded(table)
        out: dict[str, Any] = {}
        for f in wire.fields(data):
            key = str(f.number)
            if key in inline:
                out.update(self.message(_length_delimited(f, path), inline[key], definition,
                                        path, depth + 1))
                continue
            name = numbers.get(key)
            prop = props.get(name) if name is not None else None
            if prop is None:
                self._unknown(_join(path, name if name is not None else f"#{key}"))
                continue
            self.field(out, name, prop, f, _join(path, name), depth)
        keep = KEEP_ZERO.get(definition, frozenset())
        required = schema.get("required") or ()
        for name in [n for n, v in out.items() if _is_zero(v)]:
            # null (a zero Time) is absent to every JSON reader, required or not.
            if out[name] is None or (name not in keep and name not in required):
                del out[name]
        return out

    def field(self, out: dict[str, Any], name: str, prop: schemas.Schema, f: wire.Field,
              path: str, depth: int) -> None:
        """One wire field into ``out``: a value, an item of a list, an entry of a map."""
        resolved = schemas.resolve(prop)
        kind = resolved.get("type")
        if schemas.ref_name(prop) in _SPECIAL or kind not in ("array", "object"):
            out[name] = self.value(f, prop, path, depth)
        elif kind == "array":
            items = resolved.get("items") or {}
            values = out.setdefault(name, [])
            if f.wire_type == wire.LEN and _packable(items):
                values.extend(self.value(wire.Field(f.number, wire_type, v), items, path, depth)
                              for wire_type, v in _unpack(f.value, items))
            else:
                values.append(self.value(f, items, path, depth))
        elif "properties" in resolved or schemas.ref_name(prop) is not None:
            out[name] = self.value(f, prop, path, depth)
        elif isinstance(resolved.get("additionalProperties"), Mapping):
            key, value = self.map_entry(f, resolved["additionalProperties"], path, depth)
            out.setdefault(name, {})[key] = value
        else:
            self._unknown(path)

    def map_entry(self, f: wire.Field, value_schema: schemas.Schema, path: str,
                  depth: int) -> tuple[str, Any]:
        # Go maps are repeated entry messages {1 key, 2 value}; a zero value may be absent.
        key = ""
        value: Any = _MISSING
        for g in wire.fields(_length_delimited(f, path)):
            if g.number == 1:
                key = _text(_length_delimited(g, path), path)
            elif g.number == 2:
                entry_path = f"{path}[{key}]" if key else path
                if schemas.resolve(value_schema).get("type") == "array":
                    # map[string][]string rides in a wrapper message {1 repeated items}
                    # (authentication's ExtraValue and friends).
                    items = schemas.resolve(value_schema).get("items") or {}
                    value = [self.value(h, items, entry_path, depth)
                             for h in wire.fields(_length_delimited(g, entry_path)) if h.number == 1]
                else:
                    value = self.value(g, value_schema, entry_path, depth)
        if value is _MISSING:
            value = _zero(value_schema)
        return key, value

    def value(self, f: wire.Field, schema: schemas.Schema, path: str, depth: int) -> Any:
        """One single value of a (non-list, non-map) schema."""
        ref = schemas.ref_name(schema)
        special = _SPECIAL.get(ref) if ref is not None else None
        if special is not None:
            return special(self, _length_delimited(f, path), path, depth)
        resolved = schemas.resolve(schema)
        kind = resolved.get("type")
        if ref is not None and field_numbers(ref) is not None:
            return self.message(_length_delimited(f, path), ref, ref, path, depth + 1)
        if kind == "string":
            data = _length_delimited(f, path)
            if resolved.get("format") == "byte":
                return base64.b64encode(data).decode("ascii")
            return _text(data, path)
        if kind == "integer":
            bits = 32 if resolved.get("format") == "int32" else 64
            return wire.signed(_varint(f, path), bits)
        if kind == "boolean":
            return _varint(f, path) != 0
        if kind == "number":
            if f.wire_type == wire.FIXED64:
                return wire.double(f.value)  # type: ignore[arg-type]
            if f.wire_type == wire.FIXED32:
                return wire.float32(f.value)  # type: ignore[arg-type]
            return wire.signed(_varint(f, path), 64)
        raise ProtobufError(f"{path}: cannot decode a value of schema {ref or kind}")

    def raw_extension(self, data: bytes, path: str, depth: int) -> Any:
        raw = _raw_bytes(data, path)
        if not raw:
            return None
        if raw.startswith(MAGIC):
            return self.envelope(raw, path, depth + 1)
        return _json(raw, path)

    def _unknown(self, path: str) -> None:
        if self.unknown is not None:
            self.unknown.append(path)


def _time(data: bytes, path: str, micro: bool) -> str | None:
    # meta.v1.Time marshals the zero time as an empty message: JSON null.
    if not data:
        return None
    seconds = nanos = 0
    for f in wire.fields(data):
        if f.number == 1:
            seconds = wire.signed(_varint(f, path), 64)
        elif f.number == 2:
            nanos = wire.signed(_varint(f, path), 32)
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError) as e:
        raise ProtobufError(f"{path}: time out of range: {seconds}s") from e
    # Time's JSON has whole seconds (time.RFC3339), MicroTime's six digits.
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micro:
        text += f".{max(0, min(nanos, 999_999_999)) // 1000:06d}"
    return f"{text}Z"


def _quantity(decoder: _Decoder, data: bytes, path: str, depth: int) -> str:
    text = "0"
    for f in wire.fields(data):
        if f.number == 1:
            text = _text(_length_delimited(f, path), path)
    return text


def _int_or_string(decoder: _Decoder, data: bytes, path: str, depth: int) -> int | str:
    # {1 type (0 Int, 1 String), 2 intVal, 3 strVal}
    kind = int_val = 0
    str_val = ""
    for f in wire.fields(data):
        if f.number == 1:
            kind = wire.signed(_varint(f, path), 64)
        elif f.number == 2:
            int_val = wire.signed(_varint(f, path), 32)
        elif f.number == 3:
            str_val = _text(_length_delimited(f, path), path)
    return str_val if kind == 1 else int_val


def _fields_v1(decoder: _Decoder, data: bytes, path: str, depth: int) -> Any:
    raw = _raw_bytes(data, path)
    return _json(raw, path) if raw else None


def _raw_bytes(data: bytes, path: str) -> bytes:
    raw = b""
    for f in wire.fields(data):
        if f.number == 1:
            raw = _length_delimited(f, path)
    return raw


_SPECIAL: dict[str | None, Callable[[_Decoder, bytes, str, int], Any]] = {
    TIME: lambda d, data, path, depth: _time(data, path, micro=False),
    MICRO_TIME: lambda d, data, path, depth: _time(data, path, micro=True),
    QUANTITY: _quantity,
    INT_OR_STRING: _int_or_string,
    FIELDS_V1: _fields_v1,
    RAW_EXTENSION: _Decoder.raw_extension,
}

_MISSING = object()


def _zero(schema: schemas.Schema) -> Any:
    """The JSON form of a map value Go left at its zero (proto omits it from the entry)."""
    ref = schemas.ref_name(schema)
    if ref == QUANTITY:
        return "0"
    if ref in (TIME, MICRO_TIME, FIELDS_V1, RAW_EXTENSION):
        return None
    kind = schemas.resolve(schema).get("type")
    return {"string": "", "integer": 0, "number": 0, "boolean": False,
            "array": [], "object": {}}.get(kind)


def _is_zero(value: Any) -> bool:
    if value is None or value is False or value == "":
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, list) and not value


def _packable(items: schemas.Schema) -> bool:
    return schemas.ref_name(items) not in _SPECIAL and \
        schemas.resolve(items).get("type") in ("integer", "boolean", "number")


def _unpack(data: bytes, items: schemas.Schema) -> list[tuple[int, int]]:
    """(wire type, value) of each element of a packed repeated scalar field."""
    resolved = schemas.resolve(items)
    if resolved.get("type") == "number":
        size = 4 if resolved.get("format") == "float" else 8
        if len(data) % size:
            raise ProtobufError("packed fixed-size values of a wrong length")
        wire_type = wire.FIXED32 if size == 4 else wire.FIXED64
        return [(wire_type, int.from_bytes(data[i:i + size], "little"))
                for i in range(0, len(data), size)]
    return [(wire.VARINT, v) for v in wire.packed_varints(data)]


def _length_delimited(f: wire.Field, path: str) -> bytes:
    if f.wire_type != wire.LEN or not isinstance(f.value, bytes):
        raise ProtobufError(f"{path or 'body'}: field {f.number} has wire type {f.wire_type}, "
                            "expected length-delimited")
    return f.value


def _varint(f: wire.Field, path: str) -> int:
    if f.wire_type != wire.VARINT or not isinstance(f.value, int):
        raise ProtobufError(f"{path}: field {f.number} has wire type {f.wire_type}, expected varint")
    return f.value


def _text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtobufError(f"{path}: string is not UTF-8") from e


def _json(raw: bytes, path: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ProtobufError(f"{path}: embedded JSON is invalid: {e}") from e


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
