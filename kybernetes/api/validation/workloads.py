"""Replicated workloads: ReplicationController, ReplicaSet, Deployment, and their shared template rules.

A workload's selector is required, may not be empty, and must match its pod
template's labels (`spec.template.metadata.labels: Invalid value:
map[string]string{...}: `selector` does not match template `labels``); its
template is validated as a pod template whose restartPolicy must be Always.
On update the selector of apps/v1 kinds is immutable (their registry
strategies add that check after the kind's own update validation).
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    Selector, as_selector, validate_label_selector, validate_object_meta, validate_object_meta_update,
)
from kybernetes.api.validation.pods import validate_pod_template_spec


def go_int_or_string(v: Any) -> f.GoValue:
    if isinstance(v, str):
        return f.GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{f.go_quote(v)}}}")
    n = v if isinstance(v, int) and not isinstance(v, bool) else 0
    return f.GoValue(f'intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:""}}')


def percent_value(v: Any) -> int | None:
    if isinstance(v, str) and not names.is_valid_percent(v):
        return int(v[:-1])
    return None


def int_or_percent_value(v: Any) -> int:
    pct = percent_value(v)
    if pct is not None:
        return pct
    if isinstance(v, str):
        return int(v) if v.lstrip("+-").isdigit() else 0
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def validate_positive_int_or_percent(v: Any, path: str) -> list[Cause]:
    if isinstance(v, str):
        return [f.invalid(path, go_int_or_string(v), m) for m in names.is_valid_percent(v)]
    return f.non_negative(v if isinstance(v, int) else 0, path)


def not_more_than_100_percent(v: Any, path: str) -> list[Cause]:
    pct = percent_value(v)
    if pct is not None and pct > 100:
        return [f.invalid(path, go_int_or_string(v), "must not be greater than 100%")]
    return []


def _labels_shown(tmpl: Mapping[str, Any]) -> f.GoValue:
    return f.GoValue(f.go_string_map(a.sm(a.m(tmpl, "metadata"), "labels")))


def validate_selector(spec: Mapping[str, Any], path: str, what: str) -> list[Cause]:
    """selector required, valid, and non-empty (`empty selector is invalid for <what>`)."""
    sel = a.mp(spec, "selector")
    if sel is None:
        return [f.required(f.child(path, "selector"))]
    errs = validate_label_selector(sel, f.child(path, "selector"))
    if not a.sm(sel, "matchLabels") and not a.lst(sel, "matchExpressions"):
        errs.append(f.invalid(f.child(path, "selector"), f.GoValue(f.go_label_selector(sel)),
                              f"empty selector is invalid for {what}"))
    return errs


def template_matches(selector: Any, tmpl: Mapping[str, Any], path: str) -> list[Cause]:
    """The selector-vs-template-labels check, when the selector selects something."""
    if selector is None or selector.empty():
        return []
    if not selector.matches(a.sm(a.m(tmpl, "metadata"), "labels")):
        return [f.invalid(f.child(path, "metadata", "labels"), _labels_shown(tmpl),
                          "`selector` does not match template `labels`")]
    return []


def validate_template_for_replicas(tmpl: Mapping[str, Any] | None, selector: Any, path: str,
                                   owner: str) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet / ForRC."""
    if tmpl is None:
        return [f.required(path)]
    errs = template_matches(selector, tmpl, path)
    errs += validate_pod_template_spec(tmpl, path)
    spec = a.m(tmpl, "spec")
    if a.s(spec, "restartPolicy") != "Always":
        errs.append(f.not_supported(f.child(path, "spec", "restartPolicy"), a.s(spec, "restartPolicy"), ("Always",)))
    if a.ip(spec, "activeDeadlineSeconds") is not None:
        errs.append(f.forbidden(f.child(path, "spec", "activeDeadlineSeconds"),
                                f"activeDeadlineSeconds in {owner} is not Supported"))
    return errs


def _selector_and_template(spec: Mapping[str, Any], owner: str) -> list[Cause]:
    errs = validate_selector(spec, "spec", "deployment")
    sel = a.mp(spec, "selector")
    selector = as_selector(sel)
    if selector is None:
        errs.append(f.invalid("spec.selector", f.GoValue(f.go_label_selector(sel)), "invalid label selector"))
    else:
        errs += validate_template_for_replicas(a.mp(spec, "template"), selector, "spec.template", owner)
    return errs


# -- ReplicationController ---------------------------------------------------------------

def validate_rc_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs = f.non_negative(a.i(spec, "minReadySeconds"), "spec.minReadySeconds")
    sel = a.sm(spec, "selector") or {}
    if not sel:
        errs.append(f.required("spec.selector"))
    errs += f.non_negative(a.i(spec, "replicas"), "spec.replicas")
    # labels.Set.AsSelector: the RC selector map is not validated, only matched.
    selector = Selector([(k, "=", [v]) for k, v in sorted(sel.items())]) if sel else None
    errs += validate_template_for_replicas(a.mp(spec, "template"), selector, "spec.template", "ReplicationController")
    return errs


def validate_rc(rc: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(rc, "metadata"), names.name_is_dns_subdomain) + validate_rc_spec(a.m(rc, "spec"))


def validate_rc_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_rc_spec(a.m(new, "spec"))


def validate_replica_status(status: Mapping[str, Any], extra: tuple[str, ...] = ("fullyLabeledReplicas",)) -> list[Cause]:
    errs: list[Cause] = []
    fields = ("replicas",) + extra + ("readyReplicas", "availableReplicas", "observedGeneration")
    for name in fields:
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    replicas = a.i(status, "replicas")
    for name in extra + ("readyReplicas", "availableReplicas"):
        if name != "unavailableReplicas" and a.i(status, name) > replicas:
            errs.append(f.invalid(f.child("status", name), a.i(status, name), "cannot be greater than status.replicas"))
    if a.i(status, "availableReplicas") > a.i(status, "readyReplicas"):
        errs.append(f.invalid("status.availableReplicas", a.i(status, "availableReplicas"),
                              "cannot be greater than readyReplicas"))
    return errs


def validate_replicas_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return (validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
            + validate_replica_status(a.m(new, "status")))


# -- ReplicaSet ----------------------------------------------------------------------------

def validate_rs_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs = f.non_negative(a.i(spec, "replicas"), "spec.replicas")
    errs += f.non_negative(a.i(spec, "minReadySeconds"), "spec.minReadySeconds")
    return errs + _selector_and_template(spec, "ReplicaSet")


def validate_rs(rs: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(rs, "metadata"), names.name_is_dns_subdomain) + validate_rs_spec(a.m(rs, "spec"))


def selector_immutable(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    ns, os_ = a.mp(a.m(new, "spec"), "selector"), a.mp(a.m(old, "spec"), "selector")
    if a.semantic(ns) == a.semantic(os_):
        return []
    return [f.invalid("spec.selector", f.GoValue(f.go_label_selector(ns)), f.FIELD_IMMUTABLE)]


def validate_rs_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + validate_rs_spec(a.m(new, "spec")) + selector_immutable(new, old)


# -- Deployment ----------------------------------------------------------------------------------

def _deployment_strategy(strategy: Mapping[str, Any], path: str) -> list[Cause]:
    typ = a.s(strategy, "type")
    ru = a.mp(strategy, "rollingUpdate")
    if typ == "Recreate":
        if ru is not None:
            return [f.forbidden(f.child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if typ == "RollingUpdate":
        if ru is None:
            return [f.required(f.child(path, "rollingUpdate"), "this should be defaulted and never be nil")]
        rp = f.child(path, "rollingUpdate")
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs = validate_positive_int_or_percent(mu, f.child(rp, "maxUnavailable"))
        errs += validate_positive_int_or_percent(ms, f.child(rp, "maxSurge"))
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            errs.append(f.invalid(f.child(rp, "maxUnavailable"), go_int_or_string(mu), "may not be 0 when `maxSurge` is 0"))
        return errs + not_more_than_100_percent(mu, f.child(rp, "maxUnavailable"))
    shown = f.GoValue(f"apps.DeploymentStrategy{{Type:{f.go_quote(typ)}, "
                      "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}")
    return [f.not_supported(path, shown, ("Recreate", "RollingUpdate"))]


def validate_deployment_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs = f.non_negative(a.i(spec, "replicas"), "spec.replicas")
    errs += _selector_and_template(spec, "ReplicaSet")
    errs += _deployment_strategy(a.m(spec, "strategy"), "spec.strategy")
    errs += f.non_negative(a.i(spec, "minReadySeconds"), "spec.minReadySeconds")
    errs += f.non_negative(a.ip(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit")
    if a.has(spec, "rollbackTo"):
        errs += f.non_negative(a.i(a.m(spec, "rollbackTo"), "revision"), "spec.rollback.version")
    pds = a.ip(spec, "progressDeadlineSeconds")
    if pds is not None:
        errs += f.non_negative(pds, "spec.progressDeadlineSeconds")
        if pds <= a.i(spec, "minReadySeconds"):
            errs.append(f.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


def validate_deployment(d: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(d, "metadata"), names.name_is_dns_subdomain) + validate_deployment_spec(a.m(d, "spec"))


def validate_deployment_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + validate_deployment_spec(a.m(new, "spec")) + selector_immutable(new, old)


def validate_deployment_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    status = a.m(new, "status")
    for name in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                 "unavailableReplicas"):
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    errs += f.non_negative(a.ip(status, "collisionCount"), "status.collisionCount")
    replicas = a.i(status, "replicas")
    for name in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        if a.i(status, name) > replicas:
            errs.append(f.invalid(f.child("status", name), a.i(status, name), "cannot be greater than status.replicas"))
    if a.i(status, "availableReplicas") > a.i(status, "readyReplicas"):
        errs.append(f.invalid("status.availableReplicas", a.i(status, "availableReplicas"),
                              "cannot be greater than readyReplicas"))
    errs += collision_count_not_decremented(new, old)
    return errs


def collision_count_not_decremented(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    n, o = a.ip(a.m(new, "status"), "collisionCount"), a.ip(a.m(old, "status"), "collisionCount")
    if (n is None and o is not None) or (n is not None and o is not None and n < o):
        return [f.invalid("status.collisionCount", n or 0, "cannot be decremented")]
    return []
