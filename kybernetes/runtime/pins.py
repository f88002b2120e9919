"""Pinned pod sandboxes: IPC and UTS namespaces held by bind mounts, no process.

CRI-O's ``drop_infra_ctr`` with ``pinns``: instead of an infra container per
pod (a shim, ``runc create``/``start`` and a ``sleep`` that does nothing), a
short-lived ``unshare --ipc=<file> --uts=<file> hostname <name>`` makes the
pod's new IPC and UTS namespaces, sets the hostname in the UTS one and
bind-mounts both onto files under ``<runtime>/sandboxes/<id>/``, which keeps
them alive after it exits (as ``ip netns`` keeps a network namespace). App
containers join those files by path. Stopping the sandbox unmounts the pins
(the namespaces end with their last container); removing it deletes the dir.

A pid namespace dies with its init, so ``shareProcessNamespace`` pods keep
the infra container (``sandboxes``).

The sandbox's record (``meta.json``: name, labels, annotations, netns path,
creation time) is written before the pins, so a crash in between leaves a
directory ``status`` reports as exited and ``remove`` or ``killall`` clears.
Everything is read back from disk: a new kubelet re-adopts pinned sandboxes
as it does containers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

from kybernetes.runtime import errors, records

KINDS = ("ipc", "uts")
IMAGE = "kybernetes/pinned-namespaces"


def sandbox_dir(root: str, sandbox_id: str) -> str:
    return os.path.join(root, sandbox_id)


def exists(root: str, sandbox_id: str) -> bool:
    return os.path.isfile(os.path.join(root, sandbox_id, "meta.json"))


def pinned(root: str, sandbox_id: str) -> bool:
    """Whether both namespaces are still held: the files are nsfs mounts, on
    another device than their dir (``os.path.ismount``'s realpath costs a
    dozen syscalls; the kubelet asks for every sandbox on every relist)."""
    d = sandbox_dir(root, sandbox_id)
    try:
        dev = os.stat(d).st_dev
        return all(os.stat(os.path.join(d, kind)).st_dev != dev for kind in KINDS)
    except FileNotFoundError:
        return False


def _mounted(path: str) -> bool:
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except FileNotFoundError:
        return False


async def create(root: str, sandbox_id: str, meta: dict, hostname: str | None) -> None:
    """Record the sandbox, then make and pin its namespaces (hostname set)."""
    d = sandbox_dir(root, sandbox_id)

    def prepare() -> None:
        os.makedirs(d, mode=0o700)
        for kind in KINDS:
            with open(os.path.join(d, kind), "x"):
                pass
        records.save_meta(d, dict(meta, id=sandbox_id, createdAt=time.time_ns()))
    await asyncio.to_thread(prepare)
    argv = ["unshare", *(f"--{kind}={os.path.join(d, kind)}" for kind in KINDS), "--"]
    argv += ["hostname", hostname] if hostname else ["true"]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        await remove(root, sandbox_id)
        raise errors.ContainerCreateError(
            f"pinning the namespaces of sandbox {sandbox_id}: {err.decode(errors='replace').strip()}")


def status(root: str, sandbox_id: str, meta: dict | None = None) -> records.ContainerStatus | None:
    """The sandbox as a container status (running while pinned); None if unknown.
    ``meta``: its record, if the caller has it already."""
    if meta is None:
        meta = records.load_meta(sandbox_dir(root, sandbox_id))
    if meta is None:
        return None
    config = meta.get("config") or {}
    running = pinned(root, sandbox_id)
    created = meta.get("createdAt") or 0
    return records.ContainerStatus(
        id=sandbox_id, name=config.get("name", ""), state=records.RUNNING if running else records.EXITED,
        image=IMAGE, image_id="", created_at=created, started_at=created,
        finished_at=None if running else (meta.get("stoppedAt") or created), exit_code=None if running else 0,
        labels=dict(config.get("labels") or {}), annotations=dict(config.get("annotations") or {}))


def ids(root: str) -> list[str]:
    try:
        return sorted(os.listdir(root))
    except FileNotFoundError:
        return []


def namespaces(root: str, sandbox_id: str) -> dict[str, str]:
    if not pinned(root, sandbox_id):
        raise errors.ContainerStateError(f"sandbox {sandbox_id} is not running (namespaces released)")
    return {kind: os.path.join(sandbox_dir(root, sandbox_id), kind) for kind in KINDS}


async def release(root: str, sandbox_id: str) -> None:
    """Unmount the pins (StopPodSandbox): the namespaces end with their last user."""
    d = sandbox_dir(root, sandbox_id)
    for kind in KINDS:
        path = os.path.join(d, kind)
        if _mounted(path):
            proc = await asyncio.create_subprocess_exec("umount", path, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0 and _mounted(path):
                raise errors.ContainerRuntimeError(
                    f"unmounting {path}: {err.decode(errors='replace').strip()}")
    meta = records.load_meta(d)
    if meta is not None and not meta.get("stoppedAt"):
        await asyncio.to_thread(records.save_meta, d, dict(meta, stoppedAt=time.time_ns()))


async def remove(root: str, sandbox_id: str) -> None:
    d = sandbox_dir(root, sandbox_id)
    if not os.path.isdir(d):
        raise errors.ContainerNotFound(f"no sandbox {sandbox_id!r}")
    await release(root, sandbox_id)
    await asyncio.to_thread(shutil.rmtree, d, True)
