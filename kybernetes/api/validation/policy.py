"""Policy kinds: ResourceQuotas, LimitRanges and PodDisruptionBudgets.

Quota keys must be standard quota resources or fully qualified, scopes may
not change once set; limit ranges keep min ≤ default request ≤ default ≤ max
per resource; a disruption budget sets at most one of minAvailable and
maxUnavailable, as a count or a percentage up to 100%.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names, quantities
from kybernetes.api.quantities import Quantity
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_label_selector, validate_object_meta, validate_object_meta_update
from kybernetes.api.validation.workloads import (
    go_int_or_string, not_more_than_100_percent, validate_positive_int_or_percent,
)

SCOPE_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


# -- ResourceQuota ------------------------------------------------------------------------------

def _quota_spec(spec: Mapping[str, Any]) -> list[Cause]:
    hard = a.m(spec, "hard")
    errs = resources.validate_resource_list(hard, "spec.hard", resources.validate_quota_resource_name)
    scopes = a.strs(spec, "scopes")
    shown = f.GoValue("[]core.ResourceQuotaScope{" + ", ".join(f.go_quote(s) for s in scopes) + "}")
    for scope in scopes:
        if scope not in resources.QUOTA_SCOPES:
            errs.append(f.invalid("spec.scopes", shown, "unsupported scope"))
        for k in sorted(hard):
            if resources.is_standard_quota_resource(k) and not resources.quota_scope_valid_for_resource(scope, k):
                errs.append(f.invalid("spec.scopes", shown, "unsupported scope applied to resource"))
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if set(pair) <= set(scopes):
            errs.append(f.invalid("spec.scopes", shown, "conflicting scopes"))
    selector = a.mp(spec, "scopeSelector")
    if selector is not None:
        path = "spec.scopeSelector.matchExpressions"
        names_seen: set[str] = set()
        for req in a.dicts(selector, "matchExpressions"):
            scope, op, values = a.s(req, "scopeName"), a.s(req, "operator"), a.strs(req, "values")
            if scope not in resources.QUOTA_SCOPES:
                errs.append(f.invalid(f.child(path, "scopeName"), scope, "unsupported scope"))
            if scope in ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity") \
                    and op != "Exists":
                errs.append(f.invalid(f.child(path, "operator"), op,
                                      "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, "
                                      "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                                      "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
            if op in ("In", "NotIn") and not values:
                errs.append(f.required(f.child(path, "values"),
                                       "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
            elif op in ("Exists", "DoesNotExist") and values:
                errs.append(f.invalid(f.child(path, "values"), f.GoValue(f.go_string_slice(values)),
                                      "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
            elif op not in SCOPE_SELECTOR_OPS:
                errs.append(f.invalid(f.child(path, "operator"), op, "not a valid selector operator"))
            names_seen.add(scope)
        for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
            if set(pair) <= names_seen:
                errs.append(f.invalid(path, shown, "conflicting scopes"))
    return errs


def _quota_status(status: Mapping[str, Any]) -> list[Cause]:
    errs: list[Cause] = []
    for kind in ("hard", "used"):
        errs += resources.validate_resource_list(a.m(status, kind), f"status.{kind}", resources.validate_quota_resource_name)
    return errs


def validate_resource_quota(rq: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(rq, "metadata"), names.name_is_dns_subdomain)
    return errs + _quota_spec(a.m(rq, "spec")) + _quota_status(a.m(rq, "status"))


def validate_resource_quota_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + _quota_spec(a.m(new, "spec"))
    new_scopes, old_scopes = a.strs(a.m(new, "spec"), "scopes"), a.strs(a.m(old, "spec"), "scopes")
    if set(new_scopes) != set(old_scopes):
        shown = f.GoValue("[]core.ResourceQuotaScope{" + ", ".join(f.go_quote(s) for s in new_scopes) + "}")
        errs.append(f.invalid("spec.scopes", shown, f.FIELD_IMMUTABLE))
    return errs


def validate_resource_quota_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    if not a.s(a.m(new, "metadata"), "resourceVersion"):
        errs.append(f.required("resourceVersion"))
    return errs + _quota_status(a.m(new, "status"))


# -- LimitRange ---------------------------------------------------------------------------------

def _limit_resource_name(limit_type: str, name: str, path: str) -> list[Cause]:
    if limit_type in ("Pod", "Container"):
        return resources.validate_container_resource_name(name, path)
    return resources.validate_resource_name(name, path)


def validate_limit_range(lr: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(lr, "metadata"), names.name_is_dns_subdomain)
    seen_types: set[str] = set()
    for i, item in enumerate(a.dicts(a.m(lr, "spec"), "limits")):
        p = f.index("spec.limits", i)
        typ = a.s(item, "type")
        type_errs = [f.invalid(f.child(p, "type"), typ, m) for m in names.is_qualified_name(typ)]
        if not type_errs and "/" not in typ and typ not in resources.STANDARD_LIMIT_TYPES:
            type_errs.append(f.invalid(f.child(p, "type"), typ, "must be a standard limit type or fully qualified"))
        errs += type_errs
        if typ in seen_types:
            errs.append(f.duplicate(f.child(p, "type"), typ))
        seen_types.add(typ)
        values: dict[str, dict[str, Quantity]] = {}
        kinds = ["max", "min"] + ([] if typ == "Pod" else ["default", "defaultRequest"]) + ["maxLimitRequestRatio"]
        if typ == "Pod":
            for kind in ("default", "defaultRequest"):
                if a.m(item, kind):
                    errs.append(f.forbidden(f.child(p, kind), "may not be specified when `type` is 'Pod'"))
        for kind in kinds:
            for name in sorted(a.m(item, kind)):
                kp = f.key(f.child(p, kind), name)
                errs += _limit_resource_name(typ, name, kp)
                q = resources.parse_quantity(a.m(item, kind)[name], kp, errs)
                if q is not None:
                    values.setdefault(name, {})[kind] = q
        if typ == "PersistentVolumeClaim" and "storage" not in a.m(item, "min") and "storage" not in a.m(item, "max"):
            errs.append(f.required(f.child(p, "limits"),
                                   "either minimum or maximum storage value is required, but neither was provided"))
        for name in sorted(values):
            errs += _limit_relations(values[name], name, p)
    return errs


def _limit_relations(v: dict[str, Quantity], name: str, p: str) -> list[Cause]:
    errs: list[Cause] = []
    mn, mx, df, dr, ratio = (v.get(k) for k in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"))

    def bad(kind: str, shown: Quantity, msg: str) -> None:
        errs.append(f.invalid(f.key(f.child(p, kind), name), resources.go_quantity(shown), msg))

    if mn is not None and mx is not None and mn > mx:
        bad("min", mn, f"min value {mn} is greater than max value {mx}")
    if dr is not None and mn is not None and mn > dr:
        bad("defaultRequest", dr, f"min value {mn} is greater than default request value {dr}")
    if dr is not None and mx is not None and dr > mx:
        bad("defaultRequest", dr, f"default request value {dr} is greater than max value {mx}")
    if dr is not None and df is not None and dr > df:
        bad("defaultRequest", dr, f"default request value {dr} is greater than default limit value {df}")
    if df is not None and mn is not None and mn > df:
        bad("default", mn, f"min value {mn} is greater than default value {df}")
    if df is not None and mx is not None and df > mx:
        bad("default", mx, f"default value {df} is greater than max value {mx}")
    if ratio is not None and ratio < quantities.from_int(1):
        bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is less than 1")
    if ratio is not None and mn is not None and mx is not None and mn.nanos > 0:
        limit = mx.as_fraction() / mn.as_fraction()
        if ratio.as_fraction() > limit:
            bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is greater than max/min = {float(limit):f}")
    if not resources.is_overcommit_allowed(name) and df is not None and dr is not None and df != dr:
        bad("defaultRequest", dr, f"default value {df} must equal to defaultRequest value {dr} in {name}")
    return errs


def validate_limit_range_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_limit_range(new)


# -- PodDisruptionBudget ------------------------------------------------------------------------------

def validate_pdb(pdb: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(pdb, "metadata"), names.name_is_dns_subdomain)
    spec = a.m(pdb, "spec")
    min_a, max_u = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_a is not None and max_u is not None:
        shown = f.GoValue(f"policy.PodDisruptionBudgetSpec{{MinAvailable:{go_int_or_string(min_a).text}, "
                          f"MaxUnavailable:{go_int_or_string(max_u).text}, ...}}")
        errs.append(f.invalid("spec", shown, "minAvailable and maxUnavailable cannot be both set"))
    for name, v in (("minAvailable", min_a), ("maxUnavailable", max_u)):
        if v is not None:
            errs += validate_positive_int_or_percent(v, f"spec.{name}") + not_more_than_100_percent(v, f"spec.{name}")
    errs += validate_label_selector(a.mp(spec, "selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if isinstance(policy, str) and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(f.not_supported("spec.unhealthyPodEvictionPolicy", policy, ("AlwaysAllow", "IfHealthyBudget")))
    return errs


def validate_pdb_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_pdb(new)


def validate_pdb_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    status = a.m(new, "status")
    for name in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    return errs
