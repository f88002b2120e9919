"""Scheduling constraints: affinity, tolerations, taints, topology spread, node selector terms.

Shared by pod specs (affinity, tolerations, topologySpreadConstraints), nodes
(taints) and persistent volumes (node affinity). Follows core validation's
``validateAffinity``, ``ValidateTolerations``, ``validateNodeTaints`` and
``validateTopologySpreadConstraints`` with their messages.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_label_name, validate_label_selector

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def validate_taint_effect(effect: str, allow_empty: bool, path: str) -> list[Cause]:
    if not allow_empty and not effect:
        return [f.required(path)]
    if effect not in TAINT_EFFECTS:
        return [f.not_supported(path, effect, TAINT_EFFECTS)]
    return []


def validate_tolerations(tolerations: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for n, t in enumerate(tolerations):
        p = f.index(path, n)
        k, op, value, effect = a.s(t, "key"), a.s(t, "operator"), a.s(t, "value"), a.s(t, "effect")
        if k:
            errs += validate_label_name(k, f.child(p, "key"))
        if not k and op != "Exists":
            errs.append(f.invalid(f.child(p, "operator"), op,
                                  'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if a.ip(t, "tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(f.invalid(f.child(p, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = names.is_valid_label_value(value)
            if msgs:
                errs.append(f.invalid(f.child(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(f.invalid(f.child(p, "operator"), value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(f.not_supported(f.child(p, "operator"), op, ("Equal", "Exists")))
        if effect:
            errs += validate_taint_effect(effect, True, f.child(p, "effect"))
    return errs


def validate_taints(taints: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: dict[str, set[str]] = {}
    for n, t in enumerate(taints):
        p = f.index(path, n)
        k, value, effect = a.s(t, "key"), a.s(t, "value"), a.s(t, "effect")
        errs += validate_label_name(k, f.child(p, "key"))
        msgs = names.is_valid_label_value(value)
        if msgs:
            errs.append(f.invalid(f.child(p, "value"), value, ";".join(msgs)))
        errs += validate_taint_effect(effect, False, f.child(p, "effect"))
        if k in seen.get(effect, set()):
            shown = f.GoValue(f"core.Taint{{Key:{f.go_quote(k)}, Value:{f.go_quote(value)}, "
                              f"Effect:{f.go_quote(effect)}, TimeAdded:<nil>}}")
            errs.append(f.make(f.DUPLICATE, p, shown, "taints must be unique by key and effect pair"))
            continue
        seen.setdefault(effect, set()).add(k)
    return errs


def validate_node_selector_requirement(req: Mapping[str, Any], path: str, allow_invalid_value: bool) -> list[Cause]:
    errs: list[Cause] = []
    op, values = a.s(req, "operator"), a.strs(req, "values")
    if op in ("In", "NotIn"):
        if not values:
            errs.append(f.required(f.child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(f.forbidden(f.child(path, "values"),
                                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(f.required(f.child(path, "values"),
                                   "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        errs.append(f.invalid(f.child(path, "operator"), op, "not a valid selector operator"))
    errs += validate_label_name(a.s(req, "key"), f.child(path, "key"))
    if not allow_invalid_value:
        for i, v in enumerate(values):
            errs += [f.invalid(f.index(f.child(path, "values"), i), v, m) for m in names.is_valid_label_value(v)]
    return errs


def validate_node_field_selector_requirement(req: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    op, values = a.s(req, "operator"), a.strs(req, "values")
    if op in ("In", "NotIn"):
        if len(values) != 1:
            errs.append(f.required(f.child(path, "values"),
                                   "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
    else:
        errs.append(f.invalid(f.child(path, "operator"), op, "not a valid selector operator"))
    k = a.s(req, "key")
    if k != "metadata.name":
        errs.append(f.invalid(f.child(path, "key"), k, "not a valid field selector key"))
    else:
        for i, v in enumerate(values):
            errs += [f.invalid(f.index(f.child(path, "values"), i), v, m) for m in names.name_is_dns_subdomain(v)]
    return errs


def validate_node_selector_term(term: Mapping[str, Any], allow_invalid_value: bool, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for j, req in enumerate(a.dicts(term, "matchExpressions")):
        errs += validate_node_selector_requirement(req, f.index(f.child(path, "matchExpressions"), j), allow_invalid_value)
    for j, req in enumerate(a.dicts(term, "matchFields")):
        errs += validate_node_field_selector_requirement(req, f.index(f.child(path, "matchFields"), j))
    return errs


def validate_node_selector(sel: Mapping[str, Any], allow_invalid_value: bool, path: str) -> list[Cause]:
    terms_path = f.child(path, "nodeSelectorTerms")
    terms = a.dicts(sel, "nodeSelectorTerms")
    if not terms:
        return [f.required(terms_path, "must have at least one node selector term")]
    errs: list[Cause] = []
    for i, term in enumerate(terms):
        errs += validate_node_selector_term(term, allow_invalid_value, f.index(terms_path, i))
    return errs


def _weight(term: Mapping[str, Any], path: str) -> list[Cause]:
    w = a.i(term, "weight")
    if w <= 0 or w > 100:
        return [f.invalid(f.child(path, "weight"), w, "must be in the range 1-100")]
    return []


def _label_keys(path: str, keys: list[str], selector: Mapping[str, Any] | None) -> list[Cause]:
    if not keys:
        return []
    if selector is None:
        return [f.forbidden(path, "must not be specified when labelSelector is not set")]
    errs: list[Cause] = []
    for i, k in enumerate(keys):
        errs += validate_label_name(k, f.index(path, i))
    return errs


def validate_pod_affinity_term(term: Mapping[str, Any], path: str) -> list[Cause]:
    errs = validate_label_selector(a.mp(term, "labelSelector"), f.child(path, "labelSelector"))
    errs += validate_label_selector(a.mp(term, "namespaceSelector"), f.child(path, "namespaceSelector"))
    for ns in a.strs(term, "namespaces"):
        errs += [f.invalid(f.child(path, "namespace"), ns, m) for m in names.name_is_dns_label(ns)]
    selector = a.mp(term, "labelSelector")
    match, mismatch = a.strs(term, "matchLabelKeys"), a.strs(term, "mismatchLabelKeys")
    errs += _label_keys(f.child(path, "matchLabelKeys"), match, selector)
    errs += _label_keys(f.child(path, "mismatchLabelKeys"), mismatch, selector)
    for i, k in enumerate(match):
        if k in mismatch:
            errs.append(f.invalid(f.index(f.child(path, "matchLabelKeys"), i), k,
                                  "exists in both matchLabelKeys and mismatchLabelKeys"))
    topology = a.s(term, "topologyKey")
    if not topology:
        errs.append(f.required(f.child(path, "topologyKey"), "can not be empty"))
    errs += validate_label_name(topology, f.child(path, "topologyKey"))
    return errs


def _pod_affinity(aff: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    req_path = f.child(path, "requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(a.dicts(aff, "requiredDuringSchedulingIgnoredDuringExecution")):
        errs += validate_pod_affinity_term(term, f.index(req_path, i))
    pref_path = f.child(path, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, wt in enumerate(a.dicts(aff, "preferredDuringSchedulingIgnoredDuringExecution")):
        p = f.index(pref_path, i)
        errs += _weight(wt, p)
        errs += validate_pod_affinity_term(a.m(wt, "podAffinityTerm"), f.child(p, "podAffinityTerm"))
    return errs


def validate_affinity(aff: Mapping[str, Any] | None, path: str) -> list[Cause]:
    if aff is None:
        return []
    errs: list[Cause] = []
    if (na := a.mp(aff, "nodeAffinity")) is not None:
        np = f.child(path, "nodeAffinity")
        if (req := a.mp(na, "requiredDuringSchedulingIgnoredDuringExecution")) is not None:
            errs += validate_node_selector(req, False, f.child(np, "requiredDuringSchedulingIgnoredDuringExecution"))
        pp = f.child(np, "preferredDuringSchedulingIgnoredDuringExecution")
        for i, term in enumerate(a.dicts(na, "preferredDuringSchedulingIgnoredDuringExecution")):
            errs += _weight(term, f.index(pp, i))
            errs += validate_node_selector_term(a.m(term, "preference"), True, f.child(f.index(pp, i), "preference"))
    if (pa := a.mp(aff, "podAffinity")) is not None:
        errs += _pod_affinity(pa, f.child(path, "podAffinity"))
    if (paa := a.mp(aff, "podAntiAffinity")) is not None:
        errs += _pod_affinity(paa, f.child(path, "podAntiAffinity"))
    return errs


def validate_topology_spread(constraints: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, c in enumerate(constraints):
        p = f.index(path, i)
        skew = a.i(c, "maxSkew")
        if skew <= 0:
            errs.append(f.invalid(f.child(p, "maxSkew"), skew, "must be greater than zero"))
        key, action = a.s(c, "topologyKey"), a.s(c, "whenUnsatisfiable")
        if not key:
            errs.append(f.required(f.child(p, "topologyKey"), "can not be empty"))
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(f.not_supported(f.child(p, "whenUnsatisfiable"), action, ("DoNotSchedule", "ScheduleAnyway")))
        for later in constraints[i + 1:]:
            if a.s(later, "topologyKey") == key and a.s(later, "whenUnsatisfiable") == action:
                errs.append(f.duplicate(f.child(p, "{topologyKey, whenUnsatisfiable}"), f"{{{key}, {action}}}"))
                break
        min_domains = a.ip(c, "minDomains")
        if min_domains is not None:
            if min_domains <= 0:
                errs.append(f.invalid(f.child(p, "minDomains"), min_domains, "must be greater than zero"))
            if action != "DoNotSchedule":
                errs.append(f.invalid(f.child(p, "minDomains"), min_domains,
                                      f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"))
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            v = c.get(policy)
            if isinstance(v, str) and v not in ("Honor", "Ignore"):
                errs.append(f.not_supported(f.child(p, policy), v, ("Honor", "Ignore")))
        selector = a.mp(c, "labelSelector")
        keys = a.strs(c, "matchLabelKeys")
        if keys:
            kp = f.child(p, "matchLabelKeys")
            existing: set[str] = set()
            if selector is None:
                errs.append(f.forbidden(kp, "must not be specified when labelSelector is not set"))
            else:
                existing = set(a.sm(selector, "matchLabels") or {})
                existing |= {a.s(e, "key") for e in a.dicts(selector, "matchExpressions")}
            for j, k in enumerate(keys):
                errs += validate_label_name(k, f.index(kp, j))
                if k in existing:
                    errs.append(f.invalid(f.index(kp, j), k, "exists in both matchLabelKeys and labelSelector"))
        errs += validate_label_selector(selector, f.child(p, "labelSelector"))
    return errs
