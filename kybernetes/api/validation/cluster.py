"""Cluster-level and coordination kinds: Namespaces, Nodes, Events, Leases, PriorityClasses.

Namespaces are DNS labels whose status phase follows their deletion; Nodes
keep their pod CIDRs and provider ID once set and carry unique taints; core/v1
Events get only upstream's lenient "legacy" checks while events.k8s.io/v1
Events are validated strictly; Leases have positive durations; user priority
classes stay at or below one billion.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    validate_finalizers, validate_kube_finalizer_name, validate_object_meta, validate_object_meta_update,
    validate_qualified_name,
)
from kybernetes.api.validation.scheduling import validate_taints

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}


# -- Namespace --------------------------------------------------------------------------

def validate_namespace(ns: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(ns, "metadata"), names.name_is_dns_label)
    for fin in a.strs(a.m(ns, "spec"), "finalizers"):
        errs += validate_finalizers([fin], "spec.finalizers", kube=False)
        errs += validate_kube_finalizer_name(fin, "spec.finalizers")
    return errs


def validate_namespace_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))


def validate_namespace_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    phase = a.s(a.m(new, "status"), "phase")
    if not a.s(a.m(new, "metadata"), "deletionTimestamp"):
        if phase != "Active":
            errs.append(f.invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty"))
    elif phase != "Terminating":
        errs.append(f.invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
    return errs


def validate_namespace_finalize_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    for n, fin in enumerate(a.strs(a.m(new, "spec"), "finalizers")):
        p = f.index("spec.finalizers", n)
        errs += validate_finalizers([fin], p, kube=False) + validate_kube_finalizer_name(fin, p)
    return errs


# -- Node -------------------------------------------------------------------------------------

def _pod_cidrs(spec: Mapping[str, Any]) -> list[str]:
    cidrs = a.strs(spec, "podCIDRs")
    return cidrs or ([a.s(spec, "podCIDR")] if a.s(spec, "podCIDR") else [])


def _node_resources(node: Mapping[str, Any]) -> list[Cause]:
    errs: list[Cause] = []
    status = a.m(node, "status")
    for kind in ("capacity", "allocatable"):
        values = a.m(status, kind)
        for name in sorted(values):
            p = f"status.{kind}.{name}"
            q = resources.parse_quantity(values[name], p, errs)
            if q is not None:
                errs += resources.validate_quantity_value(name, q, p)
    return errs


def validate_node(node: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(node, "metadata"), names.name_is_dns_subdomain)
    spec = a.m(node, "spec")
    errs += validate_taints(a.dicts(spec, "taints"), "metadata.taints")
    errs += _node_resources(node)
    cidrs = _pod_cidrs(spec)
    for n, cidr in enumerate(cidrs):
        errs += [f.invalid(f"spec.podCIDRs[{n}]", cidr, m) for m in names.is_valid_cidr(cidr)]
    if len(cidrs) > 1:
        parsed = [names.parse_cidr_sloppy(c) for c in cidrs]
        families = {len(p[0]) if p else 0 for p in parsed}
        if len(cidrs) > 2 or families != {4, 16}:
            errs.append(f.invalid("spec.podCIDRs", f.GoValue(f.go_string_slice(cidrs)),
                                  "may specify no more than one CIDR for each IP family"))
        seen: set[str] = set()
        for n, cidr in enumerate(cidrs):
            if cidr in seen:
                errs.append(f.duplicate(f"spec.podCIDRs[{n}]", cidr))
            seen.add(cidr)
    return errs


def validate_node_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += _node_resources(new)
    seen: list[Mapping[str, Any]] = []
    for n, addr in enumerate(a.dicts(a.m(new, "status"), "addresses")):
        if addr in seen:
            errs.append(f.duplicate(f"status.addresses[{n}]", f.GoValue(
                f"core.NodeAddress{{Type:{f.go_quote(a.s(addr, 'type'))}, Address:{f.go_quote(a.s(addr, 'address'))}}}")))
        seen.append(addr)
    ns, os_ = a.m(new, "spec"), a.m(old, "spec")
    old_cidrs, new_cidrs = _pod_cidrs(os_), _pod_cidrs(ns)
    detail = 'node updates may not change podCIDR except from "" to valid'
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            errs.append(f.forbidden("spec.podCIDRs", detail))
        else:
            errs += [f.forbidden("spec.podCIDRs", detail) for o, n in zip(old_cidrs, new_cidrs) if o != n]
    if a.s(os_, "providerID") and a.s(os_, "providerID") != a.s(ns, "providerID"):
        errs.append(f.forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    errs += validate_taints(a.dicts(ns, "taints"), "metadata.taints")
    if a.s(ns, "externalID") != a.s(os_, "externalID"):
        errs.append(f.forbidden("spec.externalID", "may not be updated"))
    return errs


# -- Event --------------------------------------------------------------------------------------

def _event_fields(event: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    """The internal core.Event view of a core/v1 or events.k8s.io/v1 Event."""
    if not strict:
        return {"involvedObject": a.m(event, "involvedObject"), "message": a.s(event, "message"),
                **{k: event.get(k) for k in ("eventTime", "reportingComponent", "reportingInstance", "action",
                                             "reason", "type", "firstTimestamp", "lastTimestamp", "count", "source")},
                "reportingController": a.s(event, "reportingComponent")}
    return {"involvedObject": a.m(event, "regarding"), "message": a.s(event, "note"),
            "reportingController": a.s(event, "reportingController"),
            "reportingInstance": event.get("reportingInstance"), "action": event.get("action"),
            "reason": event.get("reason"), "type": event.get("type"), "eventTime": event.get("eventTime"),
            "firstTimestamp": event.get("deprecatedFirstTimestamp"), "lastTimestamp": event.get("deprecatedLastTimestamp"),
            "count": event.get("deprecatedCount"), "source": event.get("deprecatedSource")}


def validate_event(event: Mapping[str, Any], group: str) -> list[Cause]:
    strict = group == "events.k8s.io"
    ev = _event_fields(event, strict)
    namespace = a.s(a.m(event, "metadata"), "namespace")
    involved_ns = a.s(ev["involvedObject"], "namespace")
    controller_field = "reportingController" if strict else "source"
    errs: list[Cause] = []
    if not ev.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(f.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"))
        elif namespace != involved_ns:
            errs.append(f.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"))
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(f.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"))
        controller = a.s(ev, "reportingController")
        if not controller:
            errs.append(f.required(controller_field))
        errs += validate_qualified_name(controller, controller_field)
        for name, limit, required in (("reportingInstance", 128, True), ("action", 128, True), ("reason", 128, True),
                                      ("message", 1024, False)):
            value = a.s(ev, name)
            if required and not value:
                errs.append(f.required(name))
            if len(value) > limit:
                errs.append(f.invalid(name, "", f"can have at most {limit} characters"))
    errs += [f.invalid("namespace", namespace, m) for m in names.is_dns1123_subdomain(namespace)]
    if not strict:
        return errs
    errs += validate_object_meta(a.m(event, "metadata"), names.name_is_dns_subdomain)
    if not ev.get("eventTime"):
        errs.append(f.required("eventTime"))
    if ev.get("type") not in ("Normal", "Warning"):
        errs.append(f.invalid("type", "", f"has invalid value: {a.s(ev, 'type')}"))
    for name in ("firstTimestamp", "lastTimestamp", "count"):
        if ev.get(name):
            errs.append(f.invalid(name, "", "needs to be unset"))
    source = a.m(ev, "source")
    if a.s(source, "component") or a.s(source, "host"):
        errs.append(f.invalid("source", "", "needs to be unset"))
    return errs


def validate_event_update(new: Mapping[str, Any], old: Mapping[str, Any], group: str) -> list[Cause]:
    # ValidateEventUpdate starts with ValidateEventCreate for the request's version.
    errs = validate_event(new, group)
    if group != "events.k8s.io":
        return errs
    errs += validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    for name in ("regarding", "related", "reportingController", "reportingInstance", "action", "reason", "note",
                 "type", "eventTime"):
        if new.get(name) != old.get(name):
            v = new.get(name)
            errs.append(f.invalid(name, v if isinstance(v, str) else f.GoValue("{...}"), f.FIELD_IMMUTABLE))
    return errs


# -- Lease ----------------------------------------------------------------------------------------

def _lease_spec(spec: Mapping[str, Any]) -> list[Cause]:
    errs: list[Cause] = []
    duration, transitions = a.ip(spec, "leaseDurationSeconds"), a.ip(spec, "leaseTransitions")
    if duration is not None and duration <= 0:
        errs.append(f.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if transitions is not None and transitions < 0:
        errs.append(f.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if isinstance(strategy, str):
        if "/" not in strategy and strategy != "OldestEmulationVersion":
            errs.append(f.not_supported("spec.strategy.strategy", strategy, ("OldestEmulationVersion",)))
        elif "/" in strategy:
            errs += [f.invalid("spec.strategy.strategy", strategy, m) for m in names.is_qualified_name(strategy)]
    if a.s(spec, "preferredHolder") and not a.s(spec, "strategy"):
        errs.append(f.forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return errs


def validate_lease(lease: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(lease, "metadata"), names.name_is_dns_subdomain, kube_finalizers=False)
    return errs + _lease_spec(a.m(lease, "spec"))


def validate_lease_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"), kube_finalizers=False)
    return errs + _lease_spec(a.m(new, "spec"))


# -- PriorityClass -----------------------------------------------------------------------------

def validate_priority_class(pc: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(pc, "metadata"), names.name_is_dns_subdomain)
    name, value = a.s(a.m(pc, "metadata"), "name"), a.i(pc, "value")
    if name.startswith("system-"):
        problem = ""
        if name not in SYSTEM_PRIORITY_CLASSES:
            problem = f"{name} is not a known system priority class"
        elif SYSTEM_PRIORITY_CLASSES[name] != value:
            problem = f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
        elif a.b(pc, "globalDefault"):
            problem = f"globalDefault of {name} PriorityClass must be false"
        if problem:
            errs.append(f.forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for "
                                                     f"system use only. error: {problem}"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(f.forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    policy = pc.get("preemptionPolicy")
    if isinstance(policy, str):
        if not policy:
            errs.append(f.required("preemptionPolicy"))
        elif policy not in ("PreemptLowerPriority", "Never"):
            errs.append(f.not_supported("preemptionPolicy", policy, ("PreemptLowerPriority", "Never")))
    return errs


def validate_priority_class_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    if a.i(new, "value") != a.i(old, "value"):
        errs.append(f.forbidden("value", "may not be changed in an update."))
    errs += f.immutable("preemptionPolicy", new.get("preemptionPolicy"), old.get("preemptionPolicy"))
    return errs
