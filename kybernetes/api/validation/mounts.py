"""Container volume mounts and devices, and the relative-path rules they share with volumes.

A mount names a declared volume and a unique mount path; subPath and
subPathExpr are relative and never step out with '..'; Bidirectional
propagation needs a privileged container; block devices use PVC-backed volumes.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause

def validate_local_descending_path(target: str, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if target.startswith("/"):
        errs.append(f.invalid(path, target, "must be a relative path"))
    errs += validate_no_backsteps(target, path)
    return errs


def validate_no_backsteps(target: str, path: str) -> list[Cause]:
    if ".." in target.split("/"):
        return [f.invalid(path, target, "must not contain '..'")]
    return []


def validate_local_non_reserved_path(target: str, path: str) -> list[Cause]:
    errs = validate_local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(f.invalid(path, target, "must not start with '..'"))
    return errs


def validate_volume_mounts(container: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
                           path: str) -> list[Cause]:
    errs: list[Cause] = []
    devices = {a.s(d, "name"): a.s(d, "devicePath") for d in a.dicts(container, "volumeDevices")}
    mount_points: set[str] = set()
    privileged = a.bp(a.m(container, "securityContext"), "privileged") is True
    for n, mnt in enumerate(a.dicts(container, "volumeMounts")):
        p = f.index(path, n)
        name, mount_path = a.s(mnt, "name"), a.s(mnt, "mountPath")
        if not name:
            errs.append(f.required(f.child(p, "name")))
        if name not in volumes:
            errs.append(f.not_found(f.child(p, "name"), name))
        if not mount_path:
            errs.append(f.required(f.child(p, "mountPath")))
        if mount_path in mount_points:
            errs.append(f.invalid(f.child(p, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if name in devices:
            errs.append(f.invalid(f.child(p, "name"), name, "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            errs.append(f.invalid(f.child(p, "mountPath"), mount_path,
                                  "must not already exist as a path in volumeDevices"))
        sub, sub_expr = a.s(mnt, "subPath"), a.s(mnt, "subPathExpr")
        if name in volumes and a.has(volumes[name], "image"):
            if sub:
                errs.append(f.invalid(f.child(p, "subPath"), sub, "not allowed in image volume sources"))
            if sub_expr:
                errs.append(f.invalid(f.child(p, "subPathExpr"), sub_expr, "not allowed in image volume sources"))
        if sub:
            errs += validate_local_descending_path(sub, f.child(path, "subPath"))
        if sub_expr:
            if sub:
                errs.append(f.invalid(f.child(p, "subPathExpr"), sub_expr,
                                      "subPathExpr and subPath are mutually exclusive"))
            errs += validate_local_descending_path(sub_expr, f.child(path, "subPathExpr"))
        prop = mnt.get("mountPropagation")
        if isinstance(prop, str):
            pp = f.child(path, "mountPropagation")
            if prop not in ("Bidirectional", "HostToContainer", "None"):
                errs.append(f.not_supported(pp, prop, ("Bidirectional", "HostToContainer", "None")))
            if prop == "Bidirectional" and not privileged:
                errs.append(f.forbidden(pp, "Bidirectional mount propagation is available only to "
                                            "privileged containers"))
        rro = mnt.get("recursiveReadOnly")
        if isinstance(rro, str) and rro != "Disabled":
            rp = f.child(path, "recursiveReadOnly")
            if rro in ("Enabled", "IfPossible"):
                if not a.b(mnt, "readOnly"):
                    errs.append(f.forbidden(rp, "may only be specified when readOnly is true"))
                if isinstance(prop, str) and prop != "None":
                    errs.append(f.forbidden(rp, "may only be specified when mountPropagation is None or "
                                                "not specified"))
            else:
                errs.append(f.not_supported(rp, rro, ("Disabled", "Enabled", "IfPossible")))
    return errs


def validate_volume_devices(container: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
                            path: str) -> list[Cause]:
    errs: list[Cause] = []
    mounts = {a.s(m, "name"): a.s(m, "mountPath") for m in a.dicts(container, "volumeMounts")}
    dev_paths: set[str] = set()
    dev_names: set[str] = set()
    for n, dev in enumerate(a.dicts(container, "volumeDevices")):
        p = f.index(path, n)
        name, dev_path = a.s(dev, "name"), a.s(dev, "devicePath")
        source = volumes.get(name)
        if not name:
            errs.append(f.required(f.child(p, "name")))
        if name in dev_names:
            errs.append(f.invalid(f.child(p, "name"), name, "must be unique"))
        if source is not None and not (a.has(source, "persistentVolumeClaim") or a.has(source, "ephemeral")):
            errs.append(f.invalid(f.child(p, "name"), name, "can only use volume source type of "
                                                            "PersistentVolumeClaim or Ephemeral for block mode"))
        if source is None:
            errs.append(f.not_found(f.child(p, "name"), name))
        if not dev_path:
            errs.append(f.required(f.child(p, "devicePath")))
        if dev_path in dev_paths:
            errs.append(f.invalid(f.child(p, "devicePath"), dev_path, "must be unique"))
        if dev_path and ".." in dev_path.split("/"):
            errs.append(f.invalid(f.child(p, "devicePath"), dev_path, "can not contain backsteps ('..')"))
        else:
            dev_paths.add(dev_path)
        if name in mounts:
            errs.append(f.invalid(f.child(p, "name"), name, "must not already exist in volumeMounts"))
        if dev_path in mounts.values():
            errs.append(f.invalid(f.child(p, "devicePath"), dev_path,
                                  "must not already exist as a path in volumeMounts"))
        if name:
            dev_names.add(name)
    return errs


# -- probes and lifecycle handlers ----------------------------------------------------------
