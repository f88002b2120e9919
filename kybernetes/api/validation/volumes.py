"""Pod volumes: unique DNS-label names and exactly one source each, checked per source type.

Follows core validation's ``ValidateVolumes`` and ``validateVolumeSource``,
including its historical quirks (the ``downwarAPI`` spelling in the
"more than 1 volume type" message, GCE disks checked under
``persistentDisk``). A volume with any error is left out of the returned map,
so mounts naming it are then reported as not found, as upstream does.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.env import (
    VOLUME_FIELD_PATHS, validate_object_field_selector, validate_resource_field_selector,
)
from kybernetes.api.validation.mounts import (
    validate_local_descending_path, validate_local_non_reserved_path, validate_no_backsteps,
)
from kybernetes.api.validation.field import Cause

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                   "Socket")

# (wire name, name used in the "more than 1 volume type" message, name the source is validated under)
SOURCES = (
    ("emptyDir", "emptyDir", "emptyDir"), ("hostPath", "hostPath", "hostPath"), ("gitRepo", "gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk", "persistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore"), ("secret", "secret", "secret"),
    ("nfs", "nfs", "nfs"), ("iscsi", "iscsi", "iscsi"), ("glusterfs", "glusterfs", "glusterfs"),
    ("flocker", "flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd", "rbd"), ("cinder", "cinder", "cinder"), ("cephfs", "cephFS", "cephfs"),
    ("quobyte", "quobyte", "quobyte"), ("downwardAPI", "downwarAPI", "downwardAPI"), ("fc", "fc", "fc"),
    ("flexVolume", "flexVolume", "flexVolume"), ("configMap", "configMap", "configMap"),
    ("azureFile", "azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk", "azureDisk"),
    ("storageos", "storageos", "storageos"), ("projected", "projected", "projected"),
    ("scaleIO", "scaleIO", "scaleIO"), ("csi", "csi", "csi"), ("ephemeral", "ephemeral", "ephemeral"),
    ("image", "image", "image"),
)

# Required string fields of the legacy in-tree sources: wire field -> path segment in the message.
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "gitRepo": (("repository", "repository"),),
    "gcePersistentDisk": (("pdName", "pdName"),),
    "awsElasticBlockStore": (("volumeID", "volumeID"),),
    "iscsi": (("targetPortal", "targetPortal"), ("iqn", "iqn")),
    "glusterfs": (("endpoints", "endpoints"), ("path", "path")),
    "rbd": (("monitors", "monitors"), ("image", "image")),
    "cinder": (("volumeID", "volumeID"),),
    "cephfs": (("monitors", "monitors"),),
    "quobyte": (("registry", "registry"), ("volume", "volume")),
    "flexVolume": (("driver", "driver"),),
    "azureFile": (("secretName", "secretName"), ("shareName", "shareName")),
    "vsphereVolume": (("volumePath", "volumePath"),),
    "photonPersistentDisk": (("pdID", "pdID"),),
    "portworxVolume": (("volumeID", "volumeID"),),
    "azureDisk": (("diskName", "diskName"), ("diskURI", "diskURI")),
    "storageos": (("volumeName", "volumeName"),),
    "scaleIO": (("gateway", "gateway"), ("system", "system"), ("volumeName", "volumeName")),
}


def _mode(src: Mapping[str, Any], name: str, path: str) -> list[Cause]:
    mode = a.ip(src, name)
    if mode is not None and (mode > 0o777 or mode < 0):
        return [f.invalid(f.child(path, name), mode, FILE_MODE_ERROR)]
    return []


def validate_key_to_path(kp: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not a.s(kp, "key"):
        errs.append(f.required(f.child(path, "key")))
    if not a.s(kp, "path"):
        errs.append(f.required(f.child(path, "path")))
    errs += validate_local_non_reserved_path(a.s(kp, "path"), f.child(path, "path"))
    errs += _mode(kp, "mode", path)
    return errs


def _items(src: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    for n, kp in enumerate(a.dicts(src, "items")):
        errs += validate_key_to_path(kp, f.index(f.child(path, "items"), n))
    return errs


def _downward_file(item: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not a.s(item, "path"):
        errs.append(f.required(f.child(path, "path")))
    errs += validate_local_non_reserved_path(a.s(item, "path"), f.child(path, "path"))
    field_ref, res_ref = a.mp(item, "fieldRef"), a.mp(item, "resourceFieldRef")
    if field_ref is not None:
        errs += validate_object_field_selector(field_ref, VOLUME_FIELD_PATHS, f.child(path, "fieldRef"))
        if res_ref is not None:
            errs.append(f.invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif res_ref is not None:
        errs += validate_resource_field_selector(res_ref, f.child(path, "resourceFieldRef"), True)
    else:
        errs.append(f.required(path, "one of fieldRef and resourceFieldRef is required"))
    errs += _mode(item, "mode", path)
    return errs


def _projected(src: Mapping[str, Any], path: str) -> list[Cause]:
    errs = _mode(src, "defaultMode", path)
    seen: set[str] = set()

    def claim(p: str, shown: str) -> None:
        if p in seen:
            errs.append(f.invalid(path, shown, "conflicting duplicate paths"))
        seen.add(p)

    for n, source in enumerate(a.dicts(src, "sources")):
        sp = f.index(f.child(path, "sources"), n)
        count = 0
        for kind in ("secret", "configMap"):
            s = a.mp(source, kind)
            if s is None:
                continue
            count += 1
            kp = f.child(sp, kind)
            if not a.s(s, "name"):
                errs.append(f.required(f.child(kp, "name")))
            for i, item in enumerate(a.dicts(s, "items")):
                errs += validate_key_to_path(item, f.index(f.child(kp, "items"), i))
                if a.s(item, "path"):
                    claim(a.s(item, "path"), a.s(s, "name"))
        if (d := a.mp(source, "downwardAPI")) is not None:
            count += 1
            for item in a.dicts(d, "items"):
                errs += _downward_file(item, f.child(sp, "downwardAPI"))
                if a.s(item, "path"):
                    claim(a.s(item, "path"), a.s(item, "path"))
        if (t := a.mp(source, "serviceAccountToken")) is not None:
            count += 1
            tp = f.child(sp, "serviceAccountToken")
            exp = a.i(t, "expirationSeconds")
            if exp < 600:
                errs.append(f.invalid(f.child(tp, "expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
            if exp > 1 << 32:
                errs.append(f.invalid(f.child(tp, "expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
            if not a.s(t, "path"):
                errs.append(f.required(f.child(path, "path")))
            else:
                errs += validate_local_non_reserved_path(a.s(t, "path"), f.child(path, "path"))
        if (b := a.mp(source, "clusterTrustBundle")) is not None:
            count += 1
            bp = f.child(sp, "clusterTrustBundle")
            if not a.s(b, "path"):
                errs.append(f.required(f.child(bp, "path")))
            errs += validate_local_non_reserved_path(a.s(b, "path"), f.child(bp, "path"))
            claim(a.s(b, "path"), a.s(b, "path"))
        if count > 1:
            errs.append(f.forbidden(sp, "may not specify more than 1 volume type per source"))
    return errs


def _csi_driver(driver: str, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not driver:
        errs.append(f.required(path))
    if len(driver) > 63:
        errs.append(f.too_long(path, 63))
    errs += [f.invalid(path, driver, m) for m in names.is_dns1123_subdomain(driver.lower())]
    return errs


def _source(kind: str, src: Mapping[str, Any], path: str, vol_name: str,
            pod_meta: Mapping[str, Any] | None, is_pod: bool) -> list[Cause]:
    from kybernetes.api.validation.storage import validate_pvc_template

    errs: list[Cause] = []
    if kind == "emptyDir":
        limit = src.get("sizeLimit")
        if limit is not None:
            q = resources.parse_quantity(limit, f.child(path, "sizeLimit"), errs)
            if q is not None and q.nanos < 0:
                errs.append(f.forbidden(f.child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
    elif kind == "hostPath":
        if not a.s(src, "path"):
            return [f.required(f.child(path, "path"))]
        errs += validate_no_backsteps(a.s(src, "path"), f.child(path, "path"))
        typ = src.get("type")
        if isinstance(typ, str) and typ not in HOST_PATH_TYPES:
            errs.append(f.not_supported(f.child(path, "type"), typ, HOST_PATH_TYPES))
    elif kind in ("secret", "configMap"):
        name_field = "secretName" if kind == "secret" else "name"
        if not a.s(src, name_field):
            errs.append(f.required(f.child(path, name_field)))
        errs += _mode(src, "defaultMode", path) + _items(src, path)
    elif kind == "persistentVolumeClaim":
        if not a.s(src, "claimName"):
            errs.append(f.required(f.child(path, "claimName")))
    elif kind == "nfs":
        if not a.s(src, "server"):
            errs.append(f.required(f.child(path, "server")))
        if not a.s(src, "path"):
            errs.append(f.required(f.child(path, "path")))
        if not a.s(src, "path").startswith("/"):
            errs.append(f.invalid(f.child(path, "path"), a.s(src, "path"), "must be an absolute path"))
    elif kind == "downwardAPI":
        errs += _mode(src, "defaultMode", path)
        for item in a.dicts(src, "items"):
            errs += _downward_file(item, path)
    elif kind == "projected":
        errs += _projected(src, path)
    elif kind == "csi":
        errs += _csi_driver(a.s(src, "driver"), f.child(path, "driver"))
        ref = a.mp(src, "nodePublishSecretRef")
        if ref is not None:
            if not a.s(ref, "name"):
                errs.append(f.required(f.child(path, "nodePublishSecretRef", "name")))
            else:
                errs += [f.invalid(f.child(path, "name"), a.s(ref, "name"), m)
                         for m in names.name_is_dns_subdomain(a.s(ref, "name"))]
    elif kind == "ephemeral":
        tmpl = a.mp(src, "volumeClaimTemplate")
        if tmpl is None:
            errs.append(f.required(f.child(path, "volumeClaimTemplate")))
        else:
            errs += validate_pvc_template(tmpl, f.child(path, "volumeClaimTemplate"))
        pod_name = a.s(pod_meta, "name") if pod_meta is not None else ""
        if pod_name and vol_name:
            pvc_name = f"{pod_name}-{vol_name}"
            errs += [f.invalid(f.child(path, "name"), vol_name, f'PVC name "{pvc_name}": {m}')
                     for m in names.name_is_dns_subdomain(pvc_name)]
    elif kind == "image":
        if is_pod and not a.s(src, "reference"):
            errs.append(f.required(f.child(path, "reference")))
        policy = a.s(src, "pullPolicy")
        if not policy:
            errs.append(f.required(f.child(path, "pullPolicy")))
        elif policy not in ("Always", "IfNotPresent", "Never"):
            errs.append(f.not_supported(f.child(path, "pullPolicy"), policy, ("Always", "IfNotPresent", "Never")))
    elif kind == "flocker":
        name, uuid = a.s(src, "datasetName"), a.s(src, "datasetUUID")
        if not name and not uuid:
            errs.append(f.required(path, "one of datasetName and datasetUUID is required"))
        if name and uuid:
            errs.append(f.invalid(path, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
        if "/" in name:
            errs.append(f.invalid(f.child(path, "datasetName"), name, "must not contain '/'"))
    elif kind == "fc":
        if not a.lst(src, "targetWWNs") and not a.lst(src, "wwids"):
            errs.append(f.required(f.child(path, "targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
    else:
        for wire, shown in _REQUIRED.get(kind, ()):
            v = src.get(wire)
            if not v:
                errs.append(f.required(f.child(path, shown)))
    return errs


def validate_volume_source(vol: Mapping[str, Any], path: str, vol_name: str,
                           pod_meta: Mapping[str, Any] | None, is_pod: bool) -> list[Cause]:
    errs: list[Cause] = []
    count = 0
    for wire, forbidden_name, checked_name in SOURCES:
        src = a.mp(vol, wire)
        if src is None:
            continue
        if count > 0:
            errs.append(f.forbidden(f.child(path, forbidden_name), "may not specify more than 1 volume type"))
            continue
        count += 1
        errs += _source(wire, src, f.child(path, checked_name), vol_name, pod_meta, is_pod)
    if count == 0:
        errs.append(f.required(path, "must specify a volume type"))
    return errs


def validate_volumes(volumes: list[Mapping[str, Any]], pod_meta: Mapping[str, Any] | None, path: str,
                     is_pod: bool = False) -> tuple[dict[str, Mapping[str, Any]], list[Cause]]:
    """(volumes by name, errors); only error-free volumes are returned by name."""
    errs: list[Cause] = []
    by_name: dict[str, Mapping[str, Any]] = {}
    created_pvcs: set[str] = set()
    pod_name = a.s(pod_meta, "name") if pod_meta is not None else ""
    if pod_name:
        created_pvcs = {f"{pod_name}-{a.s(v, 'name')}" for v in volumes if a.has(v, "ephemeral")}
    for n, vol in enumerate(volumes):
        p = f.index(path, n)
        name = a.s(vol, "name")
        el = validate_volume_source(vol, p, name, pod_meta, is_pod)
        if not name:
            el.append(f.required(f.child(p, "name")))
        else:
            el += [f.invalid(f.child(p, "name"), name, m) for m in names.is_dns1123_label(name)]
        if name in by_name:
            el.append(f.duplicate(f.child(p, "name"), name))
        if not el:
            by_name[name] = vol
        else:
            errs += el
        claim = a.mp(vol, "persistentVolumeClaim")
        if claim is not None and a.s(claim, "claimName") in created_pvcs:
            errs.append(f.invalid(f.child(p, "persistentVolumeClaim", "claimName"), a.s(claim, "claimName"),
                                  "must not reference a PVC that gets created for an ephemeral volume"))
    return by_name, errs


__all__ = ["validate_volumes", "validate_volume_source", "validate_key_to_path", "validate_local_descending_path"]
