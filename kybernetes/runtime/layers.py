"""Unpacking one image layer (a tar stream) into a directory overlayfs can stack.

Each layer is unpacked on its own, as containerd's overlay snapshotter keeps
them, and the layers are later stacked as overlay ``lowerdir``s. Deletions in
a layer are written in overlayfs' own form so the kernel applies them:

* ``dir/.wh.name`` (AUFS whiteout, OCI image-spec "Whiteouts") becomes a
  character device 0/0 named ``dir/name``;
* ``dir/.wh..wh..opq`` (opaque whiteout) sets ``trusted.overlay.opaque=y`` on
  ``dir``, hiding everything below it from lower layers.

Extraction refuses members that would land outside the layer directory:
absolute paths and ``..`` are rebased, and a member whose parent resolves
(through a symlink unpacked earlier) outside the directory is rejected, as
is a hard link to a target outside it. Owners, modes (setuid included) and
xattrs are kept, as a container image needs. Blocking: call it in a thread.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import IO

from kybernetes.runtime import errors

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


def unpack(stream: IO[bytes], dest: str) -> int:
    """Unpack the (gzip or plain) tar ``stream`` into ``dest``; return its byte size on disk."""
    os.makedirs(dest, exist_ok=True)
    real_dest = os.path.realpath(dest)
    size = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                name = _clean_name(member.name)
                if not name:
                    continue
                parent, base = os.path.split(name)
                _check_parent(real_dest, parent, member.name)
                if base == OPAQUE_MARKER:
                    _make_opaque(os.path.join(real_dest, parent))
                    continue
                if base.startswith(WHITEOUT_PREFIX):
                    _make_whiteout(os.path.join(real_dest, parent, base[len(WHITEOUT_PREFIX):]))
                    continue
                member.name = name
                if member.islnk():
                    target = _clean_name(member.linkname)
                    _check_parent(real_dest, os.path.dirname(target), member.linkname)
                    member.linkname = target
                _remove_existing(os.path.join(real_dest, name), member)
                tar.extract(member, real_dest, numeric_owner=True, filter=_keep_everything)
                _set_xattrs(os.path.join(real_dest, name), member)
                size += member.size
    except (tarfile.TarError, OSError, EOFError) as e:
        raise errors.ImageError(f"cannot unpack layer: {e}") from e
    return size


def _clean_name(name: str) -> str:
    """Rebase ``name`` under the layer root: drop ``/``, ``.`` and ``..`` parts."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _check_parent(real_dest: str, parent: str, original: str) -> None:
    """Refuse ``parent`` if symlinks already unpacked resolve it outside ``real_dest``."""
    resolved = os.path.realpath(os.path.join(real_dest, parent))
    if resolved != real_dest and not resolved.startswith(real_dest + os.sep):
        raise errors.ImageError(f"layer member {original!r} escapes the layer through a symlink")


def _keep_everything(member: tarfile.TarInfo, _dest: str) -> tarfile.TarInfo:
    """tarfile filter: names were cleaned above, so keep modes and owners as they are."""
    return member


def _set_xattrs(path: str, member: tarfile.TarInfo) -> None:
    """Restore PAX ``SCHILY.xattr.*`` records (file capabilities, for one)."""
    if member.issym():
        return
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], raw)
            except OSError:
                pass  # e.g. security.selinux on a host without SELinux


def _remove_existing(path: str, member: tarfile.TarInfo) -> None:
    """A later entry for the same path replaces the earlier one (tar semantics)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not member.isdir():
            _rmtree(path)
    else:
        os.unlink(path)


def _rmtree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            full = os.path.join(root, d)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(path)


def _make_opaque(path: str) -> None:
    os.makedirs(path, exist_ok=True)
    os.setxattr(path, OPAQUE_XATTR, b"y")


def _make_whiteout(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        _rmtree(path) if stat.S_ISDIR(st.st_mode) else os.unlink(path)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def is_whiteout(st: os.stat_result) -> bool:
    """Whether ``st`` describes an overlayfs whiteout (char device 0/0)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
