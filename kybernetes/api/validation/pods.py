"""Pods and pod templates: ValidatePodSpec and pod create (updates live in pod_updates).

The pod spec rules (restartPolicy and dnsPolicy enums, grace period required,
hostname/subdomain DNS labels, nodeName, tolerations, affinity, DNS config, …)
are shared by every workload's pod template.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import containers, scheduling, security, volumes
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    validate_annotations, validate_labels, validate_object_meta, validate_qualified_name,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
MAX_INT32 = 2**31 - 1
UPDATABLE_FIELDS = ",".join((
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"))


def _enum(value: str, allowed: tuple[str, ...], path: str) -> list[Cause]:
    if not value:
        return [f.required(path)]
    if value not in allowed:
        return [f.not_supported(path, value, allowed)]
    return []


def _names(value: str, check: Any, path: str) -> list[Cause]:
    return [f.invalid(path, value, m) for m in check(value)]


def validate_pod_annotations(annotations: Mapping[str, str] | None, spec: Mapping[str, Any], path: str) -> list[Cause]:
    """ValidatePodSpecificAnnotations (mirror pods, deletion cost)."""
    ann = annotations or {}
    errs: list[Cause] = []
    if MIRROR_ANNOTATION in ann and not a.s(spec, "nodeName"):
        errs.append(f.invalid(f.key(path, MIRROR_ANNOTATION), ann[MIRROR_ANNOTATION],
                              "must set spec.nodeName if mirror pod annotation is set"))
    if DELETION_COST_ANNOTATION in ann:
        cost = ann[DELETION_COST_ANNOTATION]
        ok = cost.lstrip("+-").isdigit() and -(2**31) <= int(cost) <= MAX_INT32
        if not ok:
            errs.append(f.invalid(f.key(path, DELETION_COST_ANNOTATION), cost, "must be a 32bit integer"))
    return errs


def _dns_config(spec: Mapping[str, Any], path: str) -> list[Cause]:
    cfg = a.mp(spec, "dnsConfig")
    if a.s(spec, "dnsPolicy") == "None":
        if cfg is None:
            return [f.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not a.lst(cfg, "nameservers"):
            return [f.required(f.child(path, "nameservers"),
                               "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if cfg is None:
        return []
    errs: list[Cause] = []
    servers, searches = a.strs(cfg, "nameservers"), a.strs(cfg, "searches")
    if len(servers) > 3:
        errs.append(f.invalid(f.child(path, "nameservers"), f.GoValue(f.go_string_slice(servers)),
                              "must not have more than 3 nameservers"))
    for i, ns in enumerate(servers):
        errs += _names(ns, names.is_valid_ip, f.index(f.child(path, "nameservers"), i))
    if len(searches) > 32:
        errs.append(f.invalid(f.child(path, "searches"), f.GoValue(f.go_string_slice(searches)),
                              "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(f.invalid(f.child(path, "searches"), f.GoValue(f.go_string_slice(searches)),
                              "must not have more than 2048 characters (including spaces) in the search list"))
    for i, search in enumerate(searches):
        search = search[:-1] if search.endswith(".") else search
        errs += _names(search, names.is_dns1123_subdomain, f.index(f.child(path, "searches"), i))
    for i, opt in enumerate(a.dicts(cfg, "options")):
        if not a.s(opt, "name"):
            errs.append(f.required(f.index(f.child(path, "options"), i), "must not be empty"))
    return errs


def _os(spec: Mapping[str, Any], path: str) -> list[Cause]:
    os_ = a.mp(spec, "os")
    if os_ is None:
        return []
    name = a.s(os_, "name")
    if not name:
        return [f.required(f.child(path, "os", "name"), "cannot be empty")]
    if name not in ("linux", "windows"):
        return [f.not_supported(f.child(path, "os"), name, ("linux", "windows"))]
    errs: list[Cause] = []
    every = a.dicts(spec, "initContainers") + a.dicts(spec, "containers") + a.dicts(spec, "ephemeralContainers")
    kinds = ["initContainers"] * len(a.lst(spec, "initContainers")) + ["containers"] * len(a.lst(spec, "containers")) \
        + ["ephemeralContainers"] * len(a.lst(spec, "ephemeralContainers"))
    counters: dict[str, int] = {}
    pod_sc = a.m(spec, "securityContext")
    if name == "linux":
        if a.has(pod_sc, "windowsOptions"):
            errs.append(f.forbidden(f.child(path, "securityContext", "windowsOptions"),
                                    "windows options cannot be set for a linux pod"))
    else:
        for fld in ("appArmorProfile", "seLinuxOptions", "seccompProfile", "fsGroup", "fsGroupChangePolicy",
                    "sysctls", "runAsUser", "runAsGroup", "supplementalGroups", "supplementalGroupsPolicy"):
            if pod_sc.get(fld) not in (None, []):
                errs.append(f.forbidden(f.child(path, "securityContext", fld), "cannot be set for a windows pod"))
        for fld in ("hostUsers", "shareProcessNamespace"):
            if a.has(spec, fld):
                errs.append(f.forbidden(f.child(path, fld), "cannot be set for a windows pod"))
        for fld in ("hostPID", "hostIPC"):
            if a.b(spec, fld):
                errs.append(f.forbidden(f.child(path, fld), "cannot be set for a windows pod"))
    for c, kind in zip(every, kinds):
        n = counters.get(kind, 0)
        counters[kind] = n + 1
        sc = a.mp(c, "securityContext")
        if sc is None:
            continue
        sp = f.child(f.index(f.child(path, kind), n), "securityContext")
        if name == "linux" and a.has(sc, "windowsOptions"):
            errs.append(f.forbidden(f.child(sp, "windowsOptions"), "windows options cannot be set for a linux pod"))
        if name == "windows":
            for fld in ("appArmorProfile", "seLinuxOptions", "seccompProfile", "capabilities", "readOnlyRootFilesystem",
                        "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser", "runAsGroup"):
                if a.has(sc, fld):
                    errs.append(f.forbidden(f.child(sp, fld), "cannot be set for a windows pod"))
    return errs


def validate_pod_spec(spec: Mapping[str, Any], pod_meta: Mapping[str, Any] | None, path: str,
                      is_pod: bool = False) -> list[Cause]:
    """ValidatePodSpec; `pod_meta` is given only for real pods (generic ephemeral volume names)."""
    errs: list[Cause] = []
    grace = a.ip(spec, "terminationGracePeriodSeconds")
    if grace is None:
        errs.append(f.required(f.child(path, "terminationGracePeriodSeconds")))
    host_users = a.bp(spec, "hostUsers") is not False
    restart = a.s(spec, "restartPolicy")
    vols, verrs = volumes.validate_volumes(a.dicts(spec, "volumes"), pod_meta, f.child(path, "volumes"), is_pod)
    errs += verrs
    claims = {a.s(c, "name") for c in a.dicts(spec, "resourceClaims") if a.s(c, "name")}
    errs += _resource_claims(a.dicts(spec, "resourceClaims"), f.child(path, "resourceClaims"))
    regular, init = a.dicts(spec, "containers"), a.dicts(spec, "initContainers")
    errs += containers.validate_containers(regular, vols, claims, grace, f.child(path, "containers"), restart, host_users)
    errs += containers.validate_init_containers(init, regular, vols, claims, grace, f.child(path, "initContainers"),
                                                restart, host_users)
    errs += containers.validate_ephemeral_containers(a.dicts(spec, "ephemeralContainers"), regular, init, vols, claims,
                                                     f.child(path, "ephemeralContainers"), restart, host_users)
    if a.b(spec, "hostNetwork"):
        for ci, c in enumerate(regular):
            for pi, port in enumerate(a.dicts(c, "ports")):
                hp, cp = a.i(port, "hostPort"), a.i(port, "containerPort")
                if (is_pod or hp != 0) and hp != cp:
                    pp = f.child(f.index(f.child(f.index(f.child(path, "containers"), ci), "ports"), pi), "hostPort")
                    errs.append(f.invalid(pp, hp, "must match `containerPort` when `hostNetwork` is true"))
    errs += _enum(restart, RESTART_POLICIES, f.child(path, "restartPolicy"))
    errs += _enum(a.s(spec, "dnsPolicy"), DNS_POLICIES, f.child(path, "dnsPolicy"))
    errs += validate_labels(a.sm(spec, "nodeSelector"), f.child(path, "nodeSelector"))
    errs += security.validate_pod_security_context(spec, f.child(path, "securityContext"))
    errs += scheduling.validate_affinity(a.mp(spec, "affinity"), f.child(path, "affinity"))
    errs += _dns_config(spec, f.child(path, "dnsConfig"))
    for i, gate in enumerate(a.dicts(spec, "readinessGates")):
        errs += validate_qualified_name(a.s(gate, "conditionType"), f.child(f.index(f.child(path, "readinessGates"), i),
                                                                            "conditionType"))
    seen: set[str] = set()
    for i, gate in enumerate(a.dicts(spec, "schedulingGates")):
        gp = f.index(f.child(path, "schedulingGates"), i)
        errs += validate_qualified_name(a.s(gate, "name"), gp)
        if a.s(gate, "name") in seen:
            errs.append(f.duplicate(gp, a.s(gate, "name")))
        seen.add(a.s(gate, "name"))
    errs += scheduling.validate_topology_spread(a.dicts(spec, "topologySpreadConstraints"),
                                                f.child(path, "topologySpreadConstraints"))
    for fld, check in (("serviceAccountName", names.name_is_dns_subdomain), ("nodeName", names.name_is_dns_subdomain)):
        if a.s(spec, fld):
            errs += _names(a.s(spec, fld), check, f.child(path, fld))
    ads = a.ip(spec, "activeDeadlineSeconds")
    if ads is not None and not 1 <= ads <= MAX_INT32:
        errs.append(f.invalid(f.child(path, "activeDeadlineSeconds"), ads, names.inclusive_range_error(1, MAX_INT32)))
    for fld in ("hostname", "subdomain"):
        if a.s(spec, fld):
            errs += _names(a.s(spec, fld), names.is_dns1123_label, f.child(path, fld))
    errs += scheduling.validate_tolerations(a.dicts(spec, "tolerations"), f.child(path, "tolerations"))
    for i, alias in enumerate(a.dicts(spec, "hostAliases")):
        ap = f.index(f.child(path, "hostAliases"), i)
        errs += _names(a.s(alias, "ip"), names.is_valid_ip, f.child(ap, "ip"))
        for j, host in enumerate(a.strs(alias, "hostnames")):
            errs += _names(host, names.is_dns1123_subdomain, f.index(f.child(ap, "hostnames"), j))
    if a.s(spec, "priorityClassName"):
        errs += _names(a.s(spec, "priorityClassName"), names.name_is_dns_subdomain, f.child(path, "priorityClassName"))
    if isinstance(spec.get("runtimeClassName"), str):
        errs += _names(a.s(spec, "runtimeClassName"), names.name_is_dns_subdomain, f.child(path, "runtimeClassName"))
    if isinstance(spec.get("preemptionPolicy"), str):
        errs += _enum(a.s(spec, "preemptionPolicy"), ("PreemptLowerPriority", "Never"), f.child(path, "preemptionPolicy"))
    if a.has(spec, "overhead"):
        from kybernetes.api.validation.resources import validate_resource_requirements
        errs += validate_resource_requirements({"limits": a.m(spec, "overhead")}, f.child(path, "overhead"), set())
    errs += _os(spec, path)
    return errs


def _resource_claims(claims: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for i, claim in enumerate(claims):
        p = f.index(path, i)
        name = a.s(claim, "name")
        if not name:
            errs.append(f.required(f.child(p, "name")))
        elif name in seen:
            errs.append(f.duplicate(f.child(p, "name"), name))
        else:
            errs += _names(name, names.is_dns1123_label, f.child(p, "name"))
            seen.add(name)
        has_name, has_tmpl = a.has(claim, "resourceClaimName"), a.has(claim, "resourceClaimTemplateName")
        if has_name and has_tmpl:
            errs.append(f.invalid(p, f.GoValue("core.PodResourceClaim{...}"),
                                  "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
        if not has_name and not has_tmpl:
            errs.append(f.invalid(p, f.GoValue("core.PodResourceClaim{...}"),
                                  "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
    return errs


def validate_pod_template_spec(tmpl: Mapping[str, Any], path: str) -> list[Cause]:
    """ValidatePodTemplateSpec: template labels, annotations and the pod spec."""
    meta, spec = a.m(tmpl, "metadata"), a.m(tmpl, "spec")
    errs = validate_labels(a.sm(meta, "labels"), f.child(path, "labels"))
    errs += validate_annotations(a.sm(meta, "annotations"), f.child(path, "annotations"))
    errs += validate_pod_annotations(a.sm(meta, "annotations"), spec, f.child(path, "annotations"))
    errs += validate_pod_spec(spec, None, f.child(path, "spec"))
    if a.lst(spec, "ephemeralContainers"):
        errs.append(f.forbidden(f.child(path, "spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
    return errs


def metadata_and_spec(pod: Mapping[str, Any]) -> list[Cause]:
    meta, spec = a.m(pod, "metadata"), a.m(pod, "spec")
    errs = validate_object_meta(meta, names.name_is_dns_subdomain)
    errs += validate_pod_annotations(a.sm(meta, "annotations"), spec, "metadata.annotations")
    errs += validate_pod_spec(spec, meta, "spec", is_pod=True)
    if not a.s(spec, "serviceAccountName"):
        for vi, vol in enumerate(a.dicts(spec, "volumes")):
            for si, src in enumerate(a.dicts(a.m(vol, "projected"), "sources")):
                if a.has(src, "serviceAccountToken"):
                    errs.append(f.forbidden(f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                                            "must not be specified when serviceAccountName is not set"))
    for kind in ("containers", "initContainers"):
        for n, c in enumerate(a.dicts(spec, kind)):
            image = a.s(c, "image")
            if image != image.strip():
                errs.append(f.invalid(f"spec.{kind}[{n}].image", image, "must not have leading or trailing whitespace"))
    return errs


def validate_pod_create(pod: Mapping[str, Any]) -> list[Cause]:
    errs = metadata_and_spec(pod)
    spec = a.m(pod, "spec")
    if a.lst(spec, "ephemeralContainers"):
        errs.append(f.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if a.s(spec, "nodeName") and a.lst(spec, "schedulingGates"):
        errs.append(f.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


__all__ = ["validate_pod_spec", "validate_pod_template_spec", "validate_pod_create", "validate_pod_annotations",
           "metadata_and_spec", "MIRROR_ANNOTATION"]
