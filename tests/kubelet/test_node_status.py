"""Node registration, Lease and status against a real API server (API only),
read back as users read them (kubectl, the kubernetes Python client)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from dataclasses import dataclass

import pytest

from kybernetes.api import quantities, registry
from kybernetes.api.status import StatusError
from kybernetes.kubelet import config as kconfig
from kybernetes.kubelet import node_status, stats
from kybernetes.runtime import containers
from tests import servers
from tests.polling import eventually
from tests.e2e.cluster import API_ONLY, Kubectl

NODES = registry.lookup("", "v1", "nodes")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")

server = servers.server_fixture("kyb-kubelet-node-status", API_ONLY)
client = servers.client_fixture("node-status-test")


@pytest.fixture
def kubectl(server, tmp_path):
    return Kubectl(server, str(tmp_path / "kubectl-cache"))


@pytest.fixture
async def config(client, tmp_path):
    cfg = kconfig.KubeletConfig(node_name=f"node-{uuid.uuid4().hex[:6]}", data_dir=str(tmp_path / "data"),
                                port=12345, lease_renew_interval=0.5, node_status_update_frequency=0.5,
                                node_labels={"example.com/role": "test"},
                                register_taints=[{"key": "example.com/dedicated", "value": "x",
                                                  "effect": "NoSchedule"}])
    yield cfg
    with contextlib.suppress(StatusError):
        await client.delete(NODES, cfg.node_name)


@pytest.fixture
def runtime(config):
    # Nothing is started: the reporter only lists images and reads the machine.
    return containers.Runtime(config.runtime_dir, cgroup_parent=f"/kybernetes-test-{secrets.token_hex(4)}")


ADDRESSES = [{"type": "InternalIP", "address": "172.31.255.7"}]


async def test_register_creates_the_node_users_see(client, config, kubectl):
    node = await node_status.register(client, config, addresses=ADDRESSES)
    assert node["metadata"]["name"] == config.node_name
    seen = await asyncio.to_thread(kubectl.json, "get", "node", config.node_name)
    meta, spec, st = seen["metadata"], seen["spec"], seen["status"]
    assert meta["labels"] == {
        "kubernetes.io/hostname": config.node_name, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": node_status.arch(), "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": node_status.arch(), "example.com/role": "test"}
    assert spec["taints"] == [{"key": "example.com/dedicated", "value": "x", "effect": "NoSchedule"}]
    # capacity from the machine, allocatable minus the hard eviction reservation
    mem_total = stats.meminfo()["MemTotal"]
    assert st["capacity"]["cpu"] == str(os.cpu_count())
    assert quantities.value(quantities.parse(st["capacity"]["memory"])) == mem_total
    assert quantities.value(quantities.parse(st["allocatable"]["memory"])) == mem_total - 100 * 1024 * 1024
    fs = os.statvfs(config.root_dir)
    disk = fs.f_blocks * fs.f_frsize
    assert quantities.value(quantities.parse(st["capacity"]["ephemeral-storage"])) == disk
    assert quantities.value(quantities.parse(st["allocatable"]["ephemeral-storage"])) == disk - int(disk * 0.1)
    assert st["capacity"]["pods"] == "110" and st["capacity"]["hugepages-2Mi"] == "0"
    assert st["addresses"] == [{"type": "InternalIP", "address": "172.31.255.7"},
                               {"type": "Hostname", "address": config.node_name}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 12345}}
    info = st["nodeInfo"]
    assert info["kubeletVersion"] == kconfig.KUBELET_VERSION
    assert info["containerRuntimeVersion"].startswith("kyb-runc://1.")
    assert info["operatingSystem"] == "linux" and info["kernelVersion"] == os.uname().release
    assert info["bootID"] and info["machineID"] and info["osImage"]
    types = [(c["type"], c["status"], c["reason"]) for c in st["conditions"]]
    assert types == [("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                     ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                     ("PIDPressure", "False", "KubeletHasSufficientPID"),
                     ("Ready", "False", "KubeletNotReady")]  # no pod network before the podCIDR
    table = await asyncio.to_thread(kubectl, "get", "node", config.node_name)
    assert "NotReady" in table and kconfig.KUBELET_VERSION in table


async def test_register_adopts_an_existing_node(client, config):
    made = await client.create(NODES, {"metadata": {"name": config.node_name,
                                                    "labels": {"mine": "kept", "kubernetes.io/os": "wrong"}},
                                       "spec": {"podCIDR": "10.99.3.0/24"}})
    node = await node_status.register(client, config, addresses=ADDRESSES)
    assert node["metadata"]["uid"] == made["metadata"]["uid"]
    labels = node["metadata"]["labels"]
    assert labels["mine"] == "kept" and labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/hostname"] == config.node_name
    assert node["spec"]["podCIDR"] == "10.99.3.0/24"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == kconfig.KUBELET_VERSION
    assert {c["type"] for c in node["status"]["conditions"]} == {
        "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}
    # again: still the same node
    again = await node_status.register(client, config, addresses=ADDRESSES)
    assert again["metadata"]["uid"] == made["metadata"]["uid"]


async def test_wait_for_pod_cidr_sees_the_nodeipam_write(client, config):
    await node_status.register(client, config, addresses=ADDRESSES)
    waiting = asyncio.create_task(node_status.wait_for_pod_cidr(client, config.node_name))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    # what the nodeipam controller does
    await client.patch(NODES, config.node_name, {"spec": {"podCIDR": "10.77.5.0/24",
                                                          "podCIDRs": ["10.77.5.0/24"]}})
    assert await asyncio.wait_for(waiting, 10) == "10.77.5.0/24"
    # already set: at once
    assert await asyncio.wait_for(node_status.wait_for_pod_cidr(client, config.node_name), 5) == "10.77.5.0/24"


async def test_reporter_renews_the_lease_and_posts_ready_status(client, config, runtime, server):
    registered = await node_status.register(client, config, addresses=ADDRESSES, runtime=runtime)
    ready_errors: list[str] = []
    reporter = node_status.NodeStatusReporter(client, config, runtime, addresses_fn=lambda: ADDRESSES,
                                              pods_fn=lambda: [], ready_fn=lambda: list(ready_errors))
    task = asyncio.create_task(reporter.run())
    try:
        async def lease():
            with contextlib.suppress(StatusError):
                return await client.get(LEASES, config.node_name, "kube-node-lease")
        first = await eventually(lease, timeout=15)
        assert first["spec"]["holderIdentity"] == config.node_name
        assert first["spec"]["leaseDurationSeconds"] == 40
        assert first["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Node", "name": config.node_name,
             "uid": registered["metadata"]["uid"]}]

        async def renewed():
            now = await lease()
            return now if now["spec"]["renewTime"] > first["spec"]["renewTime"] else None
        assert await eventually(renewed, timeout=15)

        async def ready():
            node = await client.get(NODES, config.node_name)
            cond = {c["type"]: c for c in node["status"]["conditions"]}
            return node if cond["Ready"]["status"] == "True" else None
        node = await eventually(ready, timeout=15)
        cond = {c["type"]: c for c in node["status"]["conditions"]}
        assert cond["Ready"]["reason"] == "KubeletReady"
        assert cond["Ready"]["message"] == "kubelet is posting ready status"
        assert cond["MemoryPressure"]["message"] == "kubelet has sufficient memory available"
        assert cond["DiskPressure"]["message"] == "kubelet has no disk pressure"
        assert cond["PIDPressure"]["message"] == "kubelet has sufficient PID available"
        transition = cond["Ready"]["lastTransitionTime"]
        pressure_since = cond["MemoryPressure"]["lastTransitionTime"]

        async def heartbeat():  # times have whole seconds: wait for the next one
            n = await client.get(NODES, config.node_name)
            c = {x["type"]: x for x in n["status"]["conditions"]}
            return c if c["Ready"]["lastHeartbeatTime"] > cond["Ready"]["lastHeartbeatTime"] else None
        later = await eventually(heartbeat, timeout=15)
        assert later["Ready"]["lastTransitionTime"] == transition  # no transition, only a heartbeat
        assert later["MemoryPressure"]["lastTransitionTime"] == pressure_since

        # the kubelet reports why it is not ready, and the Python client sees it
        ready_errors.append("PLEG is not healthy: pleg was last seen active 3m0s ago")

        async def not_ready():
            n = await client.get(NODES, config.node_name)
            c = {x["type"]: x for x in n["status"]["conditions"]}
            return c if c["Ready"]["status"] == "False" else None
        c = await eventually(not_ready, timeout=15)
        assert c["Ready"]["reason"] == "KubeletNotReady"
        assert c["Ready"]["message"] == "PLEG is not healthy: pleg was last seen active 3m0s ago"

        from kubernetes import client as k8s, config as k8s_config
        api = k8s.CoreV1Api(k8s_config.new_client_from_config(server.kubeconfig))
        try:
            seen = await asyncio.to_thread(api.read_node, config.node_name)
            assert seen.status.daemon_endpoints.kubelet_endpoint.port == 12345
            assert [a.type for a in seen.status.addresses] == ["InternalIP", "Hostname"]
        finally:
            api.api_client.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with contextlib.suppress(StatusError):
        await client.delete(LEASES, config.node_name, "kube-node-lease")


def test_condition_events_are_the_kubelets():
    def conds(memory, disk, pid, ready):
        return [{"type": t, "status": v} for t, v in (("MemoryPressure", memory), ("DiskPressure", disk),
                                                      ("PIDPressure", pid), ("Ready", ready))]
    # the first post since the kubelet started: every pressure condition, never Ready
    assert node_status.condition_events(None, conds("False", "False", "False", "False")) == [
        "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"]
    assert node_status.condition_events(conds("False", "False", "False", "False"),
                                        conds("False", "False", "False", "True")) == ["NodeReady"]
    assert node_status.condition_events(conds("False", "False", "False", "True"),
                                        conds("True", "False", "False", "False")) == [
        "NodeHasInsufficientMemory", "NodeNotReady"]
    assert node_status.condition_events(conds("True", "True", "True", "True"),
                                        conds("True", "True", "True", "True")) == []
    assert node_status.condition_events(conds("False", "False", "False", "True"),
                                        conds("False", "True", "True", "True")) == [
        "NodeHasDiskPressure", "NodeHasInsufficientPID"]


async def test_reporter_recreates_a_deleted_lease(client, config, runtime):
    await node_status.register(client, config, addresses=ADDRESSES, runtime=runtime)
    reporter = node_status.NodeStatusReporter(client, config, runtime, addresses_fn=lambda: ADDRESSES,
                                              pods_fn=lambda: [])
    first = await reporter.renew_lease()
    await client.delete(LEASES, config.node_name, "kube-node-lease")
    again = await reporter.renew_lease()
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    # somebody else wrote it in between: a conflict is re-read, not fatal
    await client.patch(LEASES, config.node_name, {"metadata": {"labels": {"x": "y"}}},
                       namespace="kube-node-lease")
    third = await reporter.renew_lease()
    assert third["metadata"]["labels"] == {"x": "y"}
    assert third["spec"]["renewTime"] >= again["spec"]["renewTime"]
    await client.delete(LEASES, config.node_name, "kube-node-lease")


# --- fast unit tests (no server) ---


def _node_stats(mem_available=8 << 30, fs_free=0.5, inodes_free=0.5, image_free=0.5, procs=100):
    return {"memory": {"availableBytes": mem_available},
            "fs": {"capacityBytes": 1000, "availableBytes": int(1000 * fs_free),
                   "inodes": 1000, "inodesFree": int(1000 * inodes_free)},
            "runtime": {"imageFs": {"capacityBytes": 1000, "availableBytes": int(1000 * image_free),
                                    "inodes": 1000, "inodesFree": 1000}},
            "rlimit": {"maxpid": 32768, "curproc": procs}}


def test_default_eviction_thresholds():
    calm = {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}
    assert node_status.observed_pressure(_node_stats(), False) == calm
    assert node_status.observed_pressure(_node_stats(mem_available=99 << 20), False)["MemoryPressure"]
    assert not node_status.observed_pressure(_node_stats(mem_available=101 << 20), False)["MemoryPressure"]
    assert node_status.observed_pressure(_node_stats(fs_free=0.09), False)["DiskPressure"]
    assert not node_status.observed_pressure(_node_stats(fs_free=0.11), False)["DiskPressure"]
    assert node_status.observed_pressure(_node_stats(inodes_free=0.04), False)["DiskPressure"]
    # imagefs counts only when images have a filesystem of their own
    assert not node_status.observed_pressure(_node_stats(image_free=0.14), False)["DiskPressure"]
    assert node_status.observed_pressure(_node_stats(image_free=0.14), True)["DiskPressure"]
    assert node_status.observed_pressure(_node_stats(procs=32700), False)["PIDPressure"]


def test_conditions_keep_transition_times_and_use_the_kubelets_words():
    first = node_status.conditions({}, ["network not ready"], None)
    old = [dict(c, lastTransitionTime="2020-01-01T00:00:00Z") for c in first]
    again = node_status.conditions({"DiskPressure": True}, [], old)
    by = {c["type"]: c for c in again}
    assert by["MemoryPressure"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert by["DiskPressure"]["status"] == "True" and by["DiskPressure"]["reason"] == "KubeletHasDiskPressure"
    assert by["DiskPressure"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert by["Ready"]["reason"] == "KubeletReady" and by["Ready"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


@dataclass
class _Image:
    name: str
    size: int
    names: tuple = ()
    repo_digests: tuple = ()


class _Store:
    async def list(self):
        return [_Image("docker.io/library/small:1", 10, ("docker.io/library/small:1",)),
                _Image("docker.io/library/big:2", 1000, ("docker.io/library/big:2", "docker.io/library/big:latest"),
                       ("docker.io/library/big@sha256:" + "a" * 64,))]


class _Runtime:
    images = _Store()


async def test_images_largest_first_digests_then_tags():
    assert await node_status.images(_Runtime()) == [
        {"names": ["docker.io/library/big@sha256:" + "a" * 64, "docker.io/library/big:2",
                   "docker.io/library/big:latest"], "sizeBytes": 1000},
        {"names": ["docker.io/library/small:1"], "sizeBytes": 10}]
