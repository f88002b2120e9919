"""StatefulSets, DaemonSets and ControllerRevisions (apps/v1), plus core PodTemplates.

StatefulSet names are DNS labels (since 1.27: they become pod hostnames);
kube-apiserver 1.32 checks a StatefulSet template's labels and annotations but
not its pod spec. Only replicas, ordinals, template, updateStrategy,
persistentVolumeClaimRetentionPolicy and minReadySeconds may change on update.
DaemonSets validate their full template and an update strategy that surges or
makes unavailable, not both.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    as_selector, validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update,
)
from kybernetes.api.validation.pods import validate_pod_annotations, validate_pod_template_spec
from kybernetes.api.validation.workloads import (
    collision_count_not_decremented, go_int_or_string, int_or_percent_value, not_more_than_100_percent,
    selector_immutable, template_matches, validate_positive_int_or_percent, validate_selector,
)

_PVC_POLICIES = ("Retain", "Delete")


def _go_struct_of(type_name: str, obj: Mapping[str, Any] | None) -> f.GoValue:
    if obj is None:
        return f.GoValue(f"(*{type_name})(nil)")
    body = ", ".join(f"{k[:1].upper()}{k[1:]}:{f.go_value(v) if not isinstance(v, (dict, list)) else '...'}"
                     for k, v in obj.items())
    return f.GoValue(f"{type_name}{{{body}}}")


# -- StatefulSet ---------------------------------------------------------------------------

def validate_statefulset_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs: list[Cause] = []
    pmp = a.s(spec, "podManagementPolicy")
    if not pmp:
        errs.append(f.required("spec.podManagementPolicy"))
    elif pmp not in ("OrderedReady", "Parallel"):
        errs.append(f.invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = a.m(spec, "updateStrategy")
    typ, ru = a.s(strategy, "type"), a.mp(strategy, "rollingUpdate")
    if not typ:
        errs.append(f.required("spec.updateStrategy"))
    elif typ == "OnDelete":
        if ru is not None:
            errs.append(f.invalid("spec.updateStrategy.rollingUpdate",
                                  _go_struct_of("apps.RollingUpdateStatefulSetStrategy", ru),
                                  "only allowed for updateStrategy 'RollingUpdate'"))
    elif typ == "RollingUpdate":
        if ru is not None:
            errs += f.non_negative(a.i(ru, "partition"), "spec.updateStrategy.rollingUpdate.partition")
            mu = ru.get("maxUnavailable")
            if mu is not None:
                mp = "spec.updateStrategy.rollingUpdate.maxUnavailable"
                errs += validate_positive_int_or_percent(mu, mp)
                if int_or_percent_value(mu) == 0:
                    errs.append(f.invalid(mp, go_int_or_string(mu), "cannot be 0"))
                errs += not_more_than_100_percent(mu, mp)
    else:
        errs.append(f.invalid("spec.updateStrategy", _go_struct_of("apps.StatefulSetUpdateStrategy", strategy),
                              "must be 'RollingUpdate' or 'OnDelete'"))
    policy = a.mp(spec, "persistentVolumeClaimRetentionPolicy")
    if policy is not None:
        for name in ("whenDeleted", "whenScaled"):
            v = a.s(policy, name)
            if v not in _PVC_POLICIES:
                errs.append(f.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{name}", v, _PVC_POLICIES))
    errs += f.non_negative(a.i(spec, "replicas"), "spec.replicas")
    errs += f.non_negative(a.i(spec, "minReadySeconds"), "spec.minReadySeconds")
    if a.has(spec, "ordinals"):
        errs += f.non_negative(a.i(a.m(spec, "ordinals"), "start"), "spec.ordinals.start")
    errs += validate_selector(spec, "spec", "statefulset")
    sel = a.mp(spec, "selector")
    selector = as_selector(sel)
    tmpl = a.m(spec, "template")
    if selector is None:
        errs.append(f.invalid("spec.selector", f.GoValue(f.go_label_selector(sel)), ""))
    else:
        meta = a.m(tmpl, "metadata")
        errs += template_matches(selector, tmpl, "spec.template")
        errs += validate_labels(a.sm(meta, "labels"), "spec.template.labels")
        errs += validate_annotations(a.sm(meta, "annotations"), "spec.template.annotations")
        errs += validate_pod_annotations(a.sm(meta, "annotations"), a.m(tmpl, "spec"), "spec.template.annotations")
    pod_spec = a.m(tmpl, "spec")
    if a.s(pod_spec, "restartPolicy") != "Always":
        errs.append(f.not_supported("spec.template.spec.restartPolicy", a.s(pod_spec, "restartPolicy"), ("Always",)))
    if a.ip(pod_spec, "activeDeadlineSeconds") is not None:
        errs.append(f.forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in StatefulSet is not Supported"))
    return errs


def validate_statefulset(ss: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(ss, "metadata"), names.name_is_dns_label) + validate_statefulset_spec(a.m(ss, "spec"))


_SS_MUTABLE = ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
               "persistentVolumeClaimRetentionPolicy")


def validate_statefulset_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += validate_statefulset_spec(a.m(new, "spec"))
    ns = {k: v for k, v in a.m(new, "spec").items() if k not in _SS_MUTABLE}
    os_ = {k: v for k, v in a.m(old, "spec").items() if k not in _SS_MUTABLE}
    if a.semantic(ns) != a.semantic(os_):
        errs.append(f.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                        "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                        "'minReadySeconds' are forbidden"))
    return errs


def validate_statefulset_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    status = a.m(new, "status")
    errs: list[Cause] = []
    for name in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    errs += f.non_negative(a.ip(status, "observedGeneration"), "status.observedGeneration")
    errs += f.non_negative(a.ip(status, "collisionCount"), "status.collisionCount")
    for name in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        if a.i(status, name) > a.i(status, "replicas"):
            errs.append(f.invalid(f.child("status", name), a.i(status, name), "cannot be greater than status.replicas"))
    if a.i(status, "availableReplicas") > a.i(status, "readyReplicas"):
        errs.append(f.invalid("status.availableReplicas", a.i(status, "availableReplicas"),
                              "cannot be greater than status.readyReplicas"))
    errs += validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + collision_count_not_decremented(new, old)


# -- DaemonSet ---------------------------------------------------------------------------------

def _daemonset_strategy(strategy: Mapping[str, Any]) -> list[Cause]:
    typ = a.s(strategy, "type")
    path = "spec.updateStrategy"
    if typ == "OnDelete":
        return []
    if typ != "RollingUpdate":
        return [f.not_supported(path, _go_struct_of("apps.DaemonSetUpdateStrategy", strategy),
                                ("RollingUpdate", "OnDelete"))]
    ru = a.mp(strategy, "rollingUpdate")
    if ru is None:
        return [f.required(f"{path}.rollingUpdate")]
    rp = f"{path}.rollingUpdate"
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = validate_positive_int_or_percent(mu, f"{rp}.maxUnavailable")
    errs += validate_positive_int_or_percent(ms, f"{rp}.maxSurge")
    errs += not_more_than_100_percent(mu, f"{rp}.maxUnavailable") + not_more_than_100_percent(ms, f"{rp}.maxSurge")
    has_unavailable, has_surge = int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0
    if has_unavailable and has_surge:
        errs.append(f.invalid(f"{rp}.maxSurge", go_int_or_string(ms), "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(f.required(f"{rp}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


def validate_daemonset_spec(spec: Mapping[str, Any]) -> list[Cause]:
    sel = a.mp(spec, "selector")
    errs = validate_label_selector(sel, "spec.selector")
    selector = as_selector(sel)
    tmpl = a.m(spec, "template")
    if selector is not None and not selector.matches(a.sm(a.m(tmpl, "metadata"), "labels")):
        errs.append(f.invalid("spec.template.metadata.labels", f.GoValue(f.go_string_map(a.sm(a.m(tmpl, "metadata"), "labels"))),
                              "`selector` does not match template `labels`"))
    if sel is not None and not a.sm(sel, "matchLabels") and not a.lst(sel, "matchExpressions"):
        errs.append(f.invalid("spec.selector", f.GoValue(f.go_label_selector(sel)), "empty selector is invalid for daemonset"))
    errs += validate_pod_template_spec(tmpl, "spec.template")
    pod_spec = a.m(tmpl, "spec")
    if a.s(pod_spec, "restartPolicy") != "Always":
        errs.append(f.not_supported("spec.template.spec.restartPolicy", a.s(pod_spec, "restartPolicy"), ("Always",)))
    if a.ip(pod_spec, "activeDeadlineSeconds") is not None:
        errs.append(f.forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs += f.non_negative(a.i(spec, "minReadySeconds"), "spec.minReadySeconds")
    errs += _daemonset_strategy(a.m(spec, "updateStrategy"))
    errs += f.non_negative(a.ip(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return errs


def validate_daemonset(ds: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(ds, "metadata"), names.name_is_dns_subdomain) + validate_daemonset_spec(a.m(ds, "spec"))


def validate_daemonset_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + validate_daemonset_spec(a.m(new, "spec")) + selector_immutable(new, old)


def validate_daemonset_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    status = a.m(new, "status")
    for name in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                 "observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
        errs += f.non_negative(a.i(status, name), f.child("status", name))
    errs += f.non_negative(a.ip(status, "collisionCount"), "status.collisionCount")
    return errs + collision_count_not_decremented(new, old)


# -- ControllerRevision, PodTemplate -----------------------------------------------------------

def validate_controller_revision(cr: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(cr, "metadata"), names.name_is_dns_subdomain)
    if cr.get("data") is None:
        errs.append(f.required("data", "data is mandatory"))
    return errs + f.non_negative(a.i(cr, "revision"), "revision")


def validate_controller_revision_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += validate_controller_revision(new)
    if new.get("data") != old.get("data"):
        errs.append(f.invalid("data", f.GoValue("runtime.RawExtension{...}"), f.FIELD_IMMUTABLE))
    return errs


def validate_pod_template(pt: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(pt, "metadata"), names.name_is_dns_subdomain)
    return errs + validate_pod_template_spec(a.m(pt, "template"), "template")


def validate_pod_template_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    return errs + validate_pod_template_spec(a.m(new, "template"), "template")


__all__ = ["validate_statefulset", "validate_daemonset", "validate_controller_revision", "validate_pod_template",
           "validate_labels", "go_int_or_string"]
