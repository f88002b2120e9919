"""The thin runc wrapper on its own (no shim), and the rootfs safety checks."""

from __future__ import annotations

import os
import secrets
import shutil

import pytest

from kybernetes.runtime import errors, rootfs, shim, spec
from tests import polling


async def test_runc_wrapper_lifecycle(runtime):
    cid = secrets.token_hex(32)
    bundle = os.path.join(runtime.containers_dir, cid)
    os.mkdir(bundle)
    try:
        root = await rootfs.mount(bundle, ["/"], allowed_root=runtime.containers_dir, hidden=["/tmp"])
        config = spec.ContainerConfig(name="raw", image="host", command=["sleep", "1000"])
        shim.write_json(os.path.join(bundle, "config.json"), spec.generate(
            config, rootfs=root, image_config={}, cgroups_path=f"{runtime.cgroup_parent}/{cid}",
            uid=0, gid=0))
        null = os.open(os.devnull, os.O_RDWR)
        try:
            await runtime.runc.run_detached(cid, bundle, stdout=null, stderr=null)
        finally:
            os.close(null)
        state = await runtime.runc.state(cid)
        assert state["status"] == "running" and state["bundle"] == bundle
        assert [c["id"] for c in await runtime.runc.list()] == [cid]
        assert await runtime.runc.ps(cid) == [state["pid"]]
        await runtime.runc.update(cid, {"pids": {"limit": 20}})
        with open(f"/sys/fs/cgroup/pids{runtime.cgroup_parent}/{cid}/pids.max") as f:
            assert f.read().strip() == "20"
        with pytest.raises(errors.RuncError) as caught:
            await runtime.runc.start(cid)  # already running
        assert caught.value.verb == "start" and "running" in caught.value.stderr
        await runtime.runc.kill(cid, "SIGKILL")
        await runtime.runc.delete(cid, force=True)
        assert await runtime.runc.state(cid) is None
    finally:
        await rootfs.unmount(bundle, allowed_root=runtime.containers_dir)
        shutil.rmtree(bundle)


async def test_read_state_agrees_with_runc_state(runtime):
    """The state read from runc's record is what `runc state` says, at every step."""
    async def both(cid):
        said = await runtime.runc.state(cid)
        read = runtime.runc.read_state(cid)
        if said is None:
            assert read is None
            return None
        assert read == {"id": cid, "pid": said["pid"], "status": said["status"]}
        return said["status"]

    cid = await runtime.create_container(spec.ContainerConfig(name="s", image="busybox",
                                                              command=["sleep", "1000"]))
    assert await both(cid) == "created"
    await runtime.start(cid)
    assert await both(cid) == "running"
    await runtime.stop(cid, timeout=0)
    assert await both(cid) == "stopped"
    await runtime.runc.delete(cid, force=True)
    assert await both(cid) is None
    assert runtime.runc.read_state("0" * 64) is None
    await runtime.remove(cid)


async def test_start_refuses_as_runc_does(runtime):
    """A start runc refuses is an error naming why; the container never runs."""
    with pytest.raises(errors.RuncError, match="container does not exist"):
        await runtime.runc.start("0" * 64)
    cid = await runtime.create_container(spec.ContainerConfig(name="d", image="busybox",
                                                              command=["sleep", "1000"]))
    await runtime.runc.kill(cid, "SIGKILL")  # the init dies while waiting to be started
    with pytest.raises(errors.RuncError, match="stopped|already dead"):
        await runtime.start(cid)

    async def exited():
        return (await runtime.status(cid)).state == "exited"
    assert await polling.eventually(exited)  # it never ran: the shim records the init's death
    await runtime.remove(cid)


async def test_rootfs_refuses_unsafe_targets(runtime, tmp_path):
    with pytest.raises(errors.UnsafePathError):
        await rootfs.mount(str(tmp_path), ["/"], allowed_root=runtime.containers_dir)
    with pytest.raises(errors.UnsafePathError):
        await rootfs.mount(os.path.join(runtime.containers_dir, "a", "b"), ["/"],
                           allowed_root=runtime.containers_dir)
    planted = os.path.join(runtime.containers_dir, "planted")
    os.mkdir(planted)
    os.symlink(str(tmp_path), os.path.join(planted, "rootfs"))
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        await rootfs.mount(planted, ["/"], allowed_root=runtime.containers_dir)
    os.unlink(os.path.join(planted, "rootfs"))
    os.rmdir(planted)
    assert rootfs.mounts_under(str(tmp_path)) == []
