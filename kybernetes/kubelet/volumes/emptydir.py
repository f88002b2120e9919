"""emptyDir volumes, and the directory every kubelet-made volume starts as.

A directory of mode 0777 under the pod dir (``medium: ""``), or a tmpfs
(``medium: Memory``, and the wrapped emptyDir of secret and projected
volumes). A tmpfs is sized as the kubelet sizes it
(SizeMemoryBackedVolumes, calculateEmptyDirMemorySize): node allocatable
memory, less if the pod's memory limit is lower, less again if the volume's
``sizeLimit`` is lower.
"""

from __future__ import annotations

import os

from kybernetes.api import quantities
from kybernetes.kubelet.volumes import mounts

PERM = 0o777


class EmptyDirError(Exception):
    pass


def pod_memory_limit(pod: dict) -> int | None:
    """The pod cgroup's memory limit (ResourceConfigForPod): set only when every
    container has one; the larger of the app containers' sum and any init container's."""
    spec = pod.get("spec") or {}

    def limit(c: dict) -> int | None:
        raw = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        return quantities.value(quantities.parse(str(raw))) if raw is not None else None

    apps = [limit(c) for c in spec.get("containers") or []]
    inits = [limit(c) for c in spec.get("initContainers") or []]
    if not apps or any(v is None for v in apps + inits):
        return None
    total = sum(apps)  # type: ignore[arg-type]
    for v in inits:
        total = max(total, v)  # type: ignore[type-var]
    overhead = ((spec.get("overhead") or {}).get("memory"))
    if overhead is not None:
        total += quantities.value(quantities.parse(str(overhead)))
    return total


def memory_size(pod: dict, size_limit: str | None, allocatable_memory: str | None) -> int | None:
    size = quantities.value(quantities.parse(str(allocatable_memory))) if allocatable_memory else None
    pod_limit = pod_memory_limit(pod)
    if pod_limit and pod_limit > 0 and (size is None or pod_limit <= size):
        size = pod_limit
    if size_limit is not None:
        vol = quantities.value(quantities.parse(str(size_limit)))
        if vol > 0 and (size is None or vol <= size):
            size = vol
    return size


def set_up(path: str, medium: str, size: int | None = None) -> bool:
    """Make the volume directory (and its tmpfs); True when it was made just now."""
    created = not os.path.isdir(path)
    os.makedirs(path, mode=0o750, exist_ok=True)
    if medium == "Memory":
        if not mounts.has_own_filesystem(path):
            try:
                mounts.mount_tmpfs(path, size)
            except OSError as e:
                raise EmptyDirError(str(e)) from e
    elif medium not in ("", None):
        raise EmptyDirError(f"unknown storage medium {medium!r}")
    os.chmod(path, PERM)
    return created


def tear_down(path: str) -> None:
    for mp in mounts.mounts_under(path):
        mounts.unmount(mp)
