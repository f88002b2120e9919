"""fsGroup: volume files owned by the pod's group (volume.SetVolumeOwnership).

Every file and directory gets group ``fsGroup`` and the group bits the
kubelet adds (rw, or r for read-only volumes; directories also x and setgid);
symlinks are chowned but not chmodded.
"""

from __future__ import annotations

import os
import stat

RW_MASK = 0o660
RO_MASK = 0o440
EXEC_MASK = 0o110


def _change(path: str, gid: int, readonly: bool) -> None:
    st = os.lstat(path)
    os.lchown(path, -1, gid)
    if stat.S_ISLNK(st.st_mode):
        return
    mask = RO_MASK if readonly else RW_MASK
    if stat.S_ISDIR(st.st_mode):
        mask |= stat.S_ISGID | EXEC_MASK
    os.chmod(path, (st.st_mode & 0o7777) | mask)


def set_volume_ownership(path: str, fs_group: int | None, readonly: bool) -> None:
    if fs_group is None:
        return
    _change(path, fs_group, readonly)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            _change(os.path.join(root, name), fs_group, readonly)


def fs_group(pod: dict) -> int | None:
    return ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")


def set_volume_ownership_root(path: str, fs_group: int) -> None:
    """Only the volume's own directory (its files were done before the swap)."""
    _change(path, fs_group, True)
