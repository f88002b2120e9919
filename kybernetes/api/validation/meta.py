"""ObjectMeta, labels, annotations and label selectors, as apimachinery validates them.

Every kind's validation starts here: the name (each kind brings its own name
rule), generateName, labels, annotations (256 KiB in total), owner references,
finalizers and managed fields on create, and the immutable metadata fields on
update. Label selectors (``matchLabels``/``matchExpressions``) are validated
and evaluated here too, because workloads must check that their selector
matches their pod template.

The namespace itself is not checked: the API server takes it from the URL
(and clears it for cluster-scoped kinds) before validation.
"""

from __future__ import annotations

import datetime
from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
FIELD_MANAGER_MAX_LENGTH = 128
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


# -- labels, annotations -----------------------------------------------------------

def validate_label_name(name: str, path: str) -> list[Cause]:
    return [f.invalid(path, name, msg) for msg in names.is_qualified_name(name)]


def validate_qualified_name(value: str, path: str) -> list[Cause]:
    return validate_label_name(value, path)


def validate_labels(labels: Mapping[str, Any] | None, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for k in sorted(labels or {}):
        v = labels[k] if isinstance(labels[k], str) else ""  # type: ignore[index]
        errs += validate_label_name(k, path)
        errs += [f.invalid(path, v, msg) for msg in names.is_valid_label_value(v)]
    return errs


def validate_annotations(annotations: Mapping[str, Any] | None, path: str) -> list[Cause]:
    errs: list[Cause] = []
    total = 0
    for k in sorted(annotations or {}):
        # Annotation keys are qualified names where case does not matter.
        errs += [f.invalid(path, k, msg) for msg in names.is_qualified_name(k.lower())]
        v = annotations[k]  # type: ignore[index]
        total += len(k.encode()) + len(v.encode() if isinstance(v, str) else b"")
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(f.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


# -- label selectors -----------------------------------------------------------------

def validate_label_selector(sel: Mapping[str, Any] | None, path: str,
                            allow_invalid_label_value: bool = False) -> list[Cause]:
    if sel is None:
        return []
    errs = validate_labels(a.sm(sel, "matchLabels"), f.child(path, "matchLabels"))
    for n, expr in enumerate(a.dicts(sel, "matchExpressions")):
        ep = f.index(f.child(path, "matchExpressions"), n)
        op, values = a.s(expr, "operator"), a.strs(expr, "values")
        if op in ("In", "NotIn"):
            if not values:
                errs.append(f.required(f.child(ep, "values"),
                                       "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(f.forbidden(f.child(ep, "values"),
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(f.invalid(f.child(ep, "operator"), op, "not a valid selector operator"))
        errs += validate_label_name(a.s(expr, "key"), f.child(ep, "key"))
        if not allow_invalid_label_value:
            for vi, value in enumerate(values):
                errs += [f.invalid(f.index(f.child(ep, "values"), vi), value, msg)
                         for msg in names.is_valid_label_value(value)]
    return errs


class Selector:
    """A parsed metav1.LabelSelector (LabelSelectorAsSelector)."""

    def __init__(self, requirements: list[tuple[str, str, list[str]]], nothing: bool = False) -> None:
        self.requirements = requirements
        self.nothing = nothing

    def empty(self) -> bool:
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        for k, op, values in self.requirements:
            if op in ("=", "In") and labels.get(k) not in values:
                return False
            if op == "NotIn" and k in labels and labels[k] in values:
                return False
            if op == "Exists" and k not in labels:
                return False
            if op == "DoesNotExist" and k in labels:
                return False
        return True


def as_selector(sel: Mapping[str, Any] | None) -> Selector | None:
    """LabelSelectorAsSelector: None when it would return an error; nil selects nothing."""
    if sel is None:
        return Selector([], nothing=True)
    reqs: list[tuple[str, str, list[str]]] = []
    for k, v in sorted((a.sm(sel, "matchLabels") or {}).items()):
        if names.is_qualified_name(k) or names.is_valid_label_value(v):
            return None
        reqs.append((k, "=", [v]))
    for expr in a.dicts(sel, "matchExpressions"):
        k, op, values = a.s(expr, "key"), a.s(expr, "operator"), a.strs(expr, "values")
        if names.is_qualified_name(k):
            return None
        if op in ("In", "NotIn"):
            if not values:
                return None
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
        else:
            return None
        if any(names.is_valid_label_value(v) for v in values):
            return None
        reqs.append((k, op, values))
    return Selector(reqs)


# -- owner references, finalizers, managed fields -----------------------------------

def _api_version_parts(api_version: str) -> tuple[str, str] | None:
    if api_version == "":
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def _go_owner_reference(ref: Mapping[str, Any]) -> f.GoValue:
    def ptr(name: str) -> str:
        return "(*bool)(nil)" if a.bp(ref, name) is None else "(*bool)(0xc000000000)"
    text = (f"v1.OwnerReference{{APIVersion:{f.go_quote(a.s(ref, 'apiVersion'))}, "
            f"Kind:{f.go_quote(a.s(ref, 'kind'))}, Name:{f.go_quote(a.s(ref, 'name'))}, "
            f"UID:{f.go_quote(a.s(ref, 'uid'))}, Controller:{ptr('controller')}, "
            f"BlockOwnerDeletion:{ptr('blockOwnerDeletion')}}}")
    return f.GoValue(text)


def validate_owner_references(refs: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    first_controller = ""
    for ref in refs:
        gv = _api_version_parts(a.s(ref, "apiVersion")) or ("", "")
        group, version = gv
        kind = a.s(ref, "kind")
        if not version:
            errs.append(f.invalid(f.child(path, "apiVersion"), a.s(ref, "apiVersion"), "version must not be empty"))
        if not kind:
            errs.append(f.invalid(f.child(path, "kind"), kind, "must not be empty"))
        if not a.s(ref, "name"):
            errs.append(f.invalid(f.child(path, "name"), "", "must not be empty"))
        if not a.s(ref, "uid"):
            errs.append(f.invalid(f.child(path, "uid"), "", "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(f.invalid(path, _go_owner_reference(ref), "/v1, Kind=Event is disallowed from being an owner"))
        if a.bp(ref, "controller"):
            current = f"{kind}/{a.s(ref, 'name')}"
            if first_controller:
                errs.append(f.invalid(path, f.GoValue("[]v1.OwnerReference{...}"),
                                      "Only one reference can have Controller set to true. "
                                      f'Found "true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return errs


def validate_finalizers(finalizers: list[str], path: str, kube: bool = True) -> list[Cause]:
    """ValidateFinalizers, plus core's check that unqualified names are standard ones."""
    errs: list[Cause] = []
    for fin in finalizers:
        errs += [f.invalid(path, fin, msg) for msg in names.is_qualified_name(fin)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(f.invalid(path, f.GoValue(f.go_string_slice(finalizers)),
                              "finalizer orphan and foregroundDeletion cannot be both set"))
    if kube:
        for n, fin in enumerate(finalizers):
            errs += validate_kube_finalizer_name(fin, f.index(path, n))
    return errs


def validate_kube_finalizer_name(name: str, path: str) -> list[Cause]:
    if "/" not in name and name not in STANDARD_FINALIZERS:
        return [f.invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")]
    return []


def validate_managed_fields(entries: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for n, entry in enumerate(entries):
        ep = f.index(path, n)
        op = a.s(entry, "operation")
        if op not in ("Apply", "Update"):
            errs.append(f.invalid(f.child(ep, "operation"), op, "must be `Apply` or `Update`"))
        ftype = a.s(entry, "fieldsType")
        if ftype and ftype != "FieldsV1":
            errs.append(f.invalid(f.child(ep, "fieldsType"), ftype, "must be `FieldsV1`"))
        if len(a.s(entry, "manager")) > FIELD_MANAGER_MAX_LENGTH:
            errs.append(f.too_long(f.child(ep, "manager"), FIELD_MANAGER_MAX_LENGTH))
        if len(a.s(entry, "subresource")) > 256:
            errs.append(f.too_long(f.child(ep, "subresource"), 256))
    return errs


# -- ObjectMeta -----------------------------------------------------------------------

def validate_object_meta(meta: Mapping[str, Any], name_fn: names.NameFunc, path: str = "metadata",
                         *, kube_finalizers: bool = True) -> list[Cause]:
    """ValidateObjectMeta on create (name generation has already happened)."""
    errs: list[Cause] = []
    generate_name = a.s(meta, "generateName")
    if generate_name:
        errs += [f.invalid(f.child(path, "generateName"), generate_name, msg)
                 for msg in name_fn(generate_name, True)]
    name = a.s(meta, "name")
    if not name:
        errs.append(f.required(f.child(path, "name"), "name or generateName is required"))
    else:
        errs += [f.invalid(f.child(path, "name"), name, msg) for msg in name_fn(name, False)]
    errs += _common(meta, path, kube_finalizers)
    return errs


def _common(meta: Mapping[str, Any], path: str, kube_finalizers: bool) -> list[Cause]:
    errs = f.non_negative(a.ip(meta, "generation"), f.child(path, "generation"))
    errs += validate_labels(a.sm(meta, "labels"), f.child(path, "labels"))
    errs += validate_annotations(a.sm(meta, "annotations"), f.child(path, "annotations"))
    errs += validate_owner_references(a.dicts(meta, "ownerReferences"), f.child(path, "ownerReferences"))
    errs += validate_finalizers(a.strs(meta, "finalizers"), f.child(path, "finalizers"), kube_finalizers)
    errs += validate_managed_fields(a.dicts(meta, "managedFields"), f.child(path, "managedFields"))
    return errs


def go_time(value: Any) -> Any:
    """A metav1.Time as Go's time.Time.String() prints it (`2024-01-02 03:04:05 +0000 UTC`)."""
    if not isinstance(value, str) or not value:
        return None if value is None else value
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    t = t.astimezone(datetime.timezone.utc)
    frac = f".{t.microsecond:06d}".rstrip("0") if t.microsecond else ""
    return f.GoValue(t.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC")


def validate_object_meta_update(new: Mapping[str, Any], old: Mapping[str, Any], path: str = "metadata",
                                *, kube_finalizers: bool = True) -> list[Cause]:
    """ValidateObjectMetaUpdate."""
    errs: list[Cause] = []
    if a.s(old, "deletionTimestamp"):
        extra = sorted(set(a.strs(new, "finalizers")) - set(a.strs(old, "finalizers")))
        if extra:
            errs.append(f.forbidden(
                f.child(path, "finalizers"),
                f"no new finalizers can be added if the object is being deleted, found new finalizers "
                f"{f.go_string_slice(extra)}"))
    if not a.s(new, "resourceVersion"):
        errs.append(f.invalid(f.child(path, "resourceVersion"), "", "must be specified for an update"))
    if a.i(new, "generation") < a.i(old, "generation"):
        errs.append(f.invalid(f.child(path, "generation"), a.i(new, "generation"), "must not be decremented"))
    for name in ("name", "namespace", "uid"):
        errs += f.immutable(f.child(path, name), a.s(new, name), a.s(old, name))
    for name in ("creationTimestamp", "deletionTimestamp"):
        nv, ov = new.get(name), old.get(name)
        if _time_key(nv) != _time_key(ov):
            shown = go_time(nv) if name == "deletionTimestamp" or nv else f.GoValue("0001-01-01 00:00:00 +0000 UTC")
            errs.append(f.invalid(f.child(path, name), shown, f.FIELD_IMMUTABLE))
    errs += f.immutable(f.child(path, "deletionGracePeriodSeconds"), a.ip(new, "deletionGracePeriodSeconds"),
                        a.ip(old, "deletionGracePeriodSeconds"))
    errs += validate_labels(a.sm(new, "labels"), f.child(path, "labels"))
    errs += validate_annotations(a.sm(new, "annotations"), f.child(path, "annotations"))
    errs += validate_owner_references(a.dicts(new, "ownerReferences"), f.child(path, "ownerReferences"))
    errs += validate_managed_fields(a.dicts(new, "managedFields"), f.child(path, "managedFields"))
    if kube_finalizers:
        for n, fin in enumerate(a.strs(new, "finalizers")):
            errs += validate_kube_finalizer_name(fin, f.index(f.child(path, "finalizers"), n))
    return errs


def _time_key(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return t.astimezone(datetime.timezone.utc).replace(microsecond=0)


def validate_template_meta(meta: Mapping[str, Any], path: str) -> list[Cause]:
    """Labels and annotations of an embedded template (pod templates)."""
    return (validate_labels(a.sm(meta, "labels"), f.child(path, "labels"))
            + validate_annotations(a.sm(meta, "annotations"), f.child(path, "annotations")))
