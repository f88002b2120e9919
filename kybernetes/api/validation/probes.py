"""Probes and lifecycle hooks: exactly one handler each, valid ports and paths, sane timings.

Liveness and startup probes need successThreshold 1; readiness probes may not
set their own termination grace period; sleep hooks stay within the pod's
grace period.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause

def validate_port_num_or_name(port: Any, path: str) -> list[Cause]:
    if isinstance(port, int) and not isinstance(port, bool):
        return [f.invalid(path, port, m) for m in names.is_valid_port_num(port)]
    if isinstance(port, str):
        return [f.invalid(path, port, m) for m in names.is_valid_port_name(port)]
    return [f.invalid(path, 0, m) for m in names.is_valid_port_num(0)]


def _validate_handler(handler: Mapping[str, Any], kinds: tuple[str, ...], grace: int | None,
                      path: str) -> list[Cause]:
    errs: list[Cause] = []
    count = 0
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        if kind not in kinds or not a.has(handler, kind):
            continue
        hp = f.child(path, kind)
        if count > 0:
            errs.append(f.forbidden(hp, "may not specify more than 1 handler type"))
            continue
        count += 1
        h = a.m(handler, kind)
        if kind == "exec" and not a.lst(h, "command"):
            errs.append(f.required(f.child(hp, "command")))
        elif kind == "httpGet":
            if not a.s(h, "path"):
                errs.append(f.required(f.child(hp, "path")))
            errs += validate_port_num_or_name(h.get("port"), f.child(hp, "port"))
            scheme = a.s(h, "scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(f.not_supported(f.child(hp, "scheme"), scheme, ("HTTP", "HTTPS")))
            for header in a.dicts(h, "httpHeaders"):
                hn = a.s(header, "name")
                errs += [f.invalid(f.child(hp, "httpHeaders"), hn, m) for m in names.is_http_header_name(hn)]
        elif kind == "tcpSocket":
            errs += validate_port_num_or_name(h.get("port"), f.child(hp, "port"))
        elif kind == "grpc":
            errs += validate_port_num_or_name(a.i(h, "port"), f.child(hp, "port"))
        elif kind == "sleep":
            seconds = a.i(h, "seconds")
            if grace is not None and (seconds <= 0 or seconds > grace):
                # 1.32: zero needs the alpha PodLifecycleSleepActionAllowZero gate (off)
                errs.append(f.invalid(hp, seconds, "must be greater than 0 and less than "
                                                   f"terminationGracePeriodSeconds ({grace}). Enable "
                                                   "AllowPodLifecycleSleepActionZeroValue feature gate for "
                                                   "zero sleep."))
    if count == 0:
        errs.append(f.required(path, "must specify a handler type"))
    return errs


def validate_probe(probe: Mapping[str, Any] | None, grace: int | None, path: str, kind: str) -> list[Cause]:
    if probe is None:
        return []
    errs = _validate_handler(probe, ("exec", "httpGet", "tcpSocket", "grpc"), grace, path)
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += f.non_negative(a.i(probe, name), f.child(path, name))
    tgps = a.ip(probe, "terminationGracePeriodSeconds")
    if tgps is not None and tgps <= 0:
        errs.append(f.invalid(f.child(path, "terminationGracePeriodSeconds"), tgps, "must be greater than 0"))
    if kind in ("liveness", "startup") and a.i(probe, "successThreshold") != 1:
        errs.append(f.invalid(f.child(path, "successThreshold"), a.i(probe, "successThreshold"), "must be 1"))
    if kind == "readiness" and tgps is not None:
        errs.append(f.invalid(f.child(path, "terminationGracePeriodSeconds"), tgps,
                              "must not be set for readinessProbes"))
    return errs


def validate_lifecycle(lifecycle: Mapping[str, Any], grace: int | None, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for hook in ("postStart", "preStop"):
        h = a.mp(lifecycle, hook)
        if h is not None:
            errs += _validate_handler(h, ("exec", "httpGet", "tcpSocket", "sleep"), grace, f.child(path, hook))
    return errs


def probes_and_lifecycle(c: Mapping[str, Any], grace: int | None, p: str) -> list[Cause]:
    errs: list[Cause] = []
    if (lc := a.mp(c, "lifecycle")) is not None:
        errs += validate_lifecycle(lc, grace, f.child(p, "lifecycle"))
    errs += validate_probe(a.mp(c, "livenessProbe"), grace, f.child(p, "livenessProbe"), "liveness")
    errs += validate_probe(a.mp(c, "readinessProbe"), grace, f.child(p, "readinessProbe"), "readiness")
    errs += validate_probe(a.mp(c, "startupProbe"), grace, f.child(p, "startupProbe"), "startup")
    return errs


# -- the container lists -------------------------------------------------------------------------
