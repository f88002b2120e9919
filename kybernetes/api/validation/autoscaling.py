"""HorizontalPodAutoscalers (autoscaling/v1 and v2).

The scale target needs a kind and name; maxReplicas is at least 1 and at least
minReplicas; minReplicas is at least 1 (scale-to-zero is an alpha feature);
v2 metrics name exactly one populated source of their type with a positive
target; scaling behavior keeps windows and periods in range.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_object_meta, validate_object_meta_update

METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SOURCE_FIELD = {"Object": "object", "Pods": "pods", "Resource": "resource", "External": "external",
                 "ContainerResource": "containerResource"}


def _target(t: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    typ = a.s(t, "type")
    if not typ:
        errs.append(f.required(f.child(path, "type"), "must specify a metric target type"))
    if typ not in ("Utilization", "Value", "AverageValue"):
        errs.append(f.invalid(f.child(path, "type"), typ, "must be either Utilization, Value, or AverageValue"))
    for name in ("value", "averageValue"):
        if t.get(name) is not None:
            q = resources.parse_quantity(t[name], f.child(path, name), errs)
            if q is not None and q.sign() != 1:
                errs.append(f.invalid(f.child(path, name), resources.go_quantity(q), "must be positive"))
    util = a.ip(t, "averageUtilization")
    if util is not None and util < 1:
        errs.append(f.invalid(f.child(path, "averageUtilization"), util, "must be greater than 0"))
    return errs


def _source(kind: str, src: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    if kind in ("resource", "containerResource"):
        name = a.s(src, "name")
        if not name:
            errs.append(f.required(f.child(path, "name"), "must specify a resource name"))
        else:
            errs += resources.validate_container_resource_name(name, f.child(path, "name"))
        if kind == "containerResource" and not a.s(src, "container"):
            errs.append(f.required(f.child(path, "container"), "must specify a container"))
        target = a.m(src, "target")
        errs += _target(target, f.child(path, "target"))
        if target.get("averageUtilization") is None and target.get("averageValue") is None:
            errs.append(f.required(f.child(path, "target", "averageUtilization"),
                                   "must set either a target raw value or a target utilization"))
        if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
            errs.append(f.forbidden(f.child(path, "target", "averageValue"),
                                    "may not set both a target raw value and a target utilization"))
        return errs
    metric = a.m(src, "metric")
    if not a.s(metric, "name"):
        errs.append(f.required(f.child(path, "metric", "name"), "must specify a metric name"))
    return errs + _target(a.m(src, "target"), f.child(path, "target"))


def _metrics(metrics: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, spec in enumerate(metrics):
        p = f.index(path, i)
        typ = a.s(spec, "type")
        if not typ:
            errs.append(f.required(f.child(p, "type"), "must specify a metric source type"))
        if typ not in METRIC_TYPES:
            errs.append(f.not_supported(f.child(p, "type"), typ, METRIC_TYPES))
        present = [k for k in ("object", "pods", "resource", "external", "containerResource") if a.has(spec, k)]
        if present:
            errs += _source(present[0], a.m(spec, present[0]), f.child(p, present[0]))
        expected = _SOURCE_FIELD.get(typ)
        if expected is not None and not a.has(spec, expected):
            errs.append(f.required(f.child(p, expected), "must populate information for the given metric source"))
        if len(present) > 1:
            for k in present:
                if k != expected:
                    errs.append(f.forbidden(f.child(p, k), "must populate the given metric source only"))
    return errs


def _behavior(behavior: Mapping[str, Any] | None, path: str) -> list[Cause]:
    if behavior is None:
        return []
    errs: list[Cause] = []
    for direction in ("scaleUp", "scaleDown"):
        rules = a.mp(behavior, direction)
        if rules is None:
            continue
        rp = f.child(path, direction)
        window = a.ip(rules, "stabilizationWindowSeconds")
        if window is not None:
            if window < 0:
                errs.append(f.invalid(f.child(rp, "stabilizationWindowSeconds"), window, "must be greater than or equal to zero"))
            elif window > 3600:
                errs.append(f.invalid(f.child(rp, "stabilizationWindowSeconds"), window, "must be less than or equal to 3600"))
        policy = rules.get("selectPolicy")
        if isinstance(policy, str) and policy not in ("Disabled", "Max", "Min"):
            errs.append(f.not_supported(f.child(rp, "selectPolicy"), policy, ("Disabled", "Max", "Min")))
        policies = a.dicts(rules, "policies")
        if not policies and a.s(rules, "selectPolicy") != "Disabled":
            errs.append(f.required(f.child(rp, "policies"), "must specify at least one Policy"))
        for j, pol in enumerate(policies):
            pp = f.index(f.child(rp, "policies"), j)
            if a.s(pol, "type") not in ("Percent", "Pods"):
                errs.append(f.not_supported(f.child(pp, "type"), a.s(pol, "type"), ("Percent", "Pods")))
            if a.i(pol, "value") <= 0:
                errs.append(f.invalid(f.child(pp, "value"), a.i(pol, "value"), "must be greater than zero"))
            period = a.i(pol, "periodSeconds")
            if period <= 0:
                errs.append(f.invalid(f.child(pp, "periodSeconds"), period, "must be greater than zero"))
            elif period > 1800:
                errs.append(f.invalid(f.child(pp, "periodSeconds"), period, "must be less than or equal to 1800"))
    return errs


def _spec(spec: Mapping[str, Any], v1: bool) -> list[Cause]:
    errs: list[Cause] = []
    min_r, max_r = a.ip(spec, "minReplicas"), a.i(spec, "maxReplicas")
    if min_r is not None and min_r < 1:
        errs.append(f.invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if max_r < 1:
        errs.append(f.invalid("spec.maxReplicas", max_r, "must be greater than 0"))
    if min_r is not None and max_r < min_r:
        errs.append(f.invalid("spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`"))
    ref = a.m(spec, "scaleTargetRef")
    ref_errs: list[Cause] = []
    for name in ("kind", "name"):
        value = a.s(ref, name)
        if not value:
            ref_errs.append(f.required(f.child("spec.scaleTargetRef", name)))
        else:
            ref_errs += [f.invalid(f.child("spec.scaleTargetRef", name), value, m)
                         for m in names.is_valid_path_segment_name(value)]
    if ref_errs:
        return errs + ref_errs
    if v1:
        target = a.ip(spec, "targetCPUUtilizationPercentage")
        if target is not None and target < 1:
            errs.append(f.invalid("spec.metrics[0].resource.target.averageUtilization", target, "must be greater than 0"))
        return errs
    metric_errs = _metrics(a.dicts(spec, "metrics"), "spec.metrics")
    return errs + (metric_errs or _behavior(a.mp(spec, "behavior"), "spec.behavior"))


def validate_hpa(hpa: Mapping[str, Any]) -> list[Cause]:
    v1 = a.s(hpa, "apiVersion") == "autoscaling/v1"
    return validate_object_meta(a.m(hpa, "metadata"), names.name_is_dns_subdomain) + _spec(a.m(hpa, "spec"), v1)


def validate_hpa_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    v1 = a.s(new, "apiVersion") == "autoscaling/v1"
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + _spec(a.m(new, "spec"), v1)


def validate_hpa_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    status = a.m(new, "status")
    for name in ("currentReplicas", "desiredReplicas"):
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    return errs


def validate_scale(scale: Mapping[str, Any]) -> list[Cause]:
    """ValidateScale: the autoscaling/v1 Scale sent to a `scale` subresource."""
    errs = validate_object_meta(a.m(scale, "metadata"), names.name_is_dns_subdomain)
    replicas = a.i(a.m(scale, "spec"), "replicas")
    if replicas < 0:
        errs.append(f.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return errs
