"""Field sets: which fields of an object a manager owns, as server-side apply records them.

A port of structured-merge-diff v4's ``fieldpath`` (path elements, the set trie,
its ``fieldsV1`` serialization in ``metadata.managedFields``) and of the schema
side of ``typed`` (``ToFieldSet``, ``EnsureNamedFieldsAreMembers``), reading
kube-apiserver's OpenAPI schemas the way kube-openapi's ``schemaconv`` does:
objects with properties are structs, ``additionalProperties`` are granular
maps, ``x-kubernetes-map-type: atomic`` and ``x-kubernetes-list-type``
(atomic, set, map with ``x-kubernetes-list-map-keys``) choose how values merge.
Used by ``applying``. Pure functions; ``FieldSet`` values are never changed
after they are built.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Iterator, Mapping, Sequence

from kybernetes.api import schemas

Schema = Mapping[str, Any]

# kube-openapi publishes these key defaults (``+default="TCP"``) so that ports
# without a protocol still have a complete key.
_KEY_DEFAULTS = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"},
}


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: sorted keys, HTML-escaped."""
    text = json.dumps(_canonical(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value == int(value) and not math.isinf(value) and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def value_order(value: Any) -> tuple[Any, ...]:
    """structured-merge-diff's total order: numbers < strings < bools < lists < maps < null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, value_order(value[k])) for k in sorted(value)))
    return (5,)


def smd_string(value: Any) -> str:
    """structured-merge-diff's ``value.ToString`` (strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(smd_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={smd_string(value[k])}" for k in sorted(value)) + "}"
    return str(_canonical(value))


_KIND_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


@dataclasses.dataclass(frozen=True, eq=False)
class PathElement:
    """One step of a field path: ``f:<field>``, ``k:{<keys>}``, ``v:<set item>`` or ``i:<index>``."""

    kind: str
    text: str
    value: Any = dataclasses.field(compare=False)

    @staticmethod
    def field(name: str) -> PathElement:
        return PathElement("f", name, name)

    @staticmethod
    def key(fields: Mapping[str, Any]) -> PathElement:
        return PathElement("k", go_json(dict(fields)), dict(fields))

    @staticmethod
    def item(value: Any) -> PathElement:
        return PathElement("v", go_json(value), value)

    @staticmethod
    def index(i: int) -> PathElement:
        return PathElement("i", str(i), i)

    @staticmethod
    def parse(text: str) -> PathElement:
        kind, sep, rest = text.partition(":")
        if not sep or kind not in _KIND_ORDER:
            raise ValueError(f"unknown path element type: {text!r}")
        if kind == "f":
            return PathElement.field(rest)
        if kind == "i":
            return PathElement.index(int(rest))
        decoded = json.loads(rest)
        if kind == "k":
            if not isinstance(decoded, dict):
                raise ValueError(f"key path element is not an object: {text!r}")
            return PathElement.key(decoded)
        return PathElement.item(decoded)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self.kind == other.kind and self.text == other.text

    def __hash__(self) -> int:
        return hash((self.kind, self.text))

    def sort_key(self) -> tuple[Any, ...]:
        if self.kind == "k":
            names = sorted(self.value)
            return (1, len(names), tuple((n, value_order(self.value[n])) for n in names))
        if self.kind == "v":
            return (2, value_order(self.value))
        return (_KIND_ORDER[self.kind], self.value)

    def __lt__(self, other: PathElement) -> bool:
        return self.sort_key() < other.sort_key()

    def serialize(self) -> str:
        return f"{self.kind}:{self.text}"

    def __str__(self) -> str:
        if self.kind == "f":
            return "." + self.value
        if self.kind == "k":
            return "[" + ",".join(f"{k}={smd_string(self.value[k])}" for k in sorted(self.value)) + "]"
        if self.kind == "v":
            return f"[={smd_string(self.value)}]"
        return f"[{self.value}]"


Path = tuple[PathElement, ...]


def path_string(path: Sequence[PathElement]) -> str:
    """``.spec.containers[name="nginx"].image``, as conflicts print a path."""
    return "".join(str(pe) for pe in path)


def field_path(*names: str) -> Path:
    return tuple(PathElement.field(n) for n in names)


class FieldSet:
    """A set of field paths, stored as a trie: members end a path, children continue one."""

    __slots__ = ("members", "children")

    def __init__(self, members: frozenset[PathElement] | set[PathElement] = frozenset(),
                 children: Mapping[PathElement, FieldSet] | None = None) -> None:
        self.members = set(members)
        self.children: dict[PathElement, FieldSet] = {
            pe: child for pe, child in (children or {}).items() if not child.empty()}

    @classmethod
    def of(cls, *paths: Sequence[PathElement]) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Sequence[PathElement]) -> None:
        """Add a path (only while building a set)."""
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        if path:
            node.members.add(path[-1])

    def has(self, path: Sequence[PathElement]) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return bool(path) and node is not None and path[-1] in node.members

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def with_prefix(self, pe: PathElement) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def union(self, other: FieldSet) -> FieldSet:
        children = dict(self.children)
        for pe, child in other.children.items():
            children[pe] = children[pe].union(child) if pe in children else child
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children = {pe: child.intersection(other.children[pe])
                    for pe, child in self.children.items() if pe in other.children}
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        children = {pe: (child.difference(other.children[pe]) if pe in other.children else child)
                    for pe, child in self.children.items()}
        return FieldSet(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like ``difference``, but a member of ``other`` also removes everything under it."""
        children = {pe: (child.recursive_difference(other.children[pe]) if pe in other.children else child)
                    for pe, child in self.children.items() if pe not in other.members}
        return FieldSet(self.members - other.members, children)

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in structured-merge-diff's order."""
        for pe in sorted(self.members):
            yield prefix + (pe,)
        for pe in sorted(self.children):
            yield from self.children[pe].paths(prefix + (pe,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.to_fields_v1() == other.to_fields_v1()

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"

    def to_fields_v1(self) -> dict[str, Any]:
        """The ``fieldsV1`` JSON of ``metadata.managedFields`` (``"."`` marks a member with children)."""
        out: dict[str, Any] = {}
        for pe in sorted(self.members | set(self.children)):
            child = self.children.get(pe)
            if child is None:
                out[pe.serialize()] = {}
            else:
                inner = child.to_fields_v1()
                out[pe.serialize()] = {".": {}, **inner} if pe in self.members else inner
        return out

    @classmethod
    def from_fields_v1(cls, data: Any) -> FieldSet:
        """Parse ``fieldsV1``; raises ``ValueError`` on malformed input."""
        if not isinstance(data, dict):
            raise ValueError("fieldsV1 must be an object")
        out = cls()
        for text, sub in data.items():
            if text == ".":
                continue
            pe = PathElement.parse(text)
            if not isinstance(sub, dict):
                raise ValueError(f"fieldsV1 value of {text!r} must be an object")
            if not sub or "." in sub:
                out.members.add(pe)
            child = cls.from_fields_v1(sub)
            if not child.empty():
                out.children[pe] = child
        return out


# -- schema types ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TypeInfo:
    """How structured-merge-diff sees a schema: scalar, struct, map, list or untyped."""

    kind: str
    atomic: bool = False
    fields: Mapping[str, Schema] | None = None
    elem: Schema | None = None
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    required: frozenset[str] = frozenset()

    def field_type(self, name: str) -> TypeInfo | None:
        """The type of map entry ``name``; None if a struct does not declare it."""
        if self.kind == "struct":
            if self.fields is not None and name in self.fields:
                return type_of(self.fields[name])
            return None
        return type_of(self.elem) if self.kind == "map" else UNTYPED

    def elem_type(self) -> TypeInfo:
        return type_of(self.elem) if self.elem is not None else UNTYPED


UNTYPED = TypeInfo("untyped")
_SCALAR = TypeInfo("scalar")
_TYPES: dict[int, tuple[Schema, TypeInfo]] = {}


def type_of(schema: Schema | None) -> TypeInfo:
    """The type of a (possibly ``$ref``/``allOf``-wrapped) schema; None is untyped."""
    if schema is None:
        return UNTYPED
    cached = _TYPES.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _TYPES[id(schema)] = (schema, _make_type(schema))
    return cached[1]


def definition_type(definition: str | None) -> TypeInfo:
    if definition is None:
        return UNTYPED
    schema = schemas.definitions().get(definition)
    return type_of(schema)


def _make_type(schema: Schema) -> TypeInfo:
    resolved = schemas.resolve(schema)

    def ext(name: str, default: Any = None) -> Any:
        return schema.get(name, resolved.get(name, default))

    if resolved.get("x-kubernetes-preserve-unknown-fields") or resolved.get("x-kubernetes-int-or-string"):
        return UNTYPED if resolved.get("x-kubernetes-preserve-unknown-fields") else _SCALAR
    atomic_map = ext("x-kubernetes-map-type") == "atomic"
    extra = resolved.get("additionalProperties")
    if "properties" in resolved:
        return TypeInfo("struct", atomic_map, resolved["properties"],
                        extra if isinstance(extra, Mapping) else None,
                        required=frozenset(resolved.get("required", ())))
    if isinstance(extra, Mapping):
        return TypeInfo("map", atomic_map, None, extra)
    kind = resolved.get("type")
    if kind == "array":
        return _list_type(schema, ext)
    return UNTYPED if kind == "object" else _SCALAR


def _list_type(schema: Schema, ext: Any) -> TypeInfo:
    items = schemas.items(schema)
    list_type = ext("x-kubernetes-list-type")
    keys = tuple(ext("x-kubernetes-list-map-keys", ()))
    if list_type is None:
        # schemaconv: without a list type, a "merge" patch strategy makes the list associative.
        if "merge" in ext("x-kubernetes-patch-strategy", "").split(","):
            merge_key = ext("x-kubernetes-patch-merge-key")
            list_type, keys = ("map", (merge_key,)) if merge_key else ("set", ())
        else:
            list_type = "atomic"
    defaults = _KEY_DEFAULTS.get(schemas.ref_name(items) or "", {}) if items is not None else {}
    return TypeInfo("list", list_type == "atomic", None, items, list_type, keys, defaults)


# -- list items and field sets of values ------------------------------------------------------

class SchemaMismatch(ValueError):
    """A value that does not fit its schema (structured-merge-diff's ValidationErrors)."""


def list_item_element(t: TypeInfo, index: int, item: Any) -> PathElement:
    """listItemToPathElement: keys for map lists, the value for sets, the index otherwise."""
    if t.list_type == "atomic":
        return PathElement.index(index)
    if t.list_type == "map" and t.keys:
        if item is None:
            raise SchemaMismatch("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise SchemaMismatch("associative list with keys may not have non-map elements")
        fields = {}
        for name in t.keys:
            if name in item:
                fields[name] = item[name]
            elif name in t.key_defaults:
                fields[name] = t.key_defaults[name]
            else:
                raise SchemaMismatch(f"associative list with keys has an element that omits key field "
                                 f"{json.dumps(name)} (and doesn't have default value)")
        return PathElement.key(fields)
    if isinstance(item, dict):
        raise SchemaMismatch("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise SchemaMismatch("not supported: associative list with lists as elements")
    if item is None:
        raise SchemaMismatch("associative list without keys has an element that's an explicit null")
    return PathElement.item(item)


def deduce(t: TypeInfo, value: Any) -> TypeInfo:
    """An untyped value is a granular map, an atomic list or a scalar, by its shape."""
    if t.kind != "untyped":
        return t
    if isinstance(value, dict):
        return TypeInfo("map")
    if isinstance(value, list):
        return TypeInfo("list", True)
    return _SCALAR


def field_set(value: Any, t: TypeInfo, *, strict: bool = False) -> FieldSet:
    """Every field path ``value`` sets (``TypedValue.ToFieldSet``).

    ``strict`` checks the value against the schema as an applied configuration
    is checked (unknown fields, list keys, duplicates) and raises ``SchemaMismatch``
    listing every problem; otherwise undeclared fields are taken as untyped.
    """
    out, errors = FieldSet(), []
    _walk(value, t, (), out, errors, strict)
    if errors:
        raise SchemaMismatch("\n".join(errors))
    return out


def _walk(value: Any, t: TypeInfo, path: Path, out: FieldSet, errors: list[str], strict: bool) -> None:
    t = deduce(t, value)
    if t.kind == "scalar":
        out.insert(path)
    elif t.kind == "list":
        if t.atomic:
            out.insert(path)
        elif isinstance(value, list):
            seen: set[PathElement] = set()
            for i, item in enumerate(value):
                try:
                    pe = list_item_element(t, i, item)
                except SchemaMismatch as e:
                    if strict:
                        errors.append(f"{path_string(path)}: element {i}: {e}")
                    continue
                if pe in seen and strict:
                    errors.append(f"{path_string(path)}: duplicate entries for key {pe}")
                seen.add(pe)
                _walk(item, t.elem_type(), path + (pe,), out, errors, strict)
                out.insert(path + (pe,))
    elif t.atomic:
        out.insert(path)
    elif isinstance(value, dict):
        for name, item in value.items():
            sub = t.field_type(name)
            child = path + (PathElement.field(name),)
            if sub is None:
                if strict:
                    errors.append(f"{path_string(child)}: field not declared in schema")
                    continue
                sub = UNTYPED
            _walk(item, sub, child, out, errors, strict)
            declared = t.kind == "struct" and t.fields is not None and name in t.fields
            if item is None or item == {} or not declared:
                out.insert(child)


def ensure_named_fields_are_members(s: FieldSet, t: TypeInfo) -> FieldSet:
    """Also own every declared struct field that has owned children (not map keys)."""
    members = set(s.members)
    children = {}
    for pe, child in s.children.items():
        sub = UNTYPED
        if pe.kind == "f" and t.kind in ("struct", "map"):
            declared = t.kind == "struct" and t.fields is not None and pe.value in t.fields
            if declared:
                members.add(pe)
            sub = t.field_type(pe.value) or UNTYPED
        elif pe.kind == "k" and t.kind == "list":
            sub = t.elem_type()
        children[pe] = ensure_named_fields_are_members(child, sub)
    return FieldSet(members, children)
