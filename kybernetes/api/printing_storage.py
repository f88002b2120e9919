"""Table printers for volumes and storage: PersistentVolume, PersistentVolumeClaim,
StorageClass, VolumeAttributesClass, VolumeAttachment, CSINode and CSIDriver.

CSIStorageCapacity is registered upstream with the default table convertor
(NAME, CREATED AT), so it has no printer here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    core,
    dig,
    name,
    quantity,
    text,
)

STORAGE = "io.k8s.api.storage.v1."

PV_COLUMNS = (
    NAME,
    Col("Capacity", doc=(core("PersistentVolumeSpec"), "capacity")),
    Col("Access Modes", doc=(core("PersistentVolumeSpec"), "accessModes")),
    Col("Reclaim Policy", doc=(core("PersistentVolumeSpec"), "persistentVolumeReclaimPolicy")),
    Col("Status", doc=(core("PersistentVolumeStatus"), "phase")),
    Col("Claim", doc=(core("PersistentVolumeSpec"), "claimRef")),
    Col("StorageClass", doc="StorageClass of the pv"),
    Col("VolumeAttributesClass", doc="VolumeAttributesClass of the pv"),
    Col("Reason", doc=(core("PersistentVolumeStatus"), "reason")),
    AGE,
    Col("VolumeMode", doc=(core("PersistentVolumeSpec"), "volumeMode"), priority=1),
)
PVC_COLUMNS = (
    NAME,
    Col("Status", doc=(core("PersistentVolumeClaimStatus"), "phase")),
    Col("Volume", doc=(core("PersistentVolumeClaimSpec"), "volumeName")),
    Col("Capacity", doc=(core("PersistentVolumeClaimStatus"), "capacity")),
    Col("Access Modes", doc=(core("PersistentVolumeClaimStatus"), "accessModes")),
    Col("StorageClass", doc="StorageClass of the pvc"),
    Col("VolumeAttributesClass", doc="VolumeAttributesClass of the pvc"),
    AGE,
    Col("VolumeMode", doc=(core("PersistentVolumeClaimSpec"), "volumeMode"), priority=1),
)
_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: list | None) -> str:
    """GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order."""
    present = set(modes or [])
    short = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
    return ",".join(abbrev for mode, abbrev in short if mode in present)


def _storage_class(obj: Obj) -> str:
    annotated = dig(obj, "metadata", "annotations", _STORAGE_CLASS_ANNOTATION)
    return text(annotated) if annotated is not None else text(dig(obj, "spec", "storageClassName"))


def pv_cells(pv: Obj, now: datetime) -> list[Any]:
    spec = pv.get("spec") or {}
    claim = spec.get("claimRef")
    phase = "Terminating" if dig(pv, "metadata", "deletionTimestamp") else text(dig(pv, "status", "phase"))
    return [
        name(pv),
        quantity(dig(spec, "capacity", "storage")),
        access_modes(spec.get("accessModes")),
        text(spec.get("persistentVolumeReclaimPolicy")),
        phase,
        f"{text(claim.get('namespace'))}/{text(claim.get('name'))}" if isinstance(claim, dict) else "",
        _storage_class(pv),
        text(spec.get("volumeAttributesClassName")) or "<unset>",
        text(dig(pv, "status", "reason")),
        age(pv, now),
        text(spec.get("volumeMode")) or "<unset>",
    ]


def pvc_cells(pvc: Obj, now: datetime) -> list[Any]:
    spec = pvc.get("spec") or {}
    status = pvc.get("status") or {}
    phase = "Terminating" if dig(pvc, "metadata", "deletionTimestamp") else text(status.get("phase"))
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = quantity(dig(status, "capacity", "storage"))
    return [
        name(pvc),
        phase,
        text(spec.get("volumeName")),
        capacity,
        modes,
        _storage_class(pvc),
        text(spec.get("volumeAttributesClassName")) or "<unset>",
        age(pvc, now),
        text(spec.get("volumeMode")) or "<unset>",
    ]


STORAGE_CLASS_COLUMNS = (
    NAME,
    Col("Provisioner", doc=(STORAGE + "StorageClass", "provisioner")),
    Col("ReclaimPolicy", doc=(STORAGE + "StorageClass", "reclaimPolicy")),
    Col("VolumeBindingMode", doc=(STORAGE + "StorageClass", "volumeBindingMode")),
    Col("AllowVolumeExpansion", doc=(STORAGE + "StorageClass", "allowVolumeExpansion")),
    AGE,
)
VOLUME_ATTRIBUTES_CLASS_COLUMNS = (
    NAME,
    Col("DriverName", doc=("io.k8s.api.storage.v1beta1.VolumeAttributesClass", "driverName")),
    AGE,
)
VOLUME_ATTACHMENT_COLUMNS = (
    NAME,
    Col("Attacher", doc=(STORAGE + "VolumeAttachmentSpec", "attacher"), format="name"),
    Col("PV", doc=(STORAGE + "VolumeAttachmentSource", "persistentVolumeName")),
    Col("Node", doc=(STORAGE + "VolumeAttachmentSpec", "nodeName")),
    Col("Attached", "boolean", (STORAGE + "VolumeAttachmentStatus", "attached")),
    AGE,
)
CSI_NODE_COLUMNS = (
    NAME,
    Col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
    AGE,
)
CSI_DRIVER_COLUMNS = (
    NAME,
    Col("AttachRequired", "boolean", (STORAGE + "CSIDriverSpec", "attachRequired")),
    Col("PodInfoOnMount", "boolean", (STORAGE + "CSIDriverSpec", "podInfoOnMount")),
    Col("StorageCapacity", "boolean", (STORAGE + "CSIDriverSpec", "storageCapacity")),
    Col("TokenRequests", doc=(STORAGE + "CSIDriverSpec", "tokenRequests")),
    Col("RequiresRepublish", "boolean", (STORAGE + "CSIDriverSpec", "requiresRepublish")),
    Col("Modes", doc=(STORAGE + "CSIDriverSpec", "volumeLifecycleModes")),
    AGE,
)
_DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")


def storage_class_cells(obj: Obj, now: datetime) -> list[Any]:
    annotations = dig(obj, "metadata", "annotations", default={})
    shown = name(obj)
    if any(annotations.get(key) == "true" for key in _DEFAULT_CLASS):
        shown += " (default)"
    return [
        shown,
        text(obj.get("provisioner")),
        text(obj.get("reclaimPolicy")) or "Delete",
        text(obj.get("volumeBindingMode")) or "Immediate",
        bool(obj.get("allowVolumeExpansion")),
        age(obj, now),
    ]


def volume_attributes_class_cells(obj: Obj, now: datetime) -> list[Any]:
    shown = name(obj)
    if dig(obj, "metadata", "annotations", "storage.kubernetes.io/is-default-class") == "true":
        shown += " (default)"
    return [shown, text(obj.get("driverName")), age(obj, now)]


def csi_driver_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    attach = spec.get("attachRequired")
    tokens = spec.get("tokenRequests")
    return [
        name(obj),
        True if attach is None else bool(attach),
        bool(spec.get("podInfoOnMount")),
        bool(spec.get("storageCapacity")),
        "<unset>" if tokens is None else ",".join(text(t.get("audience")) for t in tokens),
        bool(spec.get("requiresRepublish")),
        ",".join(spec.get("volumeLifecycleModes") or []) or "<none>",
        age(obj, now),
    ]


PRINTERS = {
    ("", "PersistentVolume"): Printer(PV_COLUMNS, pv_cells),
    ("", "PersistentVolumeClaim"): Printer(PVC_COLUMNS, pvc_cells),
    ("storage.k8s.io", "StorageClass"): Printer(STORAGE_CLASS_COLUMNS, storage_class_cells),
    ("storage.k8s.io", "VolumeAttributesClass"): Printer(VOLUME_ATTRIBUTES_CLASS_COLUMNS, volume_attributes_class_cells),
    ("storage.k8s.io", "VolumeAttachment"): Printer(
        VOLUME_ATTACHMENT_COLUMNS,
        lambda o, now: [
            name(o), text(dig(o, "spec", "attacher")), text(dig(o, "spec", "source", "persistentVolumeName")),
            text(dig(o, "spec", "nodeName")), bool(dig(o, "status", "attached")), age(o, now),
        ],
    ),
    ("storage.k8s.io", "CSINode"): Printer(
        CSI_NODE_COLUMNS, lambda o, now: [name(o), len(dig(o, "spec", "drivers", default=[])), age(o, now)]
    ),
    ("storage.k8s.io", "CSIDriver"): Printer(CSI_DRIVER_COLUMNS, csi_driver_cells),
}
