"""What configMap, secret and downwardAPI sources put in a volume (their MakePayload / CollectData).

Each returns ``{relative path: FileProjection}`` for the atomic writer, or
raises ``PayloadError`` with the kubelet's message. Used alone (a
``configMap`` volume) and as sources of a ``projected`` volume.
"""

from __future__ import annotations

import os

from kybernetes.kubelet.volumes import fieldpath
from kybernetes.kubelet.volumes.atomic_writer import FileProjection, PayloadError

DEFAULT_MODE = 0o644


def aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def keyed(data: dict[str, bytes], items: list[dict] | None, default_mode: int | None,
          optional: bool, missing: str) -> dict[str, FileProjection]:
    """configMap/secret MakePayload: every key, or just ``items`` (key -> path, mode).
    ``missing`` words a key that is not there (``configmap references non-existent config key: %s``)."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    out: dict[str, FileProjection] = {}
    if not items:
        for key, value in data.items():
            out[key] = FileProjection(value, mode)
        return out
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise PayloadError(missing % key)
        item_mode = item.get("mode")
        out[item.get("path") or key] = FileProjection(data[key], mode if item_mode is None else item_mode)
    return out


def downward(items: list[dict] | None, pod: dict, default_mode: int | None,
             allocatable: dict[str, str] | None) -> dict[str, FileProjection]:
    """downwardapi.CollectData: fieldRef and resourceFieldRef items; all errors aggregated."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    out: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items or []:
        proj = FileProjection(b"", mode if item.get("mode") is None else item["mode"])
        try:
            if item.get("fieldRef"):
                proj.data = fieldpath.pod_field(pod, item["fieldRef"].get("fieldPath", "")).encode()
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                proj.data = fieldpath.resource_value(ref, pod, ref.get("containerName", ""),
                                                     allocatable).encode()
        except fieldpath.FieldPathError as e:
            errors.append(str(e))
        out[os.path.normpath(item.get("path", ""))] = proj
    if errors:
        raise PayloadError(aggregate(errors))
    return out


def needs_allocatable(items: list[dict] | None) -> bool:
    return any(i.get("resourceFieldRef") for i in items or [])
