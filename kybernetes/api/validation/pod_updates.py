"""Pod updates: the main resource, status (from kubelets and controllers), ephemeral containers, bindings.

Pod updates may only change container images, ``activeDeadlineSeconds``
(downwards), tolerations (additions), scheduling gates (removals) and a
negative grace period to 1; anything else is ``Forbidden: pod updates may not
change fields other than ...`` followed by a diff. Upstream prints a
``cmp.Diff`` of Go structs there; kybernetes prints a smaller diff of the
changed top-level spec fields.

ValidatePodStatusUpdate lets the status change freely but keeps the
invariants users and components rely on: ``spec.nodeName`` is not changed
through status, QoS class never changes, a terminated container of a pod that
does not restart stays terminated, pod and host IPs are valid and at most one
per IP family.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from kybernetes.api import names, quantities
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.access import semantic
from kybernetes.api.validation.meta import validate_object_meta_update, validate_qualified_name
from kybernetes.api.validation.pods import (
    MAX_INT32, MIRROR_ANNOTATION, UPDATABLE_FIELDS, metadata_and_spec, validate_pod_annotations,
)

SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized")


def _transitions(new: list[Mapping[str, Any]], old: list[Mapping[str, Any]], path: str, restart: str,
                 restartable: set[str] = frozenset()) -> list[Cause]:  # type: ignore[assignment]
    if restart == "Always":
        return []
    errs: list[Cause] = []
    for i, o in enumerate(old):
        term = a.mp(a.m(o, "state"), "terminated")
        if term is None:
            continue
        if a.i(term, "exitCode") != 0 and restart == "OnFailure":
            continue
        if a.s(o, "name") in restartable:
            continue
        for n in new:
            if a.s(n, "name") == a.s(o, "name") and not a.has(a.m(n, "state"), "terminated"):
                errs.append(f.forbidden(f.child(f.index(path, i), "state"), "may not be transitioned to non-terminated state"))
    return errs


def _ip_family(ip: str) -> int:
    packed = names.parse_ip_sloppy(ip)
    return 4 if packed is not None and names.ip_is_v4(packed) else 6


def _ips(entries: list[Mapping[str, Any]], path: str, go_type: str) -> list[Cause]:
    errs: list[Cause] = []
    ips = [a.s(e, "ip") for e in entries]
    for i, ip in enumerate(ips):
        errs += [f.invalid(f.index(path, i), ip, m) for m in names.is_valid_ip(ip)]
    if len(ips) > 1:
        shown = f.GoValue(f"[]core.{go_type}{{" + ", ".join(f"core.{go_type}{{IP:{f.go_quote(ip)}}}" for ip in ips) + "}")
        if errs:
            return errs
        families = [_ip_family(ip) for ip in ips]
        if len(ips) > 2 or len(set(families)) != 2:
            errs.append(f.invalid(path, shown, "may specify no more than one IP for each IP family"))
        seen: set[str] = set()
        for i, ip in enumerate(ips):
            if ip in seen:
                errs.append(f.duplicate(f.index(path, i), f.GoValue(f"core.{go_type}{{IP:{f.go_quote(ip)}}}")))
            seen.add(ip)
    return errs


def validate_pod_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += _annotation_updates(new, old)
    status, old_status = a.m(new, "status"), a.m(old, "status")
    for i, cond in enumerate(a.dicts(status, "conditions")):
        if a.s(cond, "type") not in SYSTEM_CONDITIONS:
            errs += validate_qualified_name(a.s(cond, "type"), f"metadata.conditions[{i}].Type")
    if a.s(a.m(new, "spec"), "nodeName") != a.s(a.m(old, "spec"), "nodeName"):
        errs.append(f.forbidden("status.nodeName", "may not be changed directly"))
    nominated = a.s(status, "nominatedNodeName")
    if nominated and nominated != a.s(old_status, "nominatedNodeName"):
        errs += [f.invalid("status.nominatedNodeName", nominated, m) for m in names.name_is_dns_subdomain(nominated)]
    errs += f.immutable("status.qosClass", a.s(status, "qosClass"), a.s(old_status, "qosClass"))
    old_spec = a.m(old, "spec")
    restart = a.s(old_spec, "restartPolicy")
    restartable = {a.s(c, "name") for c in a.dicts(old_spec, "initContainers") if a.s(c, "restartPolicy") == "Always"}
    errs += _transitions(a.dicts(status, "containerStatuses"), a.dicts(old_status, "containerStatuses"),
                         "status.containerStatuses", restart)
    errs += _transitions(a.dicts(status, "initContainerStatuses"), a.dicts(old_status, "initContainerStatuses"),
                         "status.initContainerStatuses", restart, restartable)
    errs += _transitions(a.dicts(status, "ephemeralContainerStatuses"), a.dicts(old_status, "ephemeralContainerStatuses"),
                         "status.ephemeralContainerStatuses", "Never")
    errs += _ips(a.dicts(status, "podIPs"), "status.podIPs", "PodIP")
    host_ips = a.dicts(status, "hostIPs")
    if host_ips:
        if a.s(status, "hostIP") != a.s(host_ips[0], "ip"):
            errs.append(f.invalid("status.hostIPs[0].ip", a.s(host_ips[0], "ip"), "must be equal to `hostIP`"))
        errs += _ips(host_ips, "status.hostIPs", "HostIP")
    return errs


def validate_ephemeral_containers_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += metadata_and_spec(new) + _annotation_updates(new, old)
    if MIRROR_ANNOTATION in (a.sm(a.m(old, "metadata"), "annotations") or {}):
        return [f.forbidden("", "static pods do not support ephemeral containers")]
    by_name = {a.s(c, "name"): c for c in a.dicts(a.m(new, "spec"), "ephemeralContainers")}
    for o in a.dicts(a.m(old, "spec"), "ephemeralContainers"):
        name = a.s(o, "name")
        if name not in by_name:
            errs.append(f.forbidden("spec.ephemeralContainers", f'existing ephemeral containers "{name}" may not be removed\n'))
        elif by_name[name] != o:
            errs.append(f.forbidden("spec.ephemeralContainers", f'existing ephemeral containers "{name}" may not be changed\n'))
    return errs


def validate_binding(binding: Mapping[str, Any]) -> list[Cause]:
    target = a.m(binding, "target")
    errs: list[Cause] = []
    kind = a.s(target, "kind")
    if kind and kind != "Node":
        errs.append(f.not_supported("target.kind", kind, ("Node", "<empty>")))
    if not a.s(target, "name"):
        errs.append(f.required("target.name"))
    return errs


def _annotation_updates(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    na, oa = a.sm(a.m(new, "metadata"), "annotations") or {}, a.sm(a.m(old, "metadata"), "annotations") or {}
    errs: list[Cause] = []
    path = "metadata.annotations"
    if MIRROR_ANNOTATION in oa and na.get(MIRROR_ANNOTATION) != oa[MIRROR_ANNOTATION]:
        errs.append(f.forbidden(f.key(path, MIRROR_ANNOTATION), "may not remove or update mirror pod annotation"))
    if MIRROR_ANNOTATION in na and MIRROR_ANNOTATION not in oa:
        errs.append(f.forbidden(f.key(path, MIRROR_ANNOTATION), "may not add mirror pod annotation"))
    return errs + validate_pod_annotations(na, a.m(new, "spec"), path)


def _spec_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    lines = ["  core.PodSpec{"]
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            go_name = k[0].upper() + k[1:]
            if k in old:
                lines.append(f"- \t{go_name}: {json.dumps(old[k], sort_keys=True)},")
            if k in new:
                lines.append(f"+ \t{go_name}: {json.dumps(new[k], sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _canonical_resources(spec: dict[str, Any]) -> None:
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(kind, []) if isinstance(spec.get(kind), list) else []:
            for lst in ("limits", "requests"):
                res = c.get("resources", {}).get(lst) if isinstance(c, dict) and isinstance(c.get("resources"), dict) else None
                if isinstance(res, dict):
                    for name, q in list(res.items()):
                        try:
                            res[name] = quantities.canonicalize(q)
                        except (ValueError, TypeError):
                            pass


def validate_pod_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += metadata_and_spec(new)
    errs += _annotation_updates(new, old)
    ns, os_ = a.m(new, "spec"), a.m(old, "spec")
    for kind in ("containers", "initContainers"):
        nc, oc = a.dicts(ns, kind), a.dicts(os_, kind)
        if len(nc) != len(oc):
            return errs + [f.forbidden(f"spec.{kind}", "pod updates may not add or remove containers")]
        for n, c in enumerate(nc):
            image = a.s(c, "image")
            if not image:
                errs.append(f.required(f"spec.{kind}[{n}].image"))
            if image != image.strip():
                errs.append(f.invalid(f"spec.{kind}[{n}].image", image, "must not have leading or trailing whitespace"))
    new_ads, old_ads = a.ip(ns, "activeDeadlineSeconds"), a.ip(os_, "activeDeadlineSeconds")
    if new_ads is not None:
        if not 0 <= new_ads <= MAX_INT32:
            return errs + [f.invalid("spec.activeDeadlineSeconds", new_ads, names.inclusive_range_error(0, MAX_INT32))]
        if old_ads is not None and old_ads < new_ads:
            return errs + [f.invalid("spec.activeDeadlineSeconds", new_ads, "must be less than or equal to previous value")]
    elif old_ads is not None:
        errs.append(f.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    new_tol, old_tol = a.dicts(ns, "tolerations"), a.dicts(os_, "tolerations")
    for t in old_tol:
        base = {k: v for k, v in t.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in n.items() if k != "tolerationSeconds"} == base for n in new_tol):
            errs.append(f.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
            break
    old_gates = {a.s(g, "name") for g in a.dicts(os_, "schedulingGates")}
    for i, gate in enumerate(a.dicts(ns, "schedulingGates")):
        if a.s(gate, "name") not in old_gates:
            errs.append(f.forbidden(f"spec.schedulingGates[{i}].name",
                                    f"only deletion is allowed, but found new scheduling gate '{a.s(gate, 'name')}'"))
    munged: dict[str, Any] = json.loads(json.dumps(ns))
    for kind in ("containers", "initContainers"):
        for c, o in zip(munged.get(kind) or [], a.dicts(os_, kind)):
            if isinstance(c, dict):
                c["image"] = o.get("image")
    for fld in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(fld, None)
        if fld in os_:
            munged[fld] = os_[fld]
    old_grace = a.ip(os_, "terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and a.ip(munged, "terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if old_gates:
        n_sel, o_sel = a.sm(munged, "nodeSelector") or {}, a.sm(os_, "nodeSelector") or {}
        if n_sel != o_sel:
            if any(n_sel.get(k) != v for k, v in o_sel.items()):
                errs.append(f.invalid("spec.nodeSelector", f.GoValue(f.go_string_map(a.sm(munged, "nodeSelector"))),
                                      "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
            munged.pop("nodeSelector", None)
            if "nodeSelector" in os_:
                munged["nodeSelector"] = os_["nodeSelector"]
    old_copy: dict[str, Any] = json.loads(json.dumps(os_))
    _canonical_resources(munged)
    _canonical_resources(old_copy)
    a_new, a_old = semantic(munged), semantic(old_copy)
    if a_new != a_old:
        errs.append(f.forbidden("spec", f"pod updates may not change fields other than {UPDATABLE_FIELDS}\n"
                                        + _spec_diff(a_old, a_new)))
    return errs
