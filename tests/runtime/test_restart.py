"""Containers outlive the process that started them and are re-adopted (a kubelet restart)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

from kybernetes.runtime import cleanup, containers, records, spec

from .helpers import read_log, stdout_lines, wait_running

STARTER = textwrap.dedent("""
    import asyncio, json, sys
    from kybernetes.runtime import containers, spec

    async def main():
        rt = containers.Runtime(sys.argv[1], cgroup_parent=sys.argv[2])
        cid = await rt.create_container(spec.ContainerConfig(
            name="survivor", image="busybox", labels={"pod": "p1"},
            command=["sh", "-c", "trap 'echo bye; exit 7' TERM; echo up; while :; do sleep 0.1; done"]))
        await rt.start(cid)
        st = await rt.status(cid)
        print(json.dumps({"id": cid, "pid": st.pid, "startedAt": st.started_at}), flush=True)

    asyncio.run(main())
""")


async def test_container_survives_its_starter_and_is_readopted(runtime, data_dir, cgroup_parent):
    # A separate process plays the kubelet: it creates and starts the
    # container, then dies abruptly (SIGKILL), as `kyb server` may.
    starter = subprocess.Popen([sys.executable, "-c", STARTER, data_dir, cgroup_parent],
                               stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(await asyncio.to_thread(starter.stdout.readline))
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        starter.stdout.close()
    cid = first["id"]

    # A new Runtime on the same data dir: the "restarted kubelet".
    again = containers.Runtime(data_dir, cgroup_parent=cgroup_parent)
    st = await wait_running(again, cid, "up")
    assert (st.pid, st.started_at) == (first["pid"], first["startedAt"])
    assert st.labels == {"pod": "p1"}
    [listed] = await again.list()
    assert (listed.id, listed.state) == (cid, records.RUNNING)

    # The shim, not the dead starter, records the exit.
    await again.stop(cid, timeout=10)
    st = await again.status(cid)
    assert (st.state, st.exit_code, st.reason) == (records.EXITED, 7, "Error")
    assert "bye" in stdout_lines(read_log(st.log_path))


async def test_a_discarded_runtime_object_changes_nothing(runtime, data_dir, cgroup_parent):
    cid = await runtime.create_container(spec.ContainerConfig(
        name="x", image="busybox", command=["sleep", "1000"]))
    await runtime.start(cid)
    before = await wait_running(runtime, cid)
    fresh = containers.Runtime(data_dir, cgroup_parent=cgroup_parent)
    after = await fresh.status(cid)
    assert (after.id, after.state, after.pid, after.started_at) == (cid, records.RUNNING, before.pid,
                                                                     before.started_at)
    assert os.path.exists(f"/proc/{before.pid}")


async def test_killall_stops_everything(runtime):
    running = await runtime.create_container(spec.ContainerConfig(
        name="a", image="busybox", command=["sleep", "1000"]))
    await runtime.start(running)
    created = await runtime.create_container(spec.ContainerConfig(
        name="b", image="busybox", command=["sleep", "1000"]))
    pid = (await wait_running(runtime, running)).pid
    killed = await cleanup.killall(runtime)
    assert set(killed) == {running, created}
    assert os.listdir(runtime.containers_dir) == []
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
