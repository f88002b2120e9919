"""``kyb killall`` on a node's data dir: its kyb process, containers, network,
mounts and cgroups are gone afterwards, and the machine is as it was.

The node here is laid out as an agent lays it out (``KubeletConfig`` paths, the
node record ``kyb killall`` reads), with real runc containers in a pod network
namespace of a real node host, so the test needs no kubelet.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess

import pytest

from kybernetes.cli import killall
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.network import cleanup as network_cleanup
from kybernetes.network import cluster as network_cluster
from kybernetes.network import iproute
from kybernetes.runtime import cgroups, containers, rootfs, sandboxes, spec
from tests.e2e.cluster import killall as kyb_killall
from tests.network import probes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runc, namespaces, mounts)")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_killall_leaves_nothing(tmp_path):
    before = await asyncio.to_thread(probes.machine_state)
    plan = await probes.free_plan()
    node = f"kt-{secrets.token_hex(3)}"
    config = KubeletConfig(node_name=node, data_dir=str(tmp_path / "data"), network_prefix=plan.prefix,
                           node_network=str(plan.node_network), cluster_cidr=str(plan.cluster_cidr),
                           service_cidr=str(plan.service_cidr),
                           network_state_root=str(tmp_path / "netstate"))
    # A stand-in for the node's kyb process (its argv[0] is "kyb").
    fake = subprocess.Popen(["kyb", "600"], executable="sleep")
    runtime = containers.Runtime(config.runtime_dir, cgroup_parent=config.cgroup)
    net = network_cluster.ClusterNetwork(plan, state_root=config.network_state_root)
    tmpfs = os.path.join(config.pod_dir("uid-1"), "volumes", "kubernetes.io~empty-dir", "cache")
    try:
        killall.write_record(config, server="https://127.0.0.1:1")
        record = killall.read_record(config.data_dir)
        record["pid"] = fake.pid
        with open(killall.record_path(config.data_dir), "w") as f:
            import json
            json.dump(record, f)
        host = await net.add_node_host(node, next(plan.cluster_cidr.subnets(new_prefix=24)))
        pod = await net.pod_network(host).setup("uid-1")
        sandbox = await sandboxes.run_sandbox(runtime, sandboxes.SandboxConfig(
            name=f"default_p_uid-1", netns_path=pod.netns_path, cgroup_parent=f"{config.cgroup}/poduid-1"))
        ns = await sandboxes.namespaces(runtime, sandbox)
        app = spec.ContainerConfig(name="app", image="busybox", command=["sh", "-c", "sleep 600"],
                                   cgroup_parent=f"{config.cgroup}/poduid-1")
        cid = await runtime.create_container(sandboxes.join(app, ns, pod.netns_path))
        await runtime.start(cid)
        app_pid = (await runtime.status(cid)).pid
        assert _alive(app_pid)
        os.makedirs(tmpfs)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", tmpfs], check=True)

        result = kyb_killall(config.data_dir)
        assert result.returncode == 0, result.stderr

        fake.wait(5)
        assert not _alive(app_pid)
        assert await runtime.runc.list() == []
        assert rootfs.mounts_under(config.data_dir) == []
        assert cgroups.all_dirs(config.cgroup) == []
        assert not [n for n in iproute.list_netns() if n.startswith(plan.prefix + "-")]
        assert not os.path.exists(os.path.join(config.network_state_root, plan.prefix))
        after = await asyncio.to_thread(probes.machine_state)
        assert probes.changes(before, after, plan) == {}
        # The output says what went.
        assert "containers: 2" in result.stdout and "processes: 1" in result.stdout
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()
        await killall.killall(config.data_dir)
        await network_cleanup.cleanup(plan.prefix, plan=plan, state_root=config.network_state_root)


async def test_killall_without_a_node(tmp_path):
    """A data dir no agent ever ran in: nothing to do, no error."""
    result = kyb_killall(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_killall_of_a_running_server_with_pods(tmp_path):
    """What k3s-killall.sh is for: ``kyb server`` runs a node with a pod; killall
    ends the server process, its containers, its node's namespaces, mounts
    and cgroups."""
    from tests.e2e.cluster import Kubectl, node_cluster

    before = probes.machine_state()
    with node_cluster(str(tmp_path), agents=0) as c:
        kubectl = Kubectl(c.server, str(tmp_path / "cache"))
        import time
        deadline = time.monotonic() + 90
        while kubectl.run("get", "node", c.server_node, check=False).returncode != 0:
            assert time.monotonic() < deadline, f"node not registered\n{c.logs()}"
            time.sleep(0.5)
        kubectl("wait", "--for=condition=Ready", f"node/{c.server_node}", "--timeout=90s", timeout=120)
        kubectl("run", "k", "--image=busybox", "--", "sh", "-c", "sleep 3600")
        kubectl("wait", "--for=condition=Ready", "pod/k", "--timeout=90s", timeout=120)
        cgroup = f"/kybernetes/{c.server_node}"
        pids = cgroups.procs(cgroup)
        assert pids, "the pod's processes are in the node's cgroup"
        data_dir = c.server.data_dir
        server_pid = c.server.proc.pid
        result = kyb_killall(data_dir)
        assert result.returncode == 0, result.stderr
        assert c.server.proc.wait(5) is not None  # the server was stopped
        assert str(server_pid) in result.stdout
        assert not [p for p in pids if _alive(p)]
        assert cgroups.all_dirs(cgroup) == []
        assert rootfs.mounts_under(data_dir) == []
        assert not [n for n in iproute.list_netns() if n.startswith(c.plan.prefix + "-")]
    after = probes.machine_state()
    assert probes.changes(before, after, c.plan) == {}


async def test_killall_keeps_the_other_nodes_network(tmp_path):
    """Two nodes of one cluster on this machine: killall of one removes its node
    host only; the other's namespace, the bridge and its routes stay."""
    plan = await probes.free_plan()
    state_root = str(tmp_path / "netstate")
    names = [f"kt-{secrets.token_hex(3)}" for _ in range(2)]
    configs = [KubeletConfig(node_name=n, data_dir=str(tmp_path / n), network_prefix=plan.prefix,
                             node_network=str(plan.node_network), cluster_cidr=str(plan.cluster_cidr),
                             service_cidr=str(plan.service_cidr), network_state_root=state_root)
               for n in names]
    net = network_cluster.ClusterNetwork(plan, state_root=state_root)
    cidrs = plan.cluster_cidr.subnets(new_prefix=24)
    try:
        for config in configs:
            killall.write_record(config, server="https://127.0.0.1:1")
            host = await net.add_node_host(config.node_name, next(cidrs))
            await net.pod_network(host).setup(f"uid-{config.node_name}")
        gone, kept = configs
        result = kyb_killall(gone.data_dir)
        assert result.returncode == 0, result.stderr
        netns = iproute.list_netns()
        assert f"{plan.prefix}-node-{gone.node_name}" not in netns
        assert f"{plan.prefix}-node-{kept.node_name}" in netns
        assert await iproute.link_exists(plan.bridge)
        assert [h.name for h in await net.node_hosts()] == [kept.node_name]
        # The last node: everything of the prefix goes.
        assert kyb_killall(kept.data_dir).returncode == 0
        assert not [n for n in iproute.list_netns() if n.startswith(plan.prefix + "-")]
        assert not await iproute.link_exists(plan.bridge)
    finally:
        await network_cleanup.cleanup(plan.prefix, plan=plan, state_root=state_root)
