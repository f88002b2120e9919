"""Container environment: env vars, envFrom sources and downward API field selectors.

Follows core validation's ``ValidateEnv``, ``ValidateEnvFrom`` and the
downward API selector checks (which pod fields an env var or a downwardAPI
volume file may expose, which resource a resourceFieldRef may name, and its
divisor). Env var names and envFrom prefixes follow ``IsEnvVarName``.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.field import Cause

ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                   "status.podIPs")
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid")
RESOURCE_FIELD_PATHS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                        "requests.ephemeral-storage", "requests.memory")
_NOT_FOR_INIT = "may not be set for init containers without restartPolicy=Always"

_DOWNWARD_LABELS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                    "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
                    "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs", "status.podIP",
                    "status.podIPs")


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: `metadata.labels['app']` -> (path, subscript)."""
    if not field_path.endswith("']"):
        return None
    base, sep, sub = field_path[:-2].partition("['")
    if not sep or not base:
        return None
    return base, sub


def validate_object_field_selector(sel: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> list[Cause]:
    from kybernetes.api.validation.meta import validate_qualified_name

    version = a.s(sel, "apiVersion")
    if not version:
        return [f.required(f.child(path, "apiVersion"))]
    fp = a.s(sel, "fieldPath")
    if not fp:
        return [f.required(f.child(path, "fieldPath"))]
    # ConvertDownwardAPIFieldLabel
    problem = ""
    internal = fp
    split = _split_subscript(fp)
    if version != "v1":
        problem = f"unsupported pod version: {version}"
    elif split is not None:
        if split[0] not in ("metadata.annotations", "metadata.labels"):
            problem = f"field label does not support subscript: {fp}"
    elif fp == "spec.host":
        internal = "spec.nodeName"
    elif fp not in _DOWNWARD_LABELS:
        problem = f"field label not supported: {fp}"
    if problem:
        return [f.invalid(f.child(path, "fieldPath"), fp, f"error converting fieldPath: {problem}")]
    if split is not None:
        if split[0] == "metadata.annotations":
            return validate_qualified_name(split[1].lower(), path)
        return validate_qualified_name(split[1], path)
    if internal not in allowed:
        return [f.not_supported(f.child(path, "fieldPath"), internal, allowed)]
    return []


_CPU_DIVISORS = {"1m", "1"}
_MEM_DIVISORS = {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}


def validate_resource_field_selector(sel: Mapping[str, Any], path: str, volume: bool) -> list[Cause]:
    from kybernetes.api import quantities

    errs: list[Cause] = []
    res = a.s(sel, "resource")
    if volume and not a.s(sel, "containerName"):
        errs.append(f.required(f.child(path, "containerName")))
    elif not res:
        errs.append(f.required(f.child(path, "resource")))
    elif res not in RESOURCE_FIELD_PATHS and not res.startswith(("requests.hugepages-", "limits.hugepages-")):
        errs.append(f.not_supported(f.child(path, "resource"), res, RESOURCE_FIELD_PATHS))
    divisor = sel.get("divisor")
    if divisor is not None:
        q = resources.parse_quantity(divisor, f.child(path, "divisor"), errs)
        if q is not None and not q.is_zero():
            text = quantities.canonical(q)
            kind = {"limits.cpu": "cpu", "requests.cpu": "cpu", "limits.memory": "memory",
                    "requests.memory": "memory", "limits.ephemeral-storage": "local ephemeral storage",
                    "requests.ephemeral-storage": "local ephemeral storage"}.get(res)
            if res.startswith(("requests.hugepages-", "limits.hugepages-")):
                kind = "hugepages"
            allowed = _CPU_DIVISORS if kind == "cpu" else _MEM_DIVISORS
            if kind is not None and text not in allowed:
                listing = "1m and 1" if kind == "cpu" else ("1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, "
                                                             "1Ti, 1Pi, 1Ei")
                errs.append(f.invalid(f.child(path, "divisor"), res,
                                      f"only divisor's values {listing} are supported with the {kind} resource"))
    return errs


def _validate_key_selector(sel: Mapping[str, Any], path: str) -> list[Cause]:
    name = a.s(sel, "name")
    errs = [f.invalid(f.child(path, "name"), name, m) for m in names.name_is_dns_subdomain(name)]
    k = a.s(sel, "key")
    if not k:
        errs.append(f.required(f.child(path, "key")))
    else:
        errs += [f.invalid(f.child(path, "key"), k, m) for m in names.is_config_map_key(k)]
    return errs


def validate_env(env: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for n, ev in enumerate(env):
        p = f.index(path, n)
        name = a.s(ev, "name")
        if not name:
            errs.append(f.required(f.child(p, "name")))
        else:
            errs += [f.invalid(f.child(p, "name"), name, m) for m in names.is_env_var_name(name)]
        vf = a.mp(ev, "valueFrom")
        if vf is None:
            continue
        vp = f.child(p, "valueFrom")
        sources = 0
        if (fr := a.mp(vf, "fieldRef")) is not None:
            sources += 1
            errs += validate_object_field_selector(fr, ENV_FIELD_PATHS, f.child(vp, "fieldRef"))
        if (rr := a.mp(vf, "resourceFieldRef")) is not None:
            sources += 1
            errs += validate_resource_field_selector(rr, f.child(vp, "resourceFieldRef"), False)
        if (cr := a.mp(vf, "configMapKeyRef")) is not None:
            sources += 1
            errs += _validate_key_selector(cr, f.child(vp, "configMapKeyRef"))
        if (sr := a.mp(vf, "secretKeyRef")) is not None:
            sources += 1
            errs += _validate_key_selector(sr, f.child(vp, "secretKeyRef"))
        if sources == 0:
            errs.append(f.invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                          "`configMapKeyRef` or `secretKeyRef`"))
        elif a.s(ev, "value"):
            errs.append(f.invalid(vp, "", "may not be specified when `value` is not empty"))
        elif sources > 1:
            errs.append(f.invalid(vp, "", "may not have more than one field specified at a time"))
    return errs


def validate_env_from(env_from: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for n, ev in enumerate(env_from):
        p = f.index(path, n)
        prefix = a.s(ev, "prefix")
        if prefix:
            errs += [f.invalid(f.child(p, "prefix"), prefix, m) for m in names.is_env_var_name(prefix)]
        sources = 0
        for ref_name in ("configMapRef", "secretRef"):
            ref = a.mp(ev, ref_name)
            if ref is None:
                continue
            sources += 1
            rp = f.child(p, ref_name, "name")
            name = a.s(ref, "name")
            if not name:
                errs.append(f.required(rp))
            else:
                errs += [f.invalid(rp, name, m) for m in names.name_is_dns_subdomain(name, True)]
        if sources == 0:
            errs.append(f.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif sources > 1:
            errs.append(f.invalid(path, "", "may not have more than one field specified at a time"))
    return errs
