"""RFC 7386 JSON merge patch, as kube-apiserver applies ``application/merge-patch+json``.

Follows gopkg.in/evanphx/json-patch.v4's ``MergePatch`` (what kube-apiserver 1.32
calls), including its handling of nulls: a null deletes a key, nulls inside a
newly added object are dropped, nulls that are array elements are kept.
``create`` is the two-way diff (``CreateMergePatch``). Inputs are never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.patching_errors import PatchError


def apply(doc: Any, patch: Any) -> Any:
    """Merge ``patch`` into a copy of ``doc``.

    A ``null`` or scalar patch is refused (400 ``Invalid JSON Patch``, as
    kube-apiserver answers); an array patch replaces the document.
    """
    if patch is None or not isinstance(patch, (dict, list)):
        raise PatchError("Invalid JSON Patch", 400)
    if doc is None:
        raise PatchError("Invalid JSON Document", 400)
    if isinstance(patch, list):
        return _prune_list(copy.deepcopy(patch))
    if not isinstance(doc, dict):
        return _prune_map(copy.deepcopy(patch))
    result = copy.deepcopy(doc)
    _merge_maps(result, copy.deepcopy(patch))
    return result


def _merge_maps(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            doc[key] = _prune(value)
        else:
            doc[key] = _merge(doc[key], value)


def _merge(current: Any, patch: Any) -> Any:
    if not isinstance(current, dict):
        return _prune(patch)
    if not isinstance(patch, dict):
        return patch  # evanphx does not prune here: an array over an object keeps its nulls
    _merge_maps(current, patch)
    return current


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return _prune_map(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


def _prune_map(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _prune(v) for k, v in value.items() if v is not None}


def _prune_list(value: list[Any]) -> list[Any]:
    return [v if v is None else _prune(v) for v in value]


def create(original: Any, modified: Any) -> Any:
    """The merge patch that turns ``original`` into ``modified`` (``CreateMergePatch``)."""
    if isinstance(original, dict) and isinstance(modified, dict):
        return _diff(original, modified)
    if _equal(original, modified):
        return {}
    return copy.deepcopy(modified)


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    into: dict[str, Any] = {}
    for key, bv in b.items():
        if key not in a:
            into[key] = copy.deepcopy(bv)
            continue
        av = a[key]
        if isinstance(av, dict) and isinstance(bv, dict):
            sub = _diff(av, bv)
            if sub:
                into[key] = sub
        elif not _equal(av, bv):
            into[key] = copy.deepcopy(bv)
    for key in a:
        if key not in b:
            into[key] = None
    return into


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                             and a == b)
