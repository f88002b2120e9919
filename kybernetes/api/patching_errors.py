"""Errors of the patch algorithms and server-side apply, worded as kube-apiserver words them.

Shared by ``jsonpatch``, ``mergepatch``, ``strategicpatch`` and ``applying``.
The patch libraries upstream (evanphx/json-patch, apimachinery's strategicpatch,
structured-merge-diff) build their messages with Go's ``%v``; ``go_format`` and
``go_type`` reproduce that formatting so the text users see is the same.
The API server turns ``PatchError`` into a ``Status`` with ``code`` and
``ApplyConflict`` into a 409 ``Conflict`` using ``conflict_status_details``.
"""

from __future__ import annotations

import json
import math
from typing import Any


class PatchError(Exception):
    """A patch that cannot be applied.

    ``code`` is the HTTP status kube-apiserver answers for it: 400 for a patch
    that cannot be decoded, 413 for too many JSON-patch operations, 422 for a
    patch that does not apply, 500 where upstream returns a plain Go error.
    """

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApplyConflict(Exception):
    """Server-side apply found fields owned by other managers with other values.

    ``conflicts`` holds ``(manager, field path)`` pairs; the manager is shown as
    upstream prints it (``"kubectl-client-side-apply" using apps/v1``), the path
    as structured-merge-diff prints it (``.spec.containers[name="c"].image``).
    """

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        self.conflicts = list(conflicts)
        super().__init__(conflict_status_details(self.conflicts)[0])


def conflict_status_details(conflicts: list[tuple[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """The Status message and causes of a 409 apply conflict (managedfields' NewConflictError)."""
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {manager}", "field": path}
              for manager, path in conflicts]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager}: {path}", causes
    by_manager: dict[str, list[str]] = {}
    for manager, path in conflicts:
        by_manager.setdefault(manager, []).append(path)
    lines: list[str] = []
    for manager, paths in by_manager.items():
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {path}" for path in paths)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines), causes


def go_type(value: Any) -> str:
    """``reflect.TypeOf(v)`` of a decoded JSON value, as Go prints it with ``%s``."""
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "%!s(<nil>)"


def go_format(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value: ``map[a:1 b:[x y]]``, ``<nil>``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    # %v of a float64 is strconv's 'g' with the shortest representation.
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{abs(int(exponent)):02d}"
    return text


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (close enough for printable text)."""
    return json.dumps(text, ensure_ascii=False)
