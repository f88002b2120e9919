"""Downward API values: pod fields and container resources as strings.

Shared by downwardAPI volumes, projected volumes and env vars; these are
k8s.io/kubernetes/pkg/fieldpath (``ExtractFieldPathAsString``, ``FormatMap``)
and pkg/api/v1/resource (``ExtractContainerResourceValue`` with its divisor
rounding). Pure: no I/O.
"""

from __future__ import annotations

import re

from kybernetes.api import quantities

_SUBSCRIPT = re.compile(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$")
# strconv.Quote's backslash escapes.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
            "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class FieldPathError(Exception):
    pass


def go_quote(s: str) -> str:
    """Go's ``%q`` of a string (strconv.Quote): printable runes kept, others escaped."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and code != 0xFEFF:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_map(m: dict[str, str] | None) -> str:
    """fieldpath.FormatMap: ``key="value"`` lines, keys sorted, no trailing newline."""
    return "\n".join(f"{k}={go_quote(v)}" for k, v in sorted((m or {}).items()))


def pod_field(pod: dict, field_path: str) -> str:
    """ExtractFieldPathAsString for the metadata fields every consumer supports."""
    meta = pod.get("metadata") or {}
    m = _SUBSCRIPT.match(field_path)
    if m:
        return (meta.get(m.group(1).split(".")[1]) or {}).get(m.group(2), "")
    if field_path == "metadata.annotations":
        return format_map(meta.get("annotations"))
    if field_path == "metadata.labels":
        return format_map(meta.get("labels"))
    if field_path == "metadata.name":
        return meta.get("name", "")
    if field_path == "metadata.namespace":
        return meta.get("namespace", "")
    if field_path == "metadata.uid":
        return meta.get("uid", "")
    raise FieldPathError(f"unsupported fieldPath: {field_path}")


def _container(pod: dict, name: str) -> dict:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    raise FieldPathError(f"container {name} not found")


def resource_value(ref: dict, pod: dict, container_name: str,
                   allocatable: dict[str, str] | None) -> str:
    """ExtractContainerResourceValue: ``limits.cpu`` etc. of the container,
    divided by ``divisor`` and rounded up; unset limits are the node's
    allocatable (MergeContainerResourceLimits)."""
    container = _container(pod, container_name)
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise FieldPathError(f"unsupported container resource : {resource}")
    res = container.get("resources") or {}
    raw = (res.get(kind) or {}).get(name)
    if raw is None and kind == "limits" and (name in ("cpu", "memory", "ephemeral-storage")):
        raw = (allocatable or {}).get(name)
    divisor = quantities.parse(str(ref.get("divisor") or "1"))
    if name == "cpu":
        q = quantities.parse(str(raw)) if raw is not None else quantities.from_int(0)
        d = quantities.milli_value(divisor) or 1
        return str(-(-quantities.milli_value(q) // d))
    if name in ("memory", "ephemeral-storage") or name.startswith("hugepages-"):
        q = quantities.parse(str(raw)) if raw is not None else quantities.from_int(0)
        d = quantities.value(divisor) or 1
        return str(-(-quantities.value(q) // d))
    raise FieldPathError(f"unsupported container resource : {resource}")
