"""Field errors as kube-apiserver reports them: field.Error, its ErrorBody and Go value printing.

A validation failure becomes a ``Cause`` dict, the shape of ``Status.details.causes[]``:
``{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}``.
The message is upstream's ``ErrorBody()``: the error type's text, then the bad value printed the
way Go's ``fmt`` prints it (strings quoted, numbers bare, maps as ``map[string]string{...}``,
structs as ``v1.LabelSelector{...}``), then ``": "`` and the detail. kubectl shows these strings
to users verbatim, so they are reproduced exactly. Paths are plain strings built with
:func:`child`, :func:`index` and :func:`key`, printing like upstream's ``field.Path``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping, TypedDict


class Cause(TypedDict):
    reason: str
    message: str
    field: str


REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
INTERNAL = "InternalError"

_TYPE_TEXT = {
    REQUIRED: "Required value", INVALID: "Invalid value", NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value", FORBIDDEN: "Forbidden", TOO_LONG: "Too long", TOO_MANY: "Too many",
    NOT_FOUND: "Not found", INTERNAL: "Internal error",
}
_NO_VALUE = {REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL}

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"


# -- paths --------------------------------------------------------------------

def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


# -- Go value printing ----------------------------------------------------------

class GoValue:
    """A value already printed the way Go's %#v prints its Go type (map, slice, struct)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"GoValue({self.text!r})"


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which is what %v prints for a float64."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digit_tuple, exp = Decimal(repr(f)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exp, int)
    exp += len(digit_tuple) - len(digits)
    neg = "-" if sign else ""
    point = len(digits) + exp  # position of the decimal point
    x = point - 1
    if x < -4 or x >= 6:  # shortest formatting decides with precision 6
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{neg}{digits}{'0' * (point - len(digits))}"
    return f"{neg}{digits[:point]}.{digits[point:]}"


def go_value(v: Any) -> str:
    """How field.Error prints a bad value (simple types bare, strings quoted, nil as null)."""
    if v is None:
        return "null"
    if isinstance(v, GoValue):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, Mapping):
        return go_string_map(v)
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, str) for x in v):
            return go_string_slice(v)
        return "[]interface {}{" + ", ".join(go_value(x) for x in v) + "}"
    return go_quote(str(v))


def go_string_map(m: Mapping[str, Any] | None, type_name: str = "map[string]string") -> str:
    """%#v of a map[string]string: keys sorted, `"k":"v"` pairs joined by ", "."""
    if m is None:
        return f"{type_name}(nil)"
    items = ", ".join(f"{go_quote(str(k))}:{go_value(m[k])}" for k in sorted(m))
    return f"{type_name}{{{items}}}"


def go_string_slice(items: Iterable[Any] | None, type_name: str = "[]string") -> str:
    if items is None:
        return f"{type_name}(nil)"
    return f"{type_name}{{" + ", ".join(go_value(x) for x in items) + "}"


def go_label_selector(sel: Mapping[str, Any] | None) -> str:
    """%#v of a metav1.LabelSelector, as in `spec.selector: Invalid value: v1.LabelSelector{...}`."""
    if sel is None:
        return "(*v1.LabelSelector)(nil)"
    labels = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}" % (
                go_quote(str(e.get("key", ""))), go_quote(str(e.get("operator", ""))),
                go_string_slice(e.get("values") if isinstance(e.get("values"), list) else None))
            for e in exprs if isinstance(e, Mapping))
        exprs_text = f"[]v1.LabelSelectorRequirement{{{rendered}}}"
    else:
        exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    labels_text = go_string_map(labels if isinstance(labels, Mapping) else None)
    return f"v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{exprs_text}}}"


def go_struct(type_name: str, fields: Iterable[tuple[str, Any]]) -> str:
    """%#v of a struct given its (GoFieldName, value) pairs."""
    return f"{type_name}{{" + ", ".join(f"{n}:{go_value(v)}" for n, v in fields) + "}"


# -- errors ---------------------------------------------------------------------

def make(kind: str, path: str, value: Any = None, detail: str = "", *, omit_value: bool = False) -> Cause:
    """field.Error{Type, Field, BadValue, Detail} rendered to a Cause (ErrorBody as message)."""
    body = _TYPE_TEXT[kind]
    if kind not in _NO_VALUE and not omit_value:
        body = f"{body}: {go_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return {"reason": kind, "message": body, "field": path}


def required(path: str, detail: str = "") -> Cause:
    return make(REQUIRED, path, "", detail)


def invalid(path: str, value: Any, detail: str) -> Cause:
    return make(INVALID, path, value, detail)


def not_supported(path: str, value: Any, valid: Iterable[str]) -> Cause:
    valid = list(valid)
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return make(NOT_SUPPORTED, path, value, detail)


def duplicate(path: str, value: Any) -> Cause:
    return make(DUPLICATE, path, value)


def forbidden(path: str, detail: str) -> Cause:
    return make(FORBIDDEN, path, "", detail)


def too_long(path: str, max_length: int) -> Cause:
    return make(TOO_LONG, path, "", f"must have at most {max_length} bytes")


def too_long_max_length(path: str, max_length: int) -> Cause:
    return make(TOO_LONG, path, "", f"may not be longer than {max_length}")


def too_many(path: str, actual: int, max_quantity: int) -> Cause:
    detail = f"must have at most {max_quantity} items" if max_quantity >= 0 else "has too many items"
    return make(TOO_MANY, path, actual, detail, omit_value=actual < 0)


def not_found(path: str, value: Any) -> Cause:
    return make(NOT_FOUND, path, value)


def internal(path: str, message: str) -> Cause:
    return make(INTERNAL, path, None, message)


def immutable(path: str, new_value: Any, old_value: Any, shown: Any = None) -> list[Cause]:
    """ValidateImmutableField: `Invalid value: <new>: field is immutable` when the values differ."""
    if new_value == old_value:
        return []
    return [invalid(path, new_value if shown is None else shown, FIELD_IMMUTABLE)]


def non_negative(value: int | None, path: str) -> list[Cause]:
    """ValidateNonnegativeField (nil pointers are not checked)."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def error_text(cause: Cause) -> str:
    """field.Error.Error(): `<field>: <body>`."""
    return f"{cause['field']}: {cause['message']}"
