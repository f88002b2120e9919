"""Resolving the user a container runs as, from inside its root filesystem.

runc takes numeric ids only. The image's ``User`` may be ``name``, ``uid``,
``name:group`` or ``uid:gid``; a name is looked up in the container's own
``/etc/passwd`` and ``/etc/group`` (never the host's), and the user's
supplementary groups come from ``/etc/group`` as containerd's
``WithUser``/``WithAdditionalGIDs`` do. ``runAsUser``/``runAsGroup`` from
the pod override the image. Reads files in a mounted rootfs: call it off the
event loop for large files (they are small in practice).
"""

from __future__ import annotations

import os

from kybernetes.runtime import errors


def _entries(rootfs: str, name: str) -> list[list[str]]:
    path = os.path.join(rootfs, "etc", name)
    if os.path.islink(os.path.dirname(path)) or os.path.islink(path):  # never leave the rootfs
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def resolve(rootfs: str, image_user: str | None, run_as_user: int | None,
            run_as_group: int | None) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for the container's process."""
    user, _, group = (image_user or "").partition(":")
    passwd = _entries(rootfs, "passwd")
    uid, gid, username = 0, 0, "root"
    if run_as_user is not None:
        uid = run_as_user
        match = [e for e in passwd if len(e) > 3 and e[2] == str(uid)]
        gid, username = (int(match[0][3]), match[0][0]) if match else (0, "")
    elif user:
        if user.isdigit():
            uid = int(user)
            match = [e for e in passwd if len(e) > 3 and e[2] == user]
            gid, username = (int(match[0][3]), match[0][0]) if match else (0, "")
        else:
            match = [e for e in passwd if len(e) > 3 and e[0] == user]
            if not match:
                raise errors.ContainerCreateError(f"unable to find user {user}: no matching entries in passwd file")
            uid, gid, username = int(match[0][2]), int(match[0][3]), user
    groups = _entries(rootfs, "group")
    if run_as_group is not None:
        gid = run_as_group
    elif group:
        if group.isdigit():
            gid = int(group)
        else:
            match = [e for e in groups if len(e) > 2 and e[0] == group]
            if not match:
                raise errors.ContainerCreateError(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[0][2])
    extra = sorted({int(e[2]) for e in groups
                    if len(e) > 3 and e[2].isdigit() and username and username in e[3].split(",")})
    return uid, gid, [g for g in extra if g != gid]
