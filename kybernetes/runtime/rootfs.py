"""A container's root filesystem: an overlayfs mount in its own directory.

``<container dir>/rootfs`` is ``overlay`` with the image's layer directories
as ``lowerdir`` (topmost first, as the kernel wants), and ``upper``/``work``
beside it, so writes stay in the container's directory and vanish with it
(readOnlyRootFilesystem is applied by runc, which remounts the root read-only
inside the container). For the host fallback image the one lower layer is
``/``; host paths that must not show through (``/tmp``, ``/var/tmp``, the
runtime's own data dir with other containers' files) are hidden by opaque
directories pre-made in ``upper``.

Safety: the mount point must be ``rootfs`` directly inside a container
directory under the runtime's own root, with no symlink anywhere on the way
and nothing mounted there yet; anything else raises ``UnsafePathError``, so
a bad id or a planted symlink can never put an overlay over a host path.

The checks, the opaque dirs and the mount itself run in a worker thread
(``mount(2)`` and ``umount2(2)`` called directly, no ``mount`` process): a
burst of pod starts makes two of these per pod, and each ``mount`` fork and
/proc/self/mountinfo scan on the event loop held up every other pod. Only
an image whose many layers need relative lowerdir names (mounted from their
common parent as cwd, which a thread cannot change) runs mount(8).
"""

from __future__ import annotations

import asyncio
import ctypes
import os

from kybernetes.runtime import errors, layers

OPAQUE_XATTR = layers.OPAQUE_XATTR
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _checked_target(container_dir: str, allowed_root: str) -> str:
    root = os.path.realpath(allowed_root)
    cdir = os.path.abspath(container_dir)
    if os.path.realpath(cdir) != cdir or os.path.dirname(cdir) != root:
        raise errors.UnsafePathError(f"{container_dir} is not a container directory under {root}")
    target = os.path.join(cdir, "rootfs")
    if os.path.islink(target):
        raise errors.UnsafePathError(f"{target} is a symlink")
    return target


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    """Every mount point of this process's mount namespace (/proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


def is_mounted(path: str) -> bool:
    """Whether ``path`` is a mount point (bind mounts of the same filesystem included)."""
    return os.path.abspath(path) in mount_points()


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    path = os.path.abspath(path)
    found = {mp for mp in mount_points() if mp == path or mp.startswith(path + "/")}
    return sorted(found, key=lambda p: (-p.count("/"), p))


async def _run(*argv: str, cwd: str | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise errors.RootfsError(f"{' '.join(argv)}: {(err or out).decode(errors='replace').strip()}")


def _hide(upper: str, hidden: list[str]) -> None:
    """Pre-make opaque dirs in ``upper`` so these host paths look empty."""
    paths = sorted({os.path.abspath(p) for p in hidden})
    for path in paths:
        if any(path.startswith(other + "/") for other in paths):
            continue  # already inside a hidden directory
        rel = os.path.relpath(path, "/")
        if rel.startswith("..") or rel == ".":
            continue
        parts = rel.split(os.sep)
        for i in range(1, len(parts) + 1):
            host = "/" + "/".join(parts[:i])
            here = os.path.join(upper, *parts[:i])
            if not os.path.isdir(here):
                st = os.stat(host) if os.path.isdir(host) else None
                os.mkdir(here, st.st_mode & 0o7777 if st else 0o755)
                if st:
                    os.chown(here, st.st_uid, st.st_gid)
                    os.chmod(here, st.st_mode & 0o7777)
        os.setxattr(os.path.join(upper, *parts), OPAQUE_XATTR, b"y")


def _mount_overlay(options: str, target: str) -> None:
    if _libc.mount(b"overlay", target.encode(), b"overlay", 0, options.encode()) != 0:
        raise errors.RootfsError(f"mount -t overlay overlay -o {options} {target}: "
                                 f"{os.strerror(ctypes.get_errno())}")


def _umount(path: str, flags: int = 0) -> None:
    if _libc.umount2(path.encode(), flags) != 0:
        raise errors.RootfsError(f"umount {path}: {os.strerror(ctypes.get_errno())}")


async def mount(container_dir: str, lowerdirs: list[str], *, allowed_root: str,
                hidden: list[str] = ()) -> str:
    """Mount the overlay for ``container_dir``; ``lowerdirs`` bottom first. Returns the rootfs."""
    target, options, cwd = await asyncio.to_thread(_prepare, container_dir, lowerdirs, allowed_root,
                                                   list(hidden))
    if cwd is None:
        await asyncio.to_thread(_mount_overlay, options, target)
    else:
        await _run("mount", "-t", "overlay", "overlay", "-o", options, target, cwd=cwd)
    return target


def _prepare(container_dir: str, lowerdirs: list[str], allowed_root: str,
             hidden: list[str]) -> tuple[str, str, str | None]:
    """Checks and directories for a mount; the target, overlay options and the cwd they need."""
    target = _checked_target(container_dir, allowed_root)
    if not lowerdirs:
        raise errors.RootfsError("an image needs at least one layer")
    lowers = [os.path.realpath(d) for d in reversed(lowerdirs)]  # overlay wants topmost first
    for d in lowers:
        if not os.path.isdir(d):
            raise errors.RootfsError(f"image layer {d} is missing")
        if any(c in d for c in ",:\\"):
            raise errors.RootfsError(f"image layer path {d!r} cannot be passed to overlayfs")
    upper, work = os.path.join(container_dir, "upper"), os.path.join(container_dir, "work")
    for d in (target, upper, work):
        os.makedirs(d, exist_ok=True)
    if is_mounted(target):
        raise errors.UnsafePathError(f"{target} is already a mount point")
    if hidden:
        _hide(upper, hidden)
    # With many layers the option string outgrows a page; like containerd,
    # mount from the layers' common parent with relative names when we can.
    cwd = None
    parents = {os.path.dirname(d) for d in lowers}
    if len(lowers) > 1 and len(parents) == 1:
        cwd = parents.pop()
        lowers = [os.path.basename(d) for d in lowers]
    options = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    if len(options) > 4000:
        raise errors.RootfsError(f"too many image layers ({len(lowers)}) for one overlay mount")
    return target, options, cwd


async def unmount(container_dir: str, *, allowed_root: str) -> None:
    """Unmount the container's rootfs (lazily if busy); a no-op if not mounted."""
    await asyncio.to_thread(_unmount, container_dir, allowed_root)


def _unmount(container_dir: str, allowed_root: str) -> None:
    target = _checked_target(container_dir, allowed_root)
    for mp in mounts_under(target):
        try:
            _umount(mp)
        except errors.RootfsError:
            _umount(mp, MNT_DETACH)
