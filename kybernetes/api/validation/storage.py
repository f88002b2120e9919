"""Storage: PersistentVolumes, PersistentVolumeClaims (and claim templates), StorageClasses.

Claims need access modes and a positive ``resources.requests.storage``; after
creation their spec is immutable except the storage request (which may not
shrink below the recorded capacity). Volumes need access modes, exactly one
``storage`` capacity and exactly one volume source; their source is
immutable. StorageClasses need a provisioner, and their provisioner,
parameters and policies never change.
"""

from __future__ import annotations

from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation import resources
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import (
    validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update, validate_qualified_name,
)
from kybernetes.api.validation.access import semantic
from kybernetes.api.validation.scheduling import validate_node_selector

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
PV_SOURCES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "glusterfs", "flocker", "nfs", "rbd",
              "quobyte", "cephfs", "iscsi", "cinder", "fc", "flexVolume", "azureFile", "vsphereVolume",
              "photonPersistentDisk", "portworxVolume", "azureDisk", "scaleIO", "local", "storageos", "csi")


def _access_modes(modes: list[str], path: str) -> list[Cause]:
    errs: list[Cause] = []
    rwop = other = False
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(f.not_supported(path, mode, ACCESS_MODES))
        if mode == "ReadWriteOncePod":
            rwop = True
        elif mode in ACCESS_MODES:
            other = True
    if rwop and other:
        errs.append(f.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _data_source(ds: Mapping[str, Any], path: str, ref: bool) -> list[Cause]:
    errs: list[Cause] = []
    if not a.s(ds, "name"):
        errs.append(f.required(f.child(path, "name")))
    kind = a.s(ds, "kind")
    if not kind:
        errs.append(f.required(f.child(path, "kind")))
    group = a.s(ds, "apiGroup")
    if not group and kind != "PersistentVolumeClaim":
        errs.append(f.invalid(path, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
    if group:
        errs += [f.invalid(f.child(path, "apiGroup"), group, m) for m in names.is_dns1123_subdomain(group)]
    if ref and a.s(ds, "namespace"):
        errs += [f.invalid(f.child(path, "namespace"), a.s(ds, "namespace"), m)
                 for m in names.name_is_dns_label(a.s(ds, "namespace"))]
    return errs


def validate_pvc_spec(spec: Mapping[str, Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    modes = a.strs(spec, "accessModes")
    if not modes:
        errs.append(f.required(f.child(path, "accessModes"), "at least 1 access mode is required"))
    if a.has(spec, "selector"):
        errs += validate_label_selector(a.mp(spec, "selector"), f.child(path, "selector"))
    errs += _access_modes(modes, f.child(path, "accessModes"))
    storage_path = f.key(f.child(path, "resources"), "storage")
    requests = a.m(a.m(spec, "resources"), "requests")
    if "storage" not in requests:
        errs.append(f.required(storage_path))
    else:
        q = resources.parse_quantity(requests["storage"], storage_path, errs)
        if q is not None:
            if q.nanos <= 0:
                errs.append(f.invalid(storage_path, str(q), "must be greater than zero"))
            else:
                errs += resources.validate_quantity_value("storage", q, storage_path)
    sc = spec.get("storageClassName")
    if isinstance(sc, str) and sc:
        errs += [f.invalid(f.child(path, "storageClassName"), sc, m) for m in names.name_is_dns_subdomain(sc)]
    mode = spec.get("volumeMode")
    if isinstance(mode, str) and mode not in VOLUME_MODES:
        errs.append(f.not_supported(f.child(path, "volumeMode"), mode, VOLUME_MODES))
    ds, ref = a.mp(spec, "dataSource"), a.mp(spec, "dataSourceRef")
    if ds is not None:
        errs += _data_source(ds, f.child(path, "dataSource"), False)
    if ref is not None:
        errs += _data_source(ref, f.child(path, "dataSourceRef"), True)
    if ref is not None and a.s(ref, "namespace"):
        if ds is not None:
            errs.append(f.invalid(path, f.child(path, "dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
    elif ds is not None and ref is not None:
        if (a.s(ds, "apiGroup"), a.s(ds, "kind"), a.s(ds, "name")) != (a.s(ref, "apiGroup"), a.s(ref, "kind"), a.s(ref, "name")):
            errs.append(f.invalid(path, f.child(path, "dataSource"), "must match dataSourceRef"))
    vac = spec.get("volumeAttributesClassName")
    if isinstance(vac, str) and vac:
        errs += [f.invalid(f.child(path, "volumeAttributesClassName"), vac, m) for m in names.name_is_dns_subdomain(vac)]
    return errs


def validate_pvc_template(tmpl: Mapping[str, Any], path: str) -> list[Cause]:
    meta = a.m(tmpl, "metadata")
    mp = f.child(path, "metadata")
    errs = validate_annotations(a.sm(meta, "annotations"), f.child(mp, "annotations"))
    errs += validate_labels(a.sm(meta, "labels"), f.child(mp, "labels"))
    for k in sorted(meta):
        if k not in ("labels", "annotations") and meta[k] not in (None, "", {}, [], 0):
            errs.append(f.forbidden(f.child(mp, k), "cannot be set"))
    return errs + validate_pvc_spec(a.m(tmpl, "spec"), f.child(path, "spec"))


def validate_pvc(pvc: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(pvc, "metadata"), names.name_is_dns_subdomain)
    return errs + validate_pvc_spec(a.m(pvc, "spec"), "spec")


def validate_pvc_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_pvc(new)
    ns, os_ = dict(a.m(new, "spec")), dict(a.m(old, "spec"))
    if not a.s(os_, "volumeName"):
        os_["volumeName"] = ns.get("volumeName")
    if os_.get("storageClassName") is None and ns.get("storageClassName") is not None:
        os_["storageClassName"] = ns["storageClassName"]
    bound = a.s(a.m(new, "status"), "phase") == "Bound"
    if bound:
        ns["resources"] = dict(a.m(ns, "resources"))
        ns["resources"]["requests"] = {**a.m(a.m(ns, "resources"), "requests"),
                                       "storage": a.m(a.m(os_, "resources"), "requests").get("storage")}
        if ns.get("volumeAttributesClassName") is not None:
            ns["volumeAttributesClassName"] = os_.get("volumeAttributesClassName")
    if semantic(ns) != semantic(os_):
        errs.append(f.forbidden("spec", "spec is immutable after creation except resources.requests and "
                                        "volumeAttributesClassName for bound claims\n  core.PersistentVolumeClaimSpec{...}\n"))
    try:
        from kybernetes.api import quantities
        new_size = quantities.parse(a.m(a.m(a.m(new, "spec"), "resources"), "requests").get("storage", "0"))
        old_size = quantities.parse(a.m(a.m(a.m(old, "spec"), "resources"), "requests").get("storage", "0"))
        status_size = quantities.parse(a.m(a.m(old, "status"), "capacity").get("storage", "0"))
    except (ValueError, TypeError):
        return errs
    if new_size < old_size and new_size <= status_size:
        errs.append(f.forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    errs += f.immutable("volumeMode", a.m(new, "spec").get("volumeMode"), a.m(old, "spec").get("volumeMode"))
    return errs


def validate_pvc_status_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    if not a.s(a.m(new, "metadata"), "resourceVersion"):
        errs.append(f.required("resourceVersion"))
    if not a.lst(a.m(new, "spec"), "accessModes"):
        errs.append(f.required("Spec.accessModes"))
    capacity = a.m(a.m(new, "status"), "capacity")
    for name in sorted(capacity):
        p = f.key("status.capacity", name)
        q = resources.parse_quantity(capacity[name], p, errs)
        if q is not None and resources.quantities.value(q) < 0:
            errs.append(f.invalid(p, resources.quantities.value(q), "must be a valid resource quantity"))
    return errs


# -- PersistentVolume ----------------------------------------------------------------------------

def validate_pv(pv: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(pv, "metadata"), names.name_is_dns_subdomain)
    spec = a.m(pv, "spec")
    modes = a.strs(spec, "accessModes")
    if not modes:
        errs.append(f.required("spec.accessModes"))
    errs += _access_modes(modes, "spec.accessModes")
    capacity = a.m(spec, "capacity")
    if not capacity:
        errs.append(f.required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        shown = f.GoValue(f.go_string_map({k: str(v) for k, v in capacity.items()}, "core.ResourceList"))
        errs.append(f.not_supported("spec.capacity", shown, ("storage",)))
    for name in sorted(capacity):
        p = f.key("spec.capacity", name)
        q = resources.parse_quantity(capacity[name], p, errs)
        if q is not None and q.nanos <= 0:
            errs.append(f.invalid(p, str(q), "must be greater than zero"))
    policy = a.s(spec, "persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        errs.append(f.not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    affinity_set = False
    if (na := a.mp(spec, "nodeAffinity")) is not None:
        affinity_set = True
        req = a.mp(na, "required")
        if req is None:
            errs.append(f.required("spec.nodeAffinity.required", "must specify required node constraints"))
        else:
            errs += validate_node_selector(req, False, "spec.nodeAffinity.required")
    count = 0
    for src in PV_SOURCES:
        if not a.has(spec, src):
            continue
        if count > 0 and src != "flexVolume":
            errs.append(f.forbidden(f.child("spec", src), "may not specify more than 1 volume type"))
            continue
        count += 1
        body = a.m(spec, src)
        if src in ("hostPath", "local"):
            if not a.s(body, "path"):
                errs.append(f.required(f"spec.{src}.path"))
            elif ".." in a.s(body, "path").split("/"):
                errs.append(f.invalid(f"spec.{src}.path", a.s(body, "path"), "must not contain '..'"))
            if src == "local" and not affinity_set:
                errs.append(f.required("spec.nodeAffinity", "Local volume requires node affinity"))
        elif src == "nfs":
            for k in ("server", "path"):
                if not a.s(body, k):
                    errs.append(f.required(f"spec.nfs.{k}"))
            if not a.s(body, "path").startswith("/"):
                errs.append(f.invalid("spec.nfs.path", a.s(body, "path"), "must be an absolute path"))
        elif src == "csi":
            driver = a.s(body, "driver")
            if not driver:
                errs.append(f.required("spec.csi.driver"))
            errs += [f.invalid("spec.csi.driver", driver, m) for m in names.is_dns1123_subdomain(driver.lower())]
            if not a.s(body, "volumeHandle"):
                errs.append(f.required("spec.csi.volumeHandle"))
    if count == 0:
        errs.append(f.required("spec", "must specify a volume type"))
    sc = a.s(spec, "storageClassName")
    if sc:
        errs += [f.invalid("spec.storageClassName", sc, m) for m in names.name_is_dns_subdomain(sc)]
    mode = spec.get("volumeMode")
    if isinstance(mode, str) and mode not in VOLUME_MODES:
        errs.append(f.not_supported("spec.volumeMode", mode, VOLUME_MODES))
    return errs


def validate_pv_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_pv(new)
    ns, os_ = a.m(new, "spec"), a.m(old, "spec")
    if semantic({k: ns.get(k) for k in PV_SOURCES}) != semantic({k: os_.get(k) for k in PV_SOURCES}):
        errs.append(f.forbidden("spec.persistentvolumesource",
                                "spec.persistentvolumesource is immutable after creation\n  core.PersistentVolumeSource{...}\n"))
    errs += f.immutable("volumeMode", ns.get("volumeMode"), os_.get("volumeMode"))
    if os_.get("nodeAffinity") is not None and semantic(ns.get("nodeAffinity")) != semantic(os_.get("nodeAffinity")):
        errs.append(f.invalid("nodeAffinity", f.GoValue("core.VolumeNodeAffinity{...}"),
                              "field is immutable, except for updating from beta label to GA"))
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + errs


# -- StorageClass ------------------------------------------------------------------------------------

def validate_storage_class(sc: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(sc, "metadata"), names.name_is_dns_subdomain)
    provisioner = a.s(sc, "provisioner")
    if not provisioner:
        errs.append(f.required("provisioner"))
    else:
        errs += validate_qualified_name(provisioner.lower(), "provisioner")
    params = a.sm(sc, "parameters") or {}
    if len(params) > 512:
        errs.append(f.too_long("parameters", 512))
    else:
        if "" in params:
            errs.append(f.invalid("parameters", "", "field can not be empty."))
        if sum(len(k) + len(v) for k, v in params.items()) > 256 * 1024:
            errs.append(f.too_long("parameters", 256 * 1024))
    policy = sc.get("reclaimPolicy")
    if isinstance(policy, str) and policy and policy not in ("Delete", "Retain"):
        errs.append(f.not_supported("reclaimPolicy", policy, ("Delete", "Retain")))
    mode = sc.get("volumeBindingMode")
    if not isinstance(mode, str):
        errs.append(f.required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(f.not_supported("volumeBindingMode", mode, ("Immediate", "WaitForFirstConsumer")))
    return errs


def validate_storage_class_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_storage_class(new)
    errs += validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    if (a.sm(new, "parameters") or {}) != (a.sm(old, "parameters") or {}):
        errs.append(f.forbidden("parameters", "updates to parameters are forbidden."))
    if a.s(new, "provisioner") != a.s(old, "provisioner"):
        errs.append(f.forbidden("provisioner", "updates to provisioner are forbidden."))
    if a.s(new, "reclaimPolicy") != a.s(old, "reclaimPolicy"):
        errs.append(f.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs += f.immutable("volumeBindingMode", new.get("volumeBindingMode"), old.get("volumeBindingMode"))
    return errs
