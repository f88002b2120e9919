"""Server-side apply and managed-fields tracking, as kube-apiserver 1.32 does them.

``apply`` serves ``application/apply-patch+yaml``; ``track_update`` records
the fields a create, update or non-apply patch changed. Together they port
structured-merge-diff v4's ``merge.Updater`` (typed merge, compare, prune of
fields an applier stopped applying, conflicts) and the apiserver's managedfields
pipeline around it: ``stripMeta`` (identity fields are never owned), the
``current-operation`` merge and timestamps, the cap of ten update managers
(older ones fold into ``ancient-changes``), the client-side-apply upgrade for
``kubectl`` (conflicts with the last-applied annotation are allowed, and the
annotation is kept in sync) and the managedFields encoding and order.

Fields reset by the registry are never owned: ``status`` for the main resource
of kinds that have one, ``spec`` for the ``status`` subresource (override with
``reset_fields``); restoring their values in the object stays the registry's
job, as upstream. Objects of kinds without a schema (``definition=None``)
are walked untyped: maps merge key by key, lists are atomic.

Upstream compares typed Go objects, in which struct fields and required lists
exist even when empty; on plain JSON the same ownership comes from never
counting a struct field (or a required list) itself as added or removed.
"""

from __future__ import annotations

import copy
import datetime
import json
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from kybernetes.api import fieldsets, schemas
from kybernetes.api.fieldsets import FieldSet, PathElement, TypeInfo, field_path
from kybernetes.api.patching_errors import ApplyConflict, PatchError, conflict_status_details, go_quote

__all__ = ["apply", "track_update", "merge", "compare", "remove_items", "decode_managed_fields",
           "encode_managed_fields", "conflict_status_details", "ApplyConflict", "PatchError", "LAST_APPLIED"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
_ANNOTATIONS_LIMIT = 256 * 1024
_CURRENT = "current-operation"
_MISSING: Any = object()
_STRIP = FieldSet.of(field_path("apiVersion"), field_path("kind"), field_path("metadata"),
                     *(field_path("metadata", n) for n in (
                         "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                         "generation", "managedFields", "resourceVersion")))


@dataclass(frozen=True)
class _Owned:
    fields: FieldSet
    api_version: str
    applied: bool


Managers = dict[str, _Owned]


class _Conflicts(Exception):
    def __init__(self, sets: dict[str, FieldSet]) -> None:
        super().__init__("conflicts")
        self.sets = sets


# -- typed values: compare, merge, remove --------------------------------------------------

@dataclass
class _Comparison:
    added: FieldSet
    removed: FieldSet
    modified: FieldSet


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _items(t: TypeInfo, value: Any) -> dict[PathElement, Any]:
    """A list's items by path element, first occurrence wins (duplicates tolerated)."""
    out: dict[PathElement, Any] = {}
    for i, item in enumerate(value if isinstance(value, list) else ()):
        try:
            pe = fieldsets.list_item_element(t, i, item)
        except fieldsets.SchemaMismatch:
            continue
        out.setdefault(pe, item)
    return out


def _compare(lhs: Any, rhs: Any, t: TypeInfo, path: tuple[PathElement, ...], out: _Comparison,
             implicit: bool = False) -> None:
    t = fieldsets.deduce(t, rhs if rhs is not _MISSING else lhs)
    container = {"list": list, "struct": dict, "map": dict}.get(t.kind)
    sides = [v for v in (lhs, rhs) if v is not _MISSING and v is not None]
    if container is None or t.atomic or any(not isinstance(v, container) for v in sides) \
            or not any(sides):
        if lhs is _MISSING:
            out.added.insert(path)
        elif rhs is _MISSING:
            out.removed.insert(path)
        elif not _equal(lhs, rhs):
            out.modified.insert(path)
        return
    if container is list:
        left, right = _items(t, lhs), _items(t, rhs)
        for pe in {**left, **right}:
            _compare(left.get(pe, _MISSING), right.get(pe, _MISSING), t.elem_type(), path + (pe,), out)
    else:
        left, right = (lhs if isinstance(lhs, dict) else {}), (rhs if isinstance(rhs, dict) else {})
        for name in {**left, **right}:
            _compare(left.get(name, _MISSING), right.get(name, _MISSING),
                     t.field_type(name) or fieldsets.UNTYPED, path + (PathElement.field(name),), out,
                     t.kind == "struct" and name in t.required)
    # Upstream compares typed Go objects, where a struct field and a required
    # list exist even when empty: only their contents are added or removed.
    if path and not implicit and not (t.kind == "struct" and path[-1].kind == "f"):
        if lhs is _MISSING:
            out.added.insert(path)
        elif rhs is _MISSING:
            out.removed.insert(path)


def compare(lhs: Any, rhs: Any, t: TypeInfo) -> _Comparison:
    out = _Comparison(FieldSet(), FieldSet(), FieldSet())
    _compare(lhs, rhs, t, (), out)
    return out


def merge(lhs: Any, rhs: Any, t: TypeInfo) -> Any:
    """The applied configuration ``rhs`` merged into the live value ``lhs`` (``TypedValue.Merge``)."""
    if rhs is _MISSING:
        return copy.deepcopy(lhs)
    if lhs is _MISSING:
        return copy.deepcopy(rhs)
    t = fieldsets.deduce(t, rhs)
    container = {"list": list, "struct": dict, "map": dict}.get(t.kind)
    if container is None or t.atomic:
        return copy.deepcopy(rhs)
    left = lhs if isinstance(lhs, container) else None
    right = rhs if isinstance(rhs, container) else None
    if not left and not right:
        return copy.deepcopy(rhs)
    if container is list:
        return _merge_list(left or [], right or [], t)
    left, right = left or {}, right or {}
    out = {k: merge(v, right.get(k, _MISSING), t.field_type(k) or fieldsets.UNTYPED) for k, v in left.items()}
    out.update({k: copy.deepcopy(v) for k, v in right.items() if k not in left})
    return out


def _merge_list(lhs: list[Any], rhs: list[Any], t: TypeInfo) -> list[Any]:
    """Merge associative lists keeping the applier's order for its items (mergingWalker.visitListItems)."""
    elem = t.elem_type()
    left, right = _items(t, lhs), _items(t, rhs)
    l_order, r_order = list(left), list(right)
    shared = iter([pe for pe in r_order if pe in left])
    next_shared = next(shared, None)
    out: list[Any] = []
    li = ri = 0
    while li < len(l_order) or ri < len(r_order):
        if li < len(l_order) and ri < len(r_order):
            pe = l_order[li]
            if pe == r_order[ri]:
                out.append(merge(left[pe], right[pe], elem))
                li, ri, next_shared = li + 1, ri + 1, next(shared, None)
                continue
            if pe in right and next_shared is not None and next_shared != pe:
                li += 1  # a shared item, but not the one wanted in this round
                continue
        if li < len(l_order) and l_order[li] not in right:
            out.append(copy.deepcopy(left[l_order[li]]))
            li += 1
            continue
        if ri < len(r_order):
            pe = r_order[ri]
            out.append(merge(left.get(pe, _MISSING), right[pe], elem))
            ri += 1
            if next_shared == pe:
                next_shared = next(shared, None)
        else:
            li += 1  # an item already taken with the applier's copy
    return out


_GONE: Any = object()


def remove_items(value: Any, doomed: FieldSet, t: TypeInfo) -> Any:
    """``value`` without the list items and fields in ``doomed`` (``TypedValue.RemoveItems``).

    A map or list emptied by the removal disappears, as a null field does when
    kube-apiserver decodes the object.
    """
    t = fieldsets.deduce(t, value)
    if t.kind == "list" and not t.atomic and isinstance(value, list) and value:
        items = []
        for i, item in enumerate(value):
            try:
                pe = fieldsets.list_item_element(t, i, item)
            except fieldsets.SchemaMismatch:
                items.append(item)
                continue
            if pe in doomed.members:
                continue
            if pe in doomed.children:
                item = remove_items(item, doomed.children[pe], t.elem_type())
                item = {} if item is _GONE else item
            items.append(item)
        return items or _GONE
    if t.kind in ("struct", "map") and not t.atomic and isinstance(value, dict) and value:
        fields = {}
        for name, item in value.items():
            pe = PathElement.field(name)
            if pe in doomed.members:
                continue
            if pe in doomed.children:
                item = remove_items(item, doomed.children[pe], t.field_type(name) or fieldsets.UNTYPED)
                if item is _GONE:
                    continue
            fields[name] = item
        return fields or _GONE
    return value


def _remove(value: Any, doomed: FieldSet, t: TypeInfo) -> Any:
    result = remove_items(value, doomed, t)
    return {} if result is _GONE else result


# -- structured-merge-diff's Updater ----------------------------------------------------------

def _update(old: Any, new: Any, t: TypeInfo, managers: Managers, workflow: str, force: bool,
            ignored: FieldSet) -> _Comparison:
    """Take from other managers the fields this operation changed or removed."""
    cmp = compare(old, new, t)
    cmp = _Comparison(*(s.recursive_difference(ignored) for s in (cmp.added, cmp.removed, cmp.modified)))
    changed = cmp.modified.union(cmp.added)
    conflicts = {m: o.fields.intersection(changed) for m, o in managers.items() if m != workflow}
    conflicts = {m: s for m, s in conflicts.items() if not s.empty()}
    if conflicts and not force:
        raise _Conflicts(conflicts)
    for m, owned in list(managers.items()):
        if m != workflow:
            managers[m] = replace(owned, fields=owned.fields.difference(conflicts.get(m, FieldSet()))
                                  .difference(cmp.removed))
        if managers[m].fields.empty():
            del managers[m]
    return cmp


def _smd_update(old: Any, new: Any, t: TypeInfo, version: str, managers: Managers, manager: str,
                ignored: FieldSet) -> None:
    cmp = _update(old, new, t, managers, manager, True, ignored)
    base = managers[manager].fields if manager in managers else FieldSet()
    owned = base.union(cmp.modified).union(cmp.added).difference(cmp.removed).recursive_difference(ignored)
    managers[manager] = _Owned(owned, version, False)
    if owned.empty():
        del managers[manager]


def _smd_apply(live: Any, config: dict[str, Any], t: TypeInfo, version: str, managers: Managers,
               manager: str, force: bool, ignored: FieldSet) -> Any:
    """Merge ``config`` into ``live``; returns the new object, or ``_MISSING`` when nothing changed."""
    merged = merge(live, config, t)
    last = managers.get(manager)
    managers[manager] = _Owned(fieldsets.field_set(config, t).recursive_difference(ignored), version, True)
    if last is not None and not last.fields.empty():
        merged = _prune(merged, t, managers, last.fields)
    _update(live, merged, t, managers, manager, force, ignored)
    return _MISSING if _equal(live, merged) else merged


def _prune(merged: Any, t: TypeInfo, managers: Managers, last: FieldSet) -> Any:
    """Remove what the applier applied last time, no longer applies, and nobody else owns."""
    def named(s: FieldSet) -> FieldSet:
        return fieldsets.ensure_named_fields_are_members(s, t)

    def owned_by(value: Any) -> FieldSet:
        return named(fieldsets.field_set(value, t))

    last_named = named(last)
    pruned = _remove(merged, last_named, t)
    managed = FieldSet()
    for owned in managers.values():
        managed = managed.union(owned.fields)
    merged_set = owned_by(merged)
    pruned = _remove(merged, merged_set.difference(owned_by(pruned).union(named(managed))), t)
    return _remove(merged, merged_set.difference(owned_by(pruned)).intersection(last_named), t)


# -- managedFields ----------------------------------------------------------------------------

def _identifier(manager: str, operation: str, api_version: str, subresource: str) -> str:
    entry: dict[str, str] = {"manager": manager, "operation": operation}
    if operation == "Update" and api_version:
        entry["apiVersion"] = api_version  # appliers keep one entry whatever version they apply
    if subresource:
        entry["subresource"] = subresource
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def _print_manager(identifier: str) -> str:
    entry = json.loads(identifier)
    text = go_quote(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {go_quote(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def decode_managed_fields(entries: Any) -> tuple[Managers, dict[str, str | None]]:
    """The owners recorded in ``metadata.managedFields``; raises ``ValueError`` if malformed."""
    managers: Managers = {}
    times: dict[str, str | None] = {}
    if entries is None:
        return managers, times
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"managed fields entry {i} must be an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        if not entry.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        if entry.get("fieldsType") != "FieldsV1":
            if not entry.get("fieldsType"):
                raise ValueError(f"missing fieldsType in managed fields entry {i}")
            raise ValueError(f"invalid fieldsType {go_quote(str(entry['fieldsType']))} in managed fields "
                             f"entry {i}")
        key = _identifier(entry.get("manager", ""), operation, entry["apiVersion"], entry.get("subresource", ""))
        managers[key] = _Owned(FieldSet.from_fields_v1(entry.get("fieldsV1") or {}), entry["apiVersion"],
                               operation == "Apply")
        times[key] = entry.get("time")
    return managers, times


def _seconds(time: str | None) -> float:
    if not time:
        return 0
    try:
        return datetime.datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() // 1
    except ValueError:
        return 0


def encode_managed_fields(managers: Managers, times: dict[str, str | None]) -> list[dict[str, Any]]:
    """managedFields entries, ordered as upstream (operation, time, manager, apiVersion, subresource)."""
    entries = []
    for key, owned in managers.items():
        ident = json.loads(key)
        entry: dict[str, Any] = {"manager": ident["manager"],
                                 "operation": "Apply" if owned.applied else "Update",
                                 "apiVersion": owned.api_version}
        if times.get(key):
            entry["time"] = times[key]
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = owned.fields.to_fields_v1()
        if ident.get("subresource"):
            entry["subresource"] = ident["subresource"]
        entries.append(entry)
    entries.sort(key=lambda e: (e["operation"], _seconds(e.get("time")), e["manager"], e["apiVersion"],
                                e.get("subresource", "")))
    return entries


def _cap_update_managers(managers: Managers, times: dict[str, str | None]) -> None:
    """Fold the oldest update managers into ``ancient-changes`` buckets past the cap of ten."""
    updaters = [m for m, o in managers.items() if not o.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda m: (_seconds(times.get(m)), m))
    first_of_version: dict[str, str] = {}
    remaining = len(updaters)
    for manager in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        owned = managers[manager]
        bucket = _identifier(ANCIENT_CHANGES, "Update", owned.api_version, "")
        if owned.api_version not in first_of_version:
            first_of_version[owned.api_version] = manager
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first_of_version[owned.api_version])
        managers[bucket] = _Owned(owned.fields.union(managers[bucket].fields), owned.api_version, False)
        del managers[manager]
        times[bucket] = times.get(manager)
        remaining -= 1


def _strip(managers: Managers, manager: str) -> None:
    if manager in managers:
        fields = managers[manager].fields.difference(_STRIP)
        if fields.empty():
            del managers[manager]
        else:
            managers[manager] = replace(managers[manager], fields=fields)


# -- the FieldManager -------------------------------------------------------------------------

def _gvk(definition: str | None) -> tuple[str, str, str] | None:
    schema = schemas.definitions().get(definition) if definition else None
    gvks = schema.get("x-kubernetes-group-version-kind") if schema else None
    return (gvks[0]["group"], gvks[0]["version"], gvks[0]["kind"]) if gvks else None


def _group_version(gvk: tuple[str, str, str]) -> str:
    return f"{gvk[0]}/{gvk[1]}" if gvk[0] else gvk[1]


def _reset(definition: str | None, subresource: str, reset_fields: Iterable[Sequence[str]] | None) -> FieldSet:
    if reset_fields is None:
        if subresource == "status":
            reset_fields = [("spec",)]
        else:
            props = schemas.resolve(schemas.definitions().get(definition, {})).get("properties", {}) \
                if definition else {}
            reset_fields = [("status",)] if not subresource and "status" in props else []
    return FieldSet.of(*(field_path(*p) for p in reset_fields))


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _set_managed_fields(obj: dict[str, Any], managers: Managers, times: dict[str, str | None]) -> None:
    entries = encode_managed_fields(managers, times)
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    elif isinstance(obj.get("metadata"), dict):
        obj["metadata"].pop("managedFields", None)


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    if "managedFields" in _metadata(obj):
        obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    return obj


def track_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, *, definition: str | None,
                 now: str, subresource: str = "",
                 reset_fields: Iterable[Sequence[str]] | None = None) -> dict[str, Any]:
    """``new`` with managedFields updated for a create (``old`` None), update or non-apply patch.

    The manager's ``Update`` entry gains what this request changed; other managers
    lose the fields it changed or removed. A request's own valid managedFields
    replace the live ones; ``[]`` or ``[{}]`` reset them.
    """
    obj = copy.deepcopy(new)
    requested = _metadata(obj).get("managedFields")
    live = _metadata(old or {}).get("managedFields")
    if not subresource and requested is not None and (requested == [] or requested == [{}]):
        managers, times = {}, {}
    else:
        try:
            managers, times = decode_managed_fields(None if subresource else requested)
        except ValueError:
            managers, times = {}, {}
        if not managers:
            try:
                managers, times = decode_managed_fields(live)
            except ValueError:
                managers, times = {}, {}
    obj = _without_managed_fields(obj)
    t = fieldsets.definition_type(definition)
    gvk = _gvk(definition)
    version = obj.get("apiVersion") or (_group_version(gvk) if gvk else "")
    ident = _identifier(manager or "unknown", "Update", version, subresource)
    ignored = _reset(definition, subresource, reset_fields)
    before = _without_managed_fields(old) if old is not None else {}
    _smd_update(before, obj, t, version, managers, _CURRENT, ignored)
    _strip(managers, _CURRENT)
    if _CURRENT in managers:
        current = managers.pop(_CURRENT)
        if ident in managers:
            current = replace(current, fields=current.fields.union(managers[ident].fields))
        managers[ident] = current
        times[ident] = now
    _cap_update_managers(managers, times)
    _set_managed_fields(obj, managers, times)
    return obj


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str, *, force: bool,
          definition: str | None, now: str, subresource: str = "",
          reset_fields: Iterable[Sequence[str]] | None = None) -> dict[str, Any]:
    """Server-side apply ``config`` by ``manager`` onto ``live`` (None: create).

    Raises ``ApplyConflict`` when another manager owns a field the config changes
    (unless ``force``) and ``PatchError`` for configs kube-apiserver refuses.
    """
    t = fieldsets.definition_type(definition)
    gvk = _gvk(definition)
    version = _check_config(config, gvk, t)
    live_obj = copy.deepcopy(live) if live is not None else {}
    try:
        managers, times = decode_managed_fields(_metadata(live_obj).get("managedFields"))
    except ValueError as e:
        raise PatchError(f"failed to decode managed fields: {e}", 500) from None
    live_obj = _without_managed_fields(live_obj)
    ident = _identifier(manager, "Apply", version, subresource)
    ignored = _reset(definition, subresource, reset_fields)
    config = copy.deepcopy(config)
    attempt = dict(managers)
    try:
        new = _smd_apply(live_obj, config, t, version, attempt, ident, force, ignored)
    except _Conflicts as conflicts:
        # kubectl upgrading from client-side apply may take what its last-applied annotation holds.
        allowed = _allowed_by_last_applied(live_obj, t, version) if manager == "kubectl" else None
        remaining = {m: s.difference(allowed) if allowed is not None else s for m, s in conflicts.sets.items()}
        remaining = {m: s for m, s in remaining.items() if not s.empty()}
        if remaining:
            raise ApplyConflict([(_print_manager(m), fieldsets.path_string(p))
                                 for m in sorted(remaining) for p in remaining[m].paths()]) from None
        attempt = dict(managers)
        new = _smd_apply(live_obj, config, t, version, attempt, ident, True, ignored)
    _strip(attempt, ident)
    if new is _MISSING:
        obj = copy.deepcopy(live_obj)
    else:
        obj = copy.deepcopy(new)
        times[ident] = now
    if manager == "kubectl" and _metadata(obj).get("annotations", {}).get(LAST_APPLIED):
        _set_last_applied(obj, config)
    _set_managed_fields(obj, attempt, times)
    return obj


def _check_config(config: Any, gvk: tuple[str, str, str] | None, t: TypeInfo) -> str:
    if not isinstance(config, dict):
        raise PatchError("error decoding YAML: cannot unmarshal into an object", 400)
    api_version, kind = config.get("apiVersion", ""), config.get("kind", "")
    if gvk is not None:
        expected = _group_version(gvk)
        if api_version != expected:
            raise PatchError(f"Incorrect version specified in apply patch. Specified patch version: "
                             f"{api_version}, expected: {expected}", 400)
        if kind != gvk[2]:
            group, _, ver = api_version.rpartition("/")
            raise PatchError(f"invalid object type: {group}/{ver}, Kind={kind}", 400)
    if _metadata(config).get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil", 400)
    try:
        fieldsets.field_set(config, t, strict=True)
    except fieldsets.SchemaMismatch as e:
        meta = _metadata(config)
        group, _, ver = str(api_version).rpartition("/")
        raise PatchError(f"failed to create typed patch object ({meta.get('namespace', '')}/"
                         f"{meta.get('name', '')}; {group}/{ver}, Kind={kind}): {e}", 500) from None
    return str(api_version) or (_group_version(gvk) if gvk else "")


def _allowed_by_last_applied(live: dict[str, Any], t: TypeInfo, version: str) -> FieldSet | None:
    """The fields of the last-applied annotation whose values still match the live object."""
    text = _metadata(live).get("annotations", {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
        if not isinstance(last, dict) or last.get("apiVersion") != version:
            return None
        owned = fieldsets.field_set(last, t, strict=True)
    except (ValueError, fieldsets.SchemaMismatch):
        return None
    cmp = compare(last, live, t)
    return owned.difference(cmp.modified).difference(cmp.added).difference(cmp.removed)


def _set_last_applied(obj: dict[str, Any], config: dict[str, Any]) -> None:
    applied = copy.deepcopy(config)
    annotations = _metadata(applied).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    current = obj["metadata"].setdefault("annotations", {})
    current[LAST_APPLIED] = fieldsets.go_json(applied) + "\n"
    if sum(len(k) + len(str(v)) for k, v in current.items()) > _ANNOTATIONS_LIMIT:
        del current[LAST_APPLIED]
