"""``killall``: stop every container a data dir owns and leave nothing behind.

What ``kyb killall`` does for the runtime, as ``k3s-killall.sh`` does for
containerd: SIGKILL every container in our runc root (never the system's),
delete its runc state, let the shims record the exits and end (killing any
that linger), unmount every overlay below our containers dir, remove the
cgroups under our cgroup parent, and delete the container directories; the
pinned sandboxes' namespace mounts are unmounted and their dirs deleted. Logs
(kept by the kubelet elsewhere) and the image store stay.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal

from kybernetes.runtime import cgroups, containers, errors, pins, records, rootfs


async def killall(runtime: containers.Runtime) -> list[str]:
    """Kill and remove every container of ``runtime``; return their ids."""
    known = {c["id"] for c in await runtime.runc.list()}
    ids = sorted(known | {d for d in os.listdir(runtime.containers_dir)
                          if containers.is_container_id(d)})
    for cid in ids:
        if cid in known:
            try:
                await runtime.runc.kill(cid, "SIGKILL", all_processes=True)
            except errors.RuncError:
                pass  # already stopped
    for cid in ids:
        cdir = os.path.join(runtime.containers_dir, cid)
        try:
            await runtime.remove(cid)
        except errors.ContainerNotFound:
            pass  # in runc's root only; deleted below
        except errors.ContainerRuntimeError:
            await _force(runtime, cid, cdir)
        if not os.path.isdir(cdir) and await runtime.runc.state(cid) is not None:
            await _force(runtime, cid, cdir)
    if os.path.isdir(runtime.sandboxes_dir):
        boxes = sorted(os.listdir(runtime.sandboxes_dir))
        for sandbox_id in boxes:
            try:
                await pins.remove(runtime.sandboxes_dir, sandbox_id)
            except errors.ContainerRuntimeError:
                pass  # unmounted lazily below
        ids += boxes
    # Anything else mounted under our dirs (a crash between mount and record).
    for mp in rootfs.mounts_under(runtime.containers_dir) + rootfs.mounts_under(runtime.sandboxes_dir):
        proc = await asyncio.create_subprocess_exec("umount", "--lazy", mp)
        await proc.wait()
    if not rootfs.mounts_under(runtime.sandboxes_dir):
        await asyncio.to_thread(shutil.rmtree, runtime.sandboxes_dir, True)
    await asyncio.to_thread(cgroups.remove, runtime.cgroup_parent)
    return ids


async def _force(runtime: containers.Runtime, cid: str, cdir: str) -> None:
    """Last resort for one container: kill its shim, unmount lazily, remove the dir."""
    pid = records.shim_pid(cdir, cid)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        await runtime.runc.delete(cid, force=True)
    except errors.RuncError:
        pass
    for mp in rootfs.mounts_under(cdir):
        proc = await asyncio.create_subprocess_exec("umount", "--lazy", mp)
        await proc.wait()
    if not rootfs.mounts_under(cdir):
        await asyncio.to_thread(shutil.rmtree, cdir, True)
