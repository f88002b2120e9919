"""hostPath volumes: the node's path itself, checked against its ``type`` first.

pkg/volume/hostpath: no back-steps in the path, then ``checkType`` with the
kubelet's messages (``hostPath type check failed: /x is not a directory,
it's a File``); DirectoryOrCreate makes the directory (0755, parents too),
FileOrCreate the file (0644, parent must exist). Symlinks are followed.
"""

from __future__ import annotations

import errno
import os
import stat

TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
         "BlockDevice")
_DESCRIPTION = {"Directory": "directory", "File": "file", "Socket": "socket file",
                "CharDevice": "character device", "BlockDevice": "block device"}


class HostPathError(Exception):
    pass


def file_type(path: str) -> str:
    """hostutil.GetFileType (os.Stat: symlinks followed)."""
    mode = os.stat(path).st_mode
    if stat.S_ISSOCK(mode):
        return "Socket"
    if stat.S_ISBLK(mode):
        return "BlockDevice"
    if stat.S_ISCHR(mode):
        return "CharDevice"
    if stat.S_ISDIR(mode):
        return "Directory"
    if stat.S_ISREG(mode):
        return "File"
    raise HostPathError("only recognise file, directory, socket, block device and character device")


def _matched(path: str, expected: str) -> None:
    description = _DESCRIPTION[expected]
    if not os.path.exists(path):
        raise HostPathError(f"hostPath {path} doesn't exist")
    try:
        actual = file_type(path)
    except (HostPathError, OSError) as e:
        raise HostPathError(f"hostPath type check failed, {path} is not a {description}, "
                            f"unable to determine its type: {e}") from e
    if actual != expected:
        raise HostPathError(f"hostPath type check failed: {path} is not a {description}, it's a {actual}")


def set_up(source: dict) -> str:
    path = source.get("path") or ""
    kind = source.get("type") or ""
    if ".." in path.split("/"):
        raise HostPathError(f"invalid HostPath `{path}`: must not contain '..'")
    if kind == "":
        return path
    if kind == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
        kind = "Directory"
    elif kind == "FileOrCreate":
        if not os.path.exists(path):
            try:
                os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise HostPathError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from e
        kind = "File"
    if kind not in _DESCRIPTION:
        raise HostPathError(f"{kind} is an invalid volume type")
    _matched(path, kind)
    return path
