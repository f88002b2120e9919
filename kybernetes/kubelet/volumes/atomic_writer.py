"""Files of configMap, secret, downwardAPI and projected volumes, swapped in atomically.

The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): the payload is
written to a fresh timestamped directory ``..2006_01_02_15_04_05.<random>``,
then the ``..data`` symlink is replaced (a rename of ``..data_tmp``), so a
reader sees the old set of files or the new one, never a mix. What the user
sees at the top are symlinks ``<name> -> ..data/<name>``. An unchanged payload
is not rewritten.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


@dataclass
class FileProjection:
    data: bytes
    mode: int = 0o644
    uid: int | None = None  # fsUser: the owner (a token read by a non-root user)


class PayloadError(Exception):
    pass


def validate_path(target: str) -> None:
    """validatePath: relative, no ``..`` element, not starting with ``..``."""
    if target == "":
        raise PayloadError(f'invalid path: must not be empty: "{target}"')
    if target.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME:
            raise PayloadError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {target}")


def _clean(payload: dict[str, FileProjection]) -> dict[str, FileProjection]:
    out = {}
    for path, proj in payload.items():
        validate_path(path)
        out[os.path.normpath(path)] = proj
    return out


def _same(payload: dict[str, FileProjection], ts_dir: str) -> bool:
    """shouldWritePayload, inverted: every file there with the same bytes and mode, nothing more."""
    existing = set()
    for root, _dirs, files in os.walk(ts_dir):
        for f in files:
            existing.add(os.path.relpath(os.path.join(root, f), ts_dir))
    if existing != set(payload):
        return False
    for path, proj in payload.items():
        full = os.path.join(ts_dir, path)
        st = os.lstat(full)
        if st.st_mode & 0o7777 != proj.mode & 0o7777:
            return False
        if proj.uid is not None and st.st_uid != proj.uid:
            return False
        with open(full, "rb") as f:
            if f.read() != proj.data:
                return False
    return True


def _new_ts_dir(target: str) -> str:
    prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    ts = tempfile.mkdtemp(prefix=prefix, dir=target)
    # 0755 so group and other can traverse, whatever the umask.
    os.chmod(ts, 0o755)
    return ts


def _write_to(ts_dir: str, payload: dict[str, FileProjection]) -> None:
    for path, proj in payload.items():
        full = os.path.join(ts_dir, path)
        os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, proj.mode & 0o7777)
        try:
            view = memoryview(proj.data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, proj.mode & 0o7777)
            if proj.uid is not None:
                os.fchown(fd, proj.uid, -1)
        finally:
            os.close(fd)


def _top(path: str) -> str:
    return path.split("/", 1)[0]


def write(target: str, payload: dict[str, FileProjection],
          set_perms: Callable[[str], None] | None = None) -> bool:
    """Project ``payload`` into ``target``; True when something changed.
    ``set_perms(ts_dir)`` runs on the new files before they are swapped in (fsGroup)."""
    payload = _clean(payload)
    data_link = os.path.join(target, DATA_DIR)
    old_ts = os.readlink(data_link) if os.path.islink(data_link) else ""
    old_path = os.path.join(target, old_ts) if old_ts else ""
    if old_ts and os.path.isdir(old_path) and _same(payload, old_path):
        _create_visible(target, payload)  # a symlink removed by hand comes back
        return False
    ts = _new_ts_dir(target)
    try:
        _write_to(ts, payload)
        if set_perms is not None:
            set_perms(ts)
        tmp_link = os.path.join(target, DATA_TMP)
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(os.path.basename(ts), tmp_link)
        os.rename(tmp_link, data_link)
    except BaseException:
        shutil.rmtree(ts, ignore_errors=True)
        raise
    _create_visible(target, payload)
    _remove_stale_visible(target, payload)
    for entry in os.listdir(target):  # the old timestamped dir, and any a crash left
        if entry.startswith("..") and entry not in (DATA_DIR, os.path.basename(ts)) \
                and not os.path.islink(os.path.join(target, entry)):
            shutil.rmtree(os.path.join(target, entry), ignore_errors=True)
    return True


def _create_visible(target: str, payload: dict[str, FileProjection]) -> None:
    for top in sorted({_top(p) for p in payload}):
        link = os.path.join(target, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA_DIR, top), link)


def _remove_stale_visible(target: str, payload: dict[str, FileProjection]) -> None:
    wanted = {_top(p) for p in payload}
    for entry in os.listdir(target):
        if entry.startswith(".."):
            continue
        full = os.path.join(target, entry)
        if entry not in wanted and os.path.islink(full) \
                and os.readlink(full) == os.path.join(DATA_DIR, entry):
            os.unlink(full)
