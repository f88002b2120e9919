"""The few mount(2) calls volumes need: tmpfs for memory-backed volumes, bind
mounts for subPaths, and unmounting what lies under a pod's directory.

Straight syscalls through libc (no ``mount`` binary to parse); callers run
them in a worker thread. Mount points come from the runtime's reader of
/proc/self/mountinfo (``kybernetes.runtime.rootfs``), the one the node has.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

from kybernetes.runtime import rootfs

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_ulong, ctypes.c_char_p]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    rc = _lib().mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                      flags, data.encode() if data else None)
    _check(rc, f"mount {source} on {target}")


def mount_tmpfs(target: str, size: int | None) -> None:
    """A tmpfs at ``target`` (mode 0777 as emptyDir's), ``size`` bytes at most."""
    data = "mode=0777" + (f",size={size}" if size else "")
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, data)


def bind(source: str, target: str, *, readonly: bool = False) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def unmount(target: str) -> None:
    """Unmount ``target``, lazily when busy; a path no longer mounted is fine."""
    rc = _lib().umount2(target.encode(), UMOUNT_NOFOLLOW)
    if rc == 0:
        return
    e = ctypes.get_errno()
    if e in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
        return
    if e == errno.EBUSY:
        _check(_lib().umount2(target.encode(), MNT_DETACH | UMOUNT_NOFOLLOW), f"umount {target}")
        return
    raise OSError(e, f"umount {target}: {os.strerror(e)}")


# One reader of /proc/self/mountinfo for the node: the runtime's.
mount_points = rootfs.mount_points
is_mount_point = rootfs.is_mounted
mounts_under = rootfs.mounts_under


def has_own_filesystem(path: str) -> bool:
    """Whether a filesystem of its own (a tmpfs volume) sits at ``path``: its
    device differs from its parent's. Two stats instead of reading all of
    mountinfo, which grows with every pod on the node (quadratic in a burst)."""
    path = os.path.abspath(path)
    try:
        return os.lstat(path).st_dev != os.lstat(os.path.dirname(path)).st_dev
    except FileNotFoundError:
        return False
