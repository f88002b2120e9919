"""What the runtime keeps on disk per container, and the status read from it.

A container directory (``<data-dir>/containers/<id>``) is the OCI bundle and
the container's record at once::

    meta.json     written by the runtime: config, image, createdAt, startedAt
    config.json   the OCI runtime spec (``spec.generate``)
    rootfs/ upper/ work/   the overlay (``rootfs``)
    shim.pid shim.json shim.log   the shim's pid, the container's pid, its stderr
    exit.json     written by the shim when the container's init exits
    runc.log      runc's JSON log for this container

Nothing lives only in memory, so a new ``Runtime`` (a restarted kubelet)
re-adopts every container by reading these files and runc's state record: the
same ids, the same start times, exit codes recorded while it was away.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from kybernetes.runtime import shim

CREATED, RUNNING, EXITED, UNKNOWN = "created", "running", "exited", "unknown"
UNKNOWN_EXIT_CODE = 255  # containerd's code when the exit status was lost


@dataclass
class ContainerStatus:
    """A container as the kubelet sees it (CRI ``ContainerStatus``)."""

    id: str
    name: str
    state: str
    image: str
    image_id: str
    created_at: int  # nanoseconds since the epoch
    started_at: int | None = None
    finished_at: int | None = None
    pid: int | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    log_path: str = ""
    fallback_image: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def save_meta(container_dir: str, meta: dict) -> None:
    shim.write_json(os.path.join(container_dir, "meta.json"), meta)


def load_meta(container_dir: str) -> dict | None:
    return read_json(os.path.join(container_dir, "meta.json"))


def load_exit(container_dir: str) -> dict | None:
    return read_json(os.path.join(container_dir, "exit.json"))


def process_alive(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line mentions ``marker`` (guards pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return marker.encode() in cmdline


def shim_pid(container_dir: str, container_id: str) -> int | None:
    """The live shim of this container, if any."""
    try:
        with open(os.path.join(container_dir, "shim.pid")) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_alive(pid, container_id) else None


def reason_for(exit_info: dict) -> str:
    """CRI reasons: OOMKilled, Completed (exit 0) or Error."""
    if exit_info.get("oomKilled"):
        return "OOMKilled"
    return "Completed" if exit_info.get("exitCode") == 0 else "Error"


def status(meta: dict, runc_state: dict | None, exit_info: dict | None, shim_alive: bool) -> ContainerStatus:
    """Combine our record, runc's view and the shim's exit file into one status."""
    config = meta.get("config") or {}
    st = ContainerStatus(
        id=meta["id"], name=config.get("name", ""), state=UNKNOWN,
        image=meta.get("image", {}).get("name", ""), image_id=meta.get("image", {}).get("id", ""),
        created_at=meta.get("createdAt", 0), started_at=meta.get("startedAt"),
        log_path=meta.get("logPath", ""), fallback_image=bool(meta.get("image", {}).get("fallback")),
        labels=dict(config.get("labels") or {}), annotations=dict(config.get("annotations") or {}))
    if exit_info is not None:
        st.state, st.exit_code = EXITED, exit_info.get("exitCode")
        st.finished_at, st.reason = exit_info.get("finishedAt"), reason_for(exit_info)
        return st
    runc_status = (runc_state or {}).get("status")
    if runc_status == "created":
        st.state, st.pid = CREATED, runc_state.get("pid")
    elif runc_status in ("running", "paused", "creating"):
        st.state, st.pid = RUNNING, runc_state.get("pid")
    elif runc_status == "stopped" and shim_alive:
        st.state = RUNNING  # exited this instant; the shim is writing exit.json
    elif runc_status == "stopped" or (meta.get("startedAt") and not shim_alive):
        st.state, st.exit_code, st.reason = EXITED, UNKNOWN_EXIT_CODE, "Unknown"
        st.message = "the container's shim is gone; its exit status was lost"
    return st
