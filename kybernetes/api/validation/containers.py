"""Containers of a pod spec: names, images, ports, env, mounts, probes, resources, security.

Follows core validation's ``validateContainers``, ``validateInitContainers`` and
``validateContainerCommon``: container names are DNS labels unique across
containers and init containers, an image is required, ports are 1–65535 with
unique IANA names, env names follow ``IsEnvVarName``, every volume mount names
a declared volume, probes have exactly one handler, requests do not exceed
limits. Input is a defaulted pod spec (the API server defaults before it
validates), so e.g. a missing ``imagePullPolicy`` is reported as required.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.env import validate_env, validate_env_from
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.mounts import validate_volume_devices, validate_volume_mounts
from kybernetes.api.validation.probes import probes_and_lifecycle

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_NOT_FOR_INIT = "may not be set for init containers without restartPolicy=Always"


def validate_ports(ports: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for n, port in enumerate(ports):
        p = f.index(path, n)
        name = a.s(port, "name")
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                errs += [f.invalid(f.child(p, "name"), name, m) for m in msgs]
            elif name in seen:
                errs.append(f.duplicate(f.child(p, "name"), name))
            else:
                seen.add(name)
        cp = a.i(port, "containerPort")
        if cp == 0:
            errs.append(f.required(f.child(p, "containerPort")))
        else:
            errs += [f.invalid(f.child(p, "containerPort"), cp, m) for m in names.is_valid_port_num(cp)]
        hp = a.i(port, "hostPort")
        if hp != 0:
            errs += [f.invalid(f.child(p, "hostPort"), hp, m) for m in names.is_valid_port_num(hp)]
        proto = a.s(port, "protocol")
        if not proto:
            errs.append(f.required(f.child(p, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(f.not_supported(f.child(p, "protocol"), proto, PROTOCOLS))
    return errs


def validate_container_common(c: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
                              pod_claims: set[str], path: str, restart_policy: str,
                              host_users: bool) -> list[Cause]:
    from kybernetes.api.validation.security import validate_security_context

    errs: list[Cause] = []
    name = a.s(c, "name")
    if not name:
        errs.append(f.required(f.child(path, "name")))
    else:
        errs += [f.invalid(f.child(path, "name"), name, m) for m in names.is_dns1123_label(name)]
    if not a.s(c, "image"):
        errs.append(f.required(f.child(path, "image")))
    tmp = a.s(c, "terminationMessagePolicy")
    if not tmp:
        errs.append(f.required(f.child(path, "terminationMessagePolicy")))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(f.not_supported(f.child(path, "terminationMessagePolicy"), tmp, ("File", "FallbackToLogsOnError")))
    errs += validate_ports(a.dicts(c, "ports"), f.child(path, "ports"))
    errs += validate_env(a.dicts(c, "env"), f.child(path, "env"))
    errs += validate_env_from(a.dicts(c, "envFrom"), f.child(path, "envFrom"))
    errs += validate_volume_mounts(c, volumes, f.child(path, "volumeMounts"))
    errs += validate_volume_devices(c, volumes, f.child(path, "volumeDevices"))
    ipp = a.s(c, "imagePullPolicy")
    if not ipp:
        errs.append(f.required(f.child(path, "imagePullPolicy")))
    elif ipp not in PULL_POLICIES:
        errs.append(f.not_supported(f.child(path, "imagePullPolicy"), ipp, PULL_POLICIES))
    errs += resources.validate_resource_requirements(a.m(c, "resources"), f.child(path, "resources"), pod_claims)
    errs += _validate_resize_policy(a.dicts(c, "resizePolicy"), f.child(path, "resizePolicy"), restart_policy)
    errs += validate_security_context(a.mp(c, "securityContext"), f.child(path, "securityContext"), host_users)
    return errs


def _validate_resize_policy(policies: list[Mapping[str, Any]], path: str, restart_policy: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for n, pol in enumerate(policies):
        rn, rp = a.s(pol, "resourceName"), a.s(pol, "restartPolicy")
        if rn in seen:
            errs.append(f.duplicate(f.index(path, n), rn))
        seen.add(rn)
        if not rn:
            errs.append(f.required(path))
        elif rn not in ("cpu", "memory"):
            errs.append(f.not_supported(path, rn, ("cpu", "memory")))
        if not rp:
            errs.append(f.required(path))
        elif rp not in ("NotRequired", "RestartContainer"):
            errs.append(f.not_supported(path, rp, ("NotRequired", "RestartContainer")))
        if restart_policy == "Never" and rp != "NotRequired":
            errs.append(f.invalid(path, rp, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errs


def _host_port_conflicts(containers: list[Mapping[str, Any]], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(a.dicts(c, "ports")):
            hp = a.i(port, "hostPort")
            if hp == 0:
                continue
            k = f"{a.s(port, 'protocol')}/{a.s(port, 'hostIP')}/{hp}"
            if k in seen:
                errs.append(f.duplicate(f.child(f.index(f.child(f.index(path, ci), "ports"), pi), "hostPort"), k))
            seen.add(k)
    return errs


def validate_containers(containers: list[Mapping[str, Any]], volumes: Mapping[str, Mapping[str, Any]],
                        pod_claims: set[str], grace: int | None, path: str, restart_policy: str,
                        host_users: bool) -> list[Cause]:
    if not containers:
        return [f.required(path)]
    errs: list[Cause] = []
    seen: set[str] = set()
    for n, c in enumerate(containers):
        p = f.index(path, n)
        errs += validate_container_common(c, volumes, pod_claims, p, restart_policy, host_users)
        name = a.s(c, "name")
        if name in seen:
            errs.append(f.duplicate(f.child(p, "name"), name))
        else:
            seen.add(name)
        errs += probes_and_lifecycle(c, grace, p)
        if a.has(c, "restartPolicy"):
            errs.append(f.forbidden(f.child(p, "restartPolicy"), "may not be set for non-init containers"))
    errs += _host_port_conflicts(containers, path)
    return errs


def validate_init_containers(init: list[Mapping[str, Any]], regular: list[Mapping[str, Any]],
                             volumes: Mapping[str, Mapping[str, Any]], pod_claims: set[str], grace: int | None,
                             path: str, restart_policy: str, host_users: bool) -> list[Cause]:
    errs: list[Cause] = []
    seen = {a.s(c, "name") for c in regular}
    for n, c in enumerate(init):
        p = f.index(path, n)
        errs += validate_container_common(c, volumes, pod_claims, p, restart_policy, host_users)
        always = False
        if a.has(c, "restartPolicy"):
            rp = a.s(c, "restartPolicy")
            if rp != "Always":
                errs.append(f.not_supported(f.child(p, "restartPolicy"), rp, ("Always",)))
            always = rp == "Always"
        name = a.s(c, "name")
        if name in seen:
            errs.append(f.duplicate(f.child(p, "name"), name))
        elif name:
            seen.add(name)
        errs += _host_port_conflicts([c], path)
        if always:
            errs += probes_and_lifecycle(c, grace, p)
        else:
            for hook in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if a.has(c, hook):
                    errs.append(f.forbidden(f.child(p, hook), _NOT_FOR_INIT))
    return errs


_EPHEMERAL_FORBIDDEN = ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                        "resizePolicy", "restartPolicy")


def validate_ephemeral_containers(eph: list[Mapping[str, Any]], regular: list[Mapping[str, Any]],
                                  init: list[Mapping[str, Any]], volumes: Mapping[str, Mapping[str, Any]],
                                  pod_claims: set[str], path: str, restart_policy: str,
                                  host_users: bool) -> list[Cause]:
    errs: list[Cause] = []
    others = {a.s(c, "name") for c in regular + init}
    seen = set(others)
    for n, c in enumerate(eph):
        p = f.index(path, n)
        errs += validate_container_common(c, volumes, pod_claims, p, restart_policy, host_users)
        image = a.s(c, "image")
        if image != image.strip():
            errs.append(f.invalid(f.child(p, "image"), image, "must not have leading or trailing whitespace"))
        name = a.s(c, "name")
        if name in seen:
            errs.append(f.duplicate(f.child(p, "name"), name))
        else:
            seen.add(name)
        target = a.s(c, "targetContainerName")
        if target and target not in others:
            errs.append(f.not_found(f.child(p, "targetContainerName"), target))
        for fld in _EPHEMERAL_FORBIDDEN:
            v = c.get(fld)
            if v not in (None, {}, [], ""):
                errs.append(f.forbidden(f.child(p, fld), "cannot be set for an Ephemeral Container"))
        for mi, vm in enumerate(a.dicts(c, "volumeMounts")):
            for sub in ("subPath", "subPathExpr"):
                if a.s(vm, sub):
                    errs.append(f.forbidden(f.child(f.index(f.child(p, "volumeMounts"), mi), sub),
                                            "cannot be set for an Ephemeral Container"))
    return errs
