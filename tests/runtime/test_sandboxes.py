"""Pod sandboxes: IPC/UTS pinned by bind mounts (an infra container when the pid
namespace is shared), a netns joined by path.

The network namespace is a fresh one made with ``ip netns add`` under a
unique name and deleted afterwards: no interfaces, no addresses, no
iptables, so the machine's network is never touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from kybernetes.runtime import cleanup, records, rootfs, sandboxes, spec

from .helpers import run, stdout_lines


@pytest.fixture
def netns():
    name = f"kyb-rt-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/var/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


async def test_app_containers_join_the_sandbox(runtime, netns):
    pod_cgroup = f"{runtime.cgroup_parent}/pod-uid1"
    sandbox = await sandboxes.run_sandbox(runtime, sandboxes.SandboxConfig(
        name="default_web-0_uid1", hostname="web-0", netns_path=netns, cgroup_parent=pod_cgroup))
    infra = await runtime.status(sandbox)
    assert infra.state == records.RUNNING and infra.labels[sandboxes.SANDBOX_LABEL] == "true"
    ns = await sandboxes.namespaces(runtime, sandbox)
    assert set(ns) == {"ipc", "uts"}
    app = sandboxes.join(spec.ContainerConfig(
        name="app", image="busybox",
        command=["sh", "-c", "hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/net; "
                             "ls /sys/class/net | tr '\\n' ' '; echo; ls /proc | grep -cE '^[0-9]+$'; "
                             "grep :memory: /proc/self/cgroup"],
        cgroup_parent=pod_cgroup), ns, netns_path=netns)
    st, log = await run(runtime, app)
    hostname, ipc, net, links, nprocs, memcg = stdout_lines(log)
    assert memcg.endswith(f":memory:{pod_cgroup}/{st.id}")
    assert hostname == "web-0"
    assert ipc == f"ipc:[{os.stat(ns['ipc']).st_ino}]"
    assert infra.pid is None  # no process holds them
    assert net == f"net:[{os.stat(netns).st_ino}]"
    assert links.split() == ["lo"]
    assert int(nprocs) <= 4  # its own pid namespace
    assert sandbox in {c.id for c in await runtime.list()}
    # A new runtime on the same data dir (a kubelet restart) finds it running.
    again = type(runtime)(runtime.data_dir, runc_binary=runtime.runc.binary, cgroup_parent=runtime.cgroup_parent)
    assert (await again.status(sandbox)).state == records.RUNNING
    await sandboxes.stop_sandbox(runtime, sandbox)
    assert (await runtime.status(sandbox)).state == records.EXITED
    assert not rootfs.mounts_under(runtime.sandboxes_dir)
    with pytest.raises(Exception):
        await sandboxes.namespaces(runtime, sandbox)
    await sandboxes.remove_sandbox(runtime, sandbox)
    assert sandbox not in {c.id for c in await runtime.list()}


async def test_killall_unpins_sandboxes(runtime):
    sandbox = await sandboxes.run_sandbox(runtime, sandboxes.SandboxConfig(name="default_k_uid3", hostname="k"))
    assert rootfs.mounts_under(runtime.sandboxes_dir)
    assert sandbox in await cleanup.killall(runtime)
    assert not rootfs.mounts_under(runtime.sandboxes_dir)
    assert not os.path.exists(runtime.sandboxes_dir)


async def test_shared_process_namespace(runtime):
    sandbox = await sandboxes.run_sandbox(runtime, sandboxes.SandboxConfig(
        name="default_shared_uid2", hostname="shared", share_pid=True))
    ns = await sandboxes.namespaces(runtime, sandbox)
    assert "pid" in ns
    app = sandboxes.join(spec.ContainerConfig(name="app", image="busybox",
                                              command=["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]), ns)
    st, log = await run(runtime, app)
    assert stdout_lines(log) == ["sleep infinity "]
    await sandboxes.stop_sandbox(runtime, sandbox)
