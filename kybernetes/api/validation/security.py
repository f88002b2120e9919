"""Pod and container security contexts: user and group IDs, seccomp, AppArmor, sysctls, procMount.

Follows core validation's ``ValidateSecurityContext`` and
``validatePodSpecSecurityContext``. Upstream keeps ``hostNetwork``,
``hostPID``, ``hostIPC``, ``shareProcessNamespace`` and ``hostUsers`` inside the
internal PodSecurityContext, so some messages name them under
``spec.securityContext`` although they are pod spec fields on the wire; the
paths are kept as kube-apiserver prints them.

kybernetes runs with privileged containers allowed (kube-apiserver's
``--allow-privileged=true``, as kubeadm and k3s set it).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.mounts import validate_local_descending_path
from kybernetes.api.validation.field import Cause

SYSCTL_SEGMENT_FMT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
SYSCTL_FMT = "(" + SYSCTL_SEGMENT_FMT + "[\\./])*" + SYSCTL_SEGMENT_FMT
_SYSCTL = re.compile(SYSCTL_FMT)
SYSCTL_MAX = 253


def _go_security_context(sc: Mapping[str, Any]) -> f.GoValue:
    fields = ", ".join(f"{k[0].upper()}{k[1:]}:{f.go_value(v) if not isinstance(v, (dict, list)) else '...'}"
                       for k, v in sc.items())
    return f.GoValue(f"core.SecurityContext{{{fields}}}")


def validate_seccomp(sp: Mapping[str, Any] | None, path: str) -> list[Cause]:
    if sp is None:
        return []
    errs: list[Cause] = []
    typ = a.s(sp, "type")
    choices = ("Localhost", "RuntimeDefault", "Unconfined")
    if not typ:
        errs.append(f.required(f.child(path, "type"), "type is required when seccompProfile is set"))
    elif typ not in choices:
        errs.append(f.not_supported(f.child(path, "type"), typ, choices))
    lp = sp.get("localhostProfile")
    if typ == "Localhost":
        if not isinstance(lp, str):
            errs.append(f.required(f.child(path, "localhostProfile"), "must be set when seccomp type is Localhost"))
        else:
            errs += validate_local_descending_path(lp, f.child(path, "localhostProfile"))
    elif lp is not None:
        shown = f.GoValue(f"core.SeccompProfile{{Type:{f.go_quote(typ)}, LocalhostProfile:(*string)(0xc000000000)}}")
        errs.append(f.invalid(f.child(path, "localhostProfile"), shown, "can only be set when seccomp type is Localhost"))
    return errs


def validate_apparmor(profile: Mapping[str, Any] | None, path: str) -> list[Cause]:
    if profile is None:
        return []
    errs: list[Cause] = []
    typ = a.s(profile, "type")
    lp = profile.get("localhostProfile")
    lpath = f.child(path, "localhostProfile")
    if typ == "Localhost":
        if not isinstance(lp, str):
            errs.append(f.required(lpath, "must be set when AppArmor type is Localhost"))
        else:
            if lp.strip() != lp:
                errs.append(f.invalid(lpath, lp, "must not be padded with whitespace"))
            elif not lp:
                errs.append(f.required(lpath, "must be set when AppArmor type is Localhost"))
            if len(lp.encode()) > 4095:
                errs.append(f.too_long(lpath, 4095))
    elif typ in ("RuntimeDefault", "Unconfined"):
        if lp is not None:
            errs.append(f.invalid(lpath, lp, "can only be set when AppArmor type is Localhost"))
    elif not typ:
        errs.append(f.required(f.child(path, "type"), "type is required when appArmorProfile is set"))
    else:
        errs.append(f.not_supported(f.child(path, "type"), typ, ("Localhost", "RuntimeDefault", "Unconfined")))
    return errs


def _validate_windows_options(opts: Mapping[str, Any] | None, path: str) -> list[Cause]:
    if opts is None:
        return []
    errs: list[Cause] = []
    spec_name = opts.get("gmsaCredentialSpecName")
    if isinstance(spec_name, str):
        errs += [f.invalid(f.child(path, "gmsaCredentialSpecName"), spec_name, m)
                 for m in names.is_dns1123_subdomain(spec_name)]
    cred = opts.get("gmsaCredentialSpec")
    if isinstance(cred, str):
        if not cred:
            errs.append(f.invalid(f.child(path, "gmsaCredentialSpec"), cred,
                                  "gmsaCredentialSpec cannot be an empty string"))
        elif len(cred.encode()) > 64 * 1024:
            errs.append(f.invalid(f.child(path, "gmsaCredentialSpec"), cred, "gmsaCredentialSpec size must be under 64 KiB"))
    user = opts.get("runAsUserName")
    if isinstance(user, str) and not user:
        errs.append(f.invalid(f.child(path, "runAsUserName"), user, "runAsUserName cannot be an empty string"))
    return errs


def validate_security_context(sc: Mapping[str, Any] | None, path: str, host_users: bool) -> list[Cause]:
    """ValidateSecurityContext (a container's)."""
    if sc is None:
        return []
    errs: list[Cause] = []
    for name, check in (("runAsUser", names.is_valid_user_id), ("runAsGroup", names.is_valid_group_id)):
        v = a.ip(sc, name)
        if v is not None:
            errs += [f.invalid(f.child(path, name), v, m) for m in check(v)]
    proc = sc.get("procMount")
    if isinstance(proc, str):
        if proc not in ("Default", "Unmasked"):
            errs.append(f.not_supported(f.child(path, "procMount"), proc, ("Default", "Unmasked")))
        if host_users and proc == "Unmasked":
            errs.append(f.invalid(f.child(path, "procMount"), proc, "`hostUsers` must be false to use `Unmasked`"))
    errs += validate_seccomp(a.mp(sc, "seccompProfile"), f.child(path, "seccompProfile"))
    if a.bp(sc, "allowPrivilegeEscalation") is False:
        if a.bp(sc, "privileged") is True:
            errs.append(f.invalid(path, _go_security_context(sc),
                                  "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
        if "CAP_SYS_ADMIN" in a.strs(a.m(sc, "capabilities"), "add"):
            errs.append(f.invalid(path, _go_security_context(sc),
                                  "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
    errs += _validate_windows_options(a.mp(sc, "windowsOptions"), f.child(path, "windowsOptions"))
    errs += validate_apparmor(a.mp(sc, "appArmorProfile"), f.child(path, "appArmorProfile"))
    return errs


def _sysctl_namespace(name: str) -> str:
    name = name.replace("/", ".")
    if name.startswith("net."):
        return "net"
    if name in ("kernel.sem",) or name.startswith(("kernel.shm", "kernel.msg", "fs.mqueue.")):
        return "ipc"
    return ""


def validate_pod_security_context(spec: Mapping[str, Any], path: str) -> list[Cause]:
    """validatePodSpecSecurityContext, plus validateHostUsers; `spec` is the whole pod spec."""
    sc = a.mp(spec, "securityContext")
    errs: list[Cause] = []
    spec_path = path.rsplit(".", 1)[0] if "." in path else ""
    if sc is not None:
        for name, check in (("fsGroup", names.is_valid_group_id), ("runAsUser", names.is_valid_user_id),
                            ("runAsGroup", names.is_valid_group_id)):
            v = a.ip(sc, name)
            if v is not None:
                errs += [f.invalid(f.child(path, name), v, m) for m in check(v)]
        for n, gid in enumerate(a.lst(sc, "supplementalGroups")):
            if isinstance(gid, int):
                errs += [f.invalid(f.index(f.child(path, "supplementalGroups"), n), gid, m)
                         for m in names.is_valid_group_id(gid)]
        errs += _validate_sysctls(sc, spec, f.child(path, "sysctls"))
        fgcp = sc.get("fsGroupChangePolicy")
        if isinstance(fgcp, str) and fgcp not in ("Always", "OnRootMismatch"):
            errs.append(f.not_supported(f.child(path, "fsGroupChangePolicy"), fgcp, ("Always", "OnRootMismatch")))
        errs += validate_seccomp(a.mp(sc, "seccompProfile"), f.child(path, "seccompProfile"))
        errs += _validate_windows_options(a.mp(sc, "windowsOptions"), f.child(path, "windowsOptions"))
        errs += validate_apparmor(a.mp(sc, "appArmorProfile"), f.child(path, "appArmorProfile"))
        sgp = sc.get("supplementalGroupsPolicy")
        if isinstance(sgp, str) and sgp not in ("Merge", "Strict"):
            errs.append(f.not_supported(f.child(path, "supplementalGroupsPolicy"), sgp, ("Merge", "Strict")))
    if a.bp(spec, "shareProcessNamespace") is True and a.b(spec, "hostPID"):
        errs.append(f.invalid(f.child(path, "shareProcessNamespace"), True,
                              "ShareProcessNamespace and HostPID cannot both be enabled"))
    if a.bp(spec, "hostUsers") is False:
        for wire, shown in (("hostNetwork", "hostNetwork"), ("hostPID", "HostPID"), ("hostIPC", "HostIPC")):
            if a.b(spec, wire):
                errs.append(f.forbidden(f.child(spec_path, shown), "when `pod.Spec.HostUsers` is false"))
    return errs


def _validate_sysctls(sc: Mapping[str, Any], spec: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for n, sysctl in enumerate(a.dicts(sc, "sysctls")):
        np = f.child(f.index(path, n), "name")
        name = a.s(sysctl, "name")
        if not name:
            errs.append(f.required(np))
        elif len(name) > SYSCTL_MAX or not _SYSCTL.fullmatch(name):
            errs.append(f.invalid(np, name, f"must have at most {SYSCTL_MAX} characters and match regex "
                                             f"^{SYSCTL_FMT}$"))
        elif name in seen:
            errs.append(f.duplicate(np, name))
        ns = _sysctl_namespace(name)
        if a.b(spec, "hostNetwork") and ns == "net":
            errs.append(f.invalid(np, name, "may not be specified when 'hostNetwork' is true"))
        elif a.b(spec, "hostIPC") and ns == "ipc":
            errs.append(f.invalid(np, name, "may not be specified when 'hostIPC' is true"))
        seen.add(name)
    return errs
