"""RBAC (rbac.authorization.k8s.io/v1): Roles, ClusterRoles and their bindings.

Role and binding names only need to be valid path segments (no '/' or '%').
Rules need verbs and, for resource rules, API groups and resources; bindings
need a roleRef naming a Role or ClusterRole in ``rbac.authorization.k8s.io``,
which can never change afterwards (`roleRef: Invalid value: ...: cannot change
roleRef`), and well-formed subjects.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_object_meta, validate_object_meta_update

GROUP = "rbac.authorization.k8s.io"


def _rule(rule: Mapping[str, Any], namespaced: bool, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not a.lst(rule, "verbs"):
        errs.append(f.required(f.child(path, "verbs"), "verbs must contain at least one value"))
    urls = a.strs(rule, "nonResourceURLs")
    if urls:
        shown = f.GoValue(f.go_string_slice(urls))
        if namespaced:
            errs.append(f.invalid(f.child(path, "nonResourceURLs"), shown, "namespaced rules cannot apply to non-resource URLs"))
        if a.lst(rule, "apiGroups") or a.lst(rule, "resources") or a.lst(rule, "resourceNames"):
            errs.append(f.invalid(f.child(path, "nonResourceURLs"), shown,
                                  "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not a.lst(rule, "apiGroups"):
        errs.append(f.required(f.child(path, "apiGroups"), "resource rules must supply at least one api group"))
    if not a.lst(rule, "resources"):
        errs.append(f.required(f.child(path, "resources"), "resource rules must supply at least one resource"))
    return errs


def validate_role(role: Mapping[str, Any], namespaced: bool = True) -> list[Cause]:
    errs = validate_object_meta(a.m(role, "metadata"), names.name_is_path_segment)
    for i, rule in enumerate(a.dicts(role, "rules")):
        errs += _rule(rule, namespaced, f.index("rules", i))
    return errs


def validate_cluster_role(role: Mapping[str, Any]) -> list[Cause]:
    errs = validate_role(role, namespaced=False)
    agg = a.mp(role, "aggregationRule")
    if agg is not None and not a.lst(agg, "clusterRoleSelectors"):
        errs.append(f.required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil"))
    return errs


def validate_role_update(new: Mapping[str, Any], old: Mapping[str, Any], namespaced: bool = True) -> list[Cause]:
    errs = validate_role(new) if namespaced else validate_cluster_role(new)
    return errs + validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))


def _subject(subject: Mapping[str, Any], namespaced: bool, path: str) -> list[Cause]:
    errs: list[Cause] = []
    name, kind, group = a.s(subject, "name"), a.s(subject, "kind"), a.s(subject, "apiGroup")
    if not name:
        errs.append(f.required(f.child(path, "name")))
    if kind == "ServiceAccount":
        if name:
            errs += [f.invalid(f.child(path, "name"), name, m) for m in names.name_is_dns_subdomain(name)]
        if group:
            errs.append(f.not_supported(f.child(path, "apiGroup"), group, ("",)))
        if not namespaced and not a.s(subject, "namespace"):
            errs.append(f.required(f.child(path, "namespace")))
    elif kind in ("User", "Group"):
        if not name:
            errs.append(f.invalid(f.child(path, "name"), name, f"{kind.lower()} name cannot be empty"))
        if group != GROUP:
            errs.append(f.not_supported(f.child(path, "apiGroup"), group, (GROUP,)))
    else:
        errs.append(f.not_supported(f.child(path, "kind"), kind, ("ServiceAccount", "User", "Group")))
    return errs


def validate_binding(binding: Mapping[str, Any], namespaced: bool = True) -> list[Cause]:
    errs = validate_object_meta(a.m(binding, "metadata"), names.name_is_path_segment)
    ref = a.m(binding, "roleRef")
    if a.s(ref, "apiGroup") != GROUP:
        errs.append(f.not_supported("roleRef.apiGroup", a.s(ref, "apiGroup"), (GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if a.s(ref, "kind") not in kinds:
        errs.append(f.not_supported("roleRef.kind", a.s(ref, "kind"), kinds))
    name = a.s(ref, "name")
    if not name:
        errs.append(f.required("roleRef.name"))
    else:
        errs += [f.invalid("roleRef.name", name, m) for m in names.is_valid_path_segment_name(name)]
    for i, subject in enumerate(a.dicts(binding, "subjects")):
        errs += _subject(subject, namespaced, f.index("subjects", i))
    return errs


def _go_role_ref(ref: Mapping[str, Any]) -> f.GoValue:
    return f.GoValue(f"rbac.RoleRef{{APIGroup:{f.go_quote(a.s(ref, 'apiGroup'))}, Kind:{f.go_quote(a.s(ref, 'kind'))}, "
                     f"Name:{f.go_quote(a.s(ref, 'name'))}}}")


def validate_binding_update(new: Mapping[str, Any], old: Mapping[str, Any], namespaced: bool = True) -> list[Cause]:
    errs = validate_binding(new, namespaced)
    errs += validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    nr, or_ = a.m(new, "roleRef"), a.m(old, "roleRef")
    if tuple(a.s(nr, k) for k in ("apiGroup", "kind", "name")) != tuple(a.s(or_, k) for k in ("apiGroup", "kind", "name")):
        errs.append(f.invalid("roleRef", _go_role_ref(nr), "cannot change roleRef"))
    return errs
