"""Typed reads of wire JSON with Go's zero values.

Validation code reads plain dicts as they arrived. Upstream reads Go structs,
where a missing string is ``""``, a missing int32 is ``0`` and a missing
pointer is ``nil``. These helpers give the same view and never raise on a value
of the wrong JSON type (the decoder, not validation, reports those): a wrong
type reads as the zero value.
"""

from __future__ import annotations

from typing import Any, Mapping

Obj = Mapping[str, Any]

_EMPTY: dict[str, Any] = {}


def s(obj: Any, name: str) -> str:
    """A string field ("" when absent)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v if isinstance(v, str) else ""


def i(obj: Any, name: str) -> int:
    """A non-pointer integer field (0 when absent)."""
    v = ip(obj, name)
    return 0 if v is None else v


def ip(obj: Any, name: str) -> int | None:
    """A pointer integer field (None when absent)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def b(obj: Any, name: str) -> bool:
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v is True


def bp(obj: Any, name: str) -> bool | None:
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v if isinstance(v, bool) else None


def m(obj: Any, name: str) -> Obj:
    """A struct or map field ({} when absent)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v if isinstance(v, Mapping) else _EMPTY


def mp(obj: Any, name: str) -> Obj | None:
    """A pointer-to-struct field (None when absent or null)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v if isinstance(v, Mapping) else None


def sm(obj: Any, name: str) -> dict[str, str] | None:
    """A map[string]string field, None when absent (Go's nil map)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    if not isinstance(v, Mapping):
        return None
    return {str(k): (x if isinstance(x, str) else "") for k, x in v.items()}


def lst(obj: Any, name: str) -> list[Any]:
    """A slice field ([] when absent)."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    return v if isinstance(v, list) else []


def dicts(obj: Any, name: str) -> list[Obj]:
    """A slice of structs; non-object items read as empty structs."""
    return [x if isinstance(x, Mapping) else _EMPTY for x in lst(obj, name)]


def strs(obj: Any, name: str) -> list[str]:
    return [x if isinstance(x, str) else "" for x in lst(obj, name)]


def has(obj: Any, name: str) -> bool:
    """Whether a pointer/slice/map field is set (present and not null)."""
    return isinstance(obj, Mapping) and obj.get(name) is not None


def int_or_string(obj: Any, name: str) -> int | str | None:
    """An IntOrString field: int, str, or None when absent."""
    v = obj.get(name) if isinstance(obj, Mapping) else None
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, str)):
        return v
    return None


def semantic(v: Any) -> Any:
    """Go's semantic equality: empty and absent are the same, quantities compare by value."""
    if isinstance(v, Mapping):
        out = {k: semantic(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, "", [], {})}
    if isinstance(v, list):
        return [semantic(x) for x in v]
    return v
