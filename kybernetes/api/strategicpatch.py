"""Strategic merge patch, as kube-apiserver applies ``application/strategic-merge-patch+json``.

A port of the server half of apimachinery's ``strategicpatch.StrategicMergeMapPatch``
(1.32: merge options ``MergeParallelList`` and ``IgnoreUnmatchedNulls``),
driven by the OpenAPI schema of the kind instead of Go struct tags:
``x-kubernetes-patch-strategy`` (merge, replace, retainKeys) and
``x-kubernetes-patch-merge-key``. Directives: ``$patch`` (replace, delete,
merge), ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>``,
``$retainKeys``. List order follows upstream: ``$setElementOrder`` first, then
the patch's order, then the live order. Fields without a schema merge as in a
JSON merge patch (maps merge, lists are replaced).

Values taken whole from the patch are cleaned as kube-apiserver's decode into a
typed object would leave them: no nulls, no directive keys.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from kybernetes.api import schemas
from kybernetes.api.patching_errors import PatchError, go_format, go_type

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PREFIX = "$deleteFromPrimitiveList"
_ORDER_PREFIX = "$setElementOrder"

Schema = Mapping[str, Any]


def apply(original: dict[str, Any], patch: dict[str, Any] | None, definition: str | None) -> dict[str, Any]:
    """Apply ``patch`` to a copy of ``original``, the kind described by ``definition``.

    ``definition`` names an OpenAPI definition (``io.k8s.api.apps.v1.Deployment``);
    ``None`` or an unknown name means no schema. Raises ``PatchError``.
    """
    if patch is None:
        return copy.deepcopy(original)
    if not isinstance(patch, dict):
        raise PatchError(f"json: cannot unmarshal {_json_kind(patch)} into Go value of type "
                         "map[string]interface {}", 400)
    schema = schemas.definitions().get(definition) if definition else None
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "string"


# -- patch metadata from the schema -------------------------------------------------------

def _lookup(schema: Schema | None, key: str) -> tuple[Schema | None, list[str], str]:
    """The schema of field ``key``, its patch strategies and merge key (LookupPatchMetadataForStruct)."""
    if schema is None:
        return None, [], ""
    resolved = schemas.resolve(schema)
    props = resolved.get("properties")
    if props is not None:
        prop = props.get(key)
        if prop is None:
            return None, [], ""
        strategy = prop.get("x-kubernetes-patch-strategy", "")
        return prop, strategy.split(",") if strategy else [], prop.get("x-kubernetes-patch-merge-key", "")
    extra = resolved.get("additionalProperties")
    return (extra, [], "") if isinstance(extra, Mapping) else (None, [], "")


def _lookup_slice(schema: Schema | None, key: str) -> tuple[Schema | None, list[str], str]:
    sub, strategies, merge_key = _lookup(schema, key)
    return (schemas.items(sub) if sub is not None else None), strategies, merge_key


def _strategy(strategies: list[str]) -> str:
    """extractRetainKeysPatchStrategy: the strategy other than retainKeys."""
    rest = [s for s in strategies if s != "retainKeys"]
    if len(strategies) > 2 or (len(strategies) == 2 and len(rest) != 1):
        raise PatchError(f"unexpected patch strategy: {go_format(strategies)}", 500)
    return rest[0] if rest else ""


# -- errors -----------------------------------------------------------------------------

def _no_merge_key(item: Any, merge_key: str) -> PatchError:
    return PatchError(f"map: {go_format(item)} does not contain declared merge key: {merge_key}", 500)


def _bad_arg_type(expected: Any, actual: Any) -> PatchError:
    return PatchError(f"expected a {go_type(expected)}, but received a {go_type(actual)}", 500)


def _bad_patch_type(directive: Any, item: Any) -> PatchError:
    return PatchError(f"unknown patch type: {directive} in map: {go_format(item)}", 500)


# -- values taken from the patch ------------------------------------------------------------

def _is_directive_key(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_DELETE_PREFIX, _ORDER_PREFIX))


def _decoded(value: Any) -> Any:
    """What a typed decode keeps of a patch value: no null fields, no directive keys."""
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items() if v is not None and not _is_directive_key(k)}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _take(value: Any) -> tuple[Any, bool]:
    """Upstream's discardNullValuesFromPatch + removeDirectives: maps holding ``$patch`` are dropped."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        out = {}
        for k, v in value.items():
            if v is None or _is_directive_key(k):
                continue
            taken, keep = _take(v)
            if keep:
                out[k] = taken
        return out, True
    if isinstance(value, list):
        return [t for t, keep in map(_take, value) if keep], True
    return value, True


# -- maps ----------------------------------------------------------------------------------

def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            del patch[_DIRECTIVE]
            return _decoded(patch)
        if directive == "delete":
            return {}
        raise _bad_patch_type(directive, patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, patch_value in list(patch.items()):
        is_delete_list = key.startswith(_DELETE_PREFIX)
        if is_delete_list:
            key = _unprefixed(key, _DELETE_PREFIX)
        if patch_value is None:
            original.pop(key, None)
            continue
        if key not in original or go_type(original[key]) != go_type(patch_value):
            if not is_delete_list:
                taken, keep = _take(patch_value)
                if keep:
                    original[key] = taken
                else:
                    original.pop(key, None)
            continue
        current = original[key]
        if isinstance(current, dict):
            sub, strategies, _ = _lookup(schema, key)
            if _strategy(strategies) == "replace":
                original[key] = _decoded(patch_value)
            else:
                original[key] = _merge_map(current, patch_value, sub)
        elif isinstance(current, list):
            sub, strategies, merge_key = _lookup_slice(schema, key)
            original[key] = _merge_slice_field(current, patch_value, sub, _strategy(strategies), merge_key,
                                               is_delete_list)
        else:
            original[key] = patch_value
    return original


def _unprefixed(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        if prefix == _DELETE_PREFIX:
            raise PatchError("invalid patch format of primitive list", 400)
        raise PatchError("invalid patch format of setElementOrder list", 400)
    return rest


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    keep = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_PREFIX, _ORDER_PREFIX)):
            continue
        if key not in keep:
            raise PatchError("invalid patch format of retainKeys", 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


# -- lists ---------------------------------------------------------------------------------

def _merge_slice_field(original: list[Any], patch: list[Any], elem: Schema | None, strategy: str,
                       merge_key: str, is_delete_list: bool) -> list[Any]:
    # Deletion lists are applied whatever the field's strategy (kubernetes#110472).
    if strategy == "merge" or is_delete_list:
        return _merge_slice(original, patch, elem, merge_key, is_delete_list)
    return _decoded(patch)


def _merge_slice(original: list[Any], patch: list[Any], elem: Schema | None, merge_key: str,
                 is_delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            doomed = {_key(v) for v in patch}
            return [v for v in original if _key(v) not in doomed]
        merged = _dedupe(original + patch)
    else:
        if not merge_key:
            raise PatchError("cannot merge lists without merge key for struct", 500)
        original, patch = _split_special_elements(original, patch, merge_key)
        merged = _merge_by_key(list(original), patch, merge_key, elem)
    in_patch, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(in_patch, server_only, patch, original, merge_key, kind)


def _element_kind(*lists: list[Any]) -> str:
    """sliceElementType: every element must have the same Go type, and not be a list."""
    kind = None
    for items in lists:
        for item in items:
            this = go_type(item)
            if kind is None:
                if isinstance(item, list):
                    raise PatchError("lists of lists are not supported", 422)
                kind = this
            elif kind != this:
                raise PatchError("list element types are not identical: "
                                 + go_format([list(items) for items in lists]), 500)
    if kind is None:
        raise PatchError("no elements in any of the given slices", 500)
    return "map" if kind.startswith("map") else kind


def _key(value: Any) -> tuple[str, Any]:
    """Go interface equality of scalars: same dynamic type and value."""
    if isinstance(value, (dict, list)):
        return go_type(value), id(value)
    return go_type(value), value


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[tuple[str, Any]] = set()
    out = []
    for item in items:
        if _key(item) not in seen:
            seen.add(_key(item))
            out.append(item)
    return out


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map.", 500)
        if merge_key in item and _key(item[merge_key]) == _key(value):
            return i
    return None


def _split_special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Apply ``$patch: delete|replace`` elements; return (original, patch without them)."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            while (i := _find(original, merge_key, item[merge_key])) is not None:
                del original[i]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise _bad_patch_type(directive, item)
    if replace:
        return [_decoded(v) for v in plain], []
    return original, plain


def _merge_by_key(original: list[Any], patch: list[Any], merge_key: str, elem: Schema | None) -> list[Any]:
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        i = _find(original, merge_key, item[merge_key])
        if i is None:
            original.append(_decoded(item))
        else:
            original[i] = _merge_map(original[i], item, elem)
    return original


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split into items present in ``by`` and server-only items."""
    if not merge_key:
        wanted = {_key(v) for v in by}
        return [v for v in merged if _key(v) in wanted], [v for v in merged if _key(v) not in wanted]
    inside, outside = [], []
    for item in merged:
        if not isinstance(item, dict):
            raise _bad_arg_type({}, item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        (inside if _find(by, merge_key, item[merge_key]) is not None else outside).append(item)
    return inside, outside


def _index(items: list[Any], value: Any, merge_key: str, kind: str) -> int:
    def val(item: Any) -> Any:
        if kind == "map":
            return _key(item.get(merge_key)) if isinstance(item, dict) else _key(None)
        return _key(item)
    wanted = val(value)
    for i, item in enumerate(items):
        if val(item) == wanted:
            return i
    return -1


def _normalize_order(in_patch: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str, kind: str) -> list[Any]:
    """Sort patch items by the patch, server-only items by the live list, then interleave them."""
    in_patch = _sort_by(in_patch, patch_order, merge_key, kind)
    server_only = _sort_by(server_only, server_order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(in_patch):
        left = _index(server_order, server_only[i], merge_key, kind)
        right = _index(server_order, in_patch[j], merge_key, kind)
        if left >= 0 and right >= 0 and left < right:
            out.append(server_only[i])
            i += 1
        else:
            out.append(in_patch[j])
            j += 1
    return out + server_only[i:] + in_patch[j:]


def _sort_by(items: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    deleted: list[Any] = []
    if kind == "map":
        for item in items + order:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        deleted = [v for v in items if v.get(_DIRECTIVE) == "delete"]
        items = [v for v in items if v.get(_DIRECTIVE) != "delete"]

    def position(item: Any) -> int:
        i = _index(order, item, merge_key, kind)
        return i if i >= 0 else len(order)
    return sorted(items, key=position) + deleted


# -- $setElementOrder ------------------------------------------------------------------------

def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> None:
    """mergePatchIntoOriginal: merge each list named by a ``$setElementOrder`` and order it."""
    for directive in [k for k in patch if k.startswith(_ORDER_PREFIX)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type([], order)
        key = _unprefixed(directive, _ORDER_PREFIX)
        found_original, found_patch = key in original, key in patch
        original_list = original.get(key) if found_original else []
        patch_list = patch.get(key) if found_patch else []
        if not isinstance(original_list, list):
            raise _bad_arg_type([], original_list)
        if not isinstance(patch_list, list):
            raise _bad_arg_type([], patch_list)
        elem, strategies, merge_key = _lookup_slice(schema, key)
        strategy = _strategy(strategies)
        _check_order(patch_list, order, merge_key)
        if found_original and found_patch:
            merged = _merge_slice_field(list(original_list), patch_list, elem, strategy, merge_key, False)
        elif found_patch:
            merged = _take(patch_list)[0]
        elif found_original:
            merged = original_list
        else:
            continue
        kind = _element_kind(original_list, patch_list)
        if kind == "map" and not merge_key:
            original[key] = merged  # no schema: nothing to order maps by
            patch.pop(key, None)
            continue
        in_order, server_only = _partition(merged, order, merge_key)
        original[key] = _normalize_order(in_order, server_only, order, original_list, merge_key, kind)
        patch.pop(key, None)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in the order list, in its order."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
        items = [v for v in patch_list if v.get(_DIRECTIVE) != "delete"]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if isinstance(items[pi], dict) and _DIRECTIVE in items[pi]:
            pi += 1
            continue
        if _same_key(items[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise PatchError(f"The order in patch list:\n{go_format(patch_list)}\n doesn't match "
                         f"{_ORDER_PREFIX} list:\n{go_format(order)}\n", 500)


def _same_key(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _key(left) == _key(right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type({}, item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return _key(left[merge_key]) == _key(right[merge_key])
