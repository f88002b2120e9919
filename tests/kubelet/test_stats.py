"""/stats/summary from real runc containers in a real pod network namespace."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid

import pytest

from kybernetes.kubelet import config as kconfig
from kybernetes.kubelet import stats
from kybernetes.runtime import containers, sandboxes, spec
from tests.network.conftest import needs_root, network  # noqa: F401 - the fixture
from tests.runtime.conftest import assert_clean
from tests.runtime.helpers import wait_running

pytestmark = needs_root

HOG_MIB = 96
HOG = f"""
import time
b = bytearray({HOG_MIB} << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
t = time.time()
while time.time() - t < 0.5:
    pass
print("ready", flush=True)
time.sleep(3600)
"""


@pytest.fixture
async def runtime(tmp_path, network):  # noqa: F811 - torn down before the network
    rt = containers.Runtime(str(tmp_path / "runtime"), cgroup_parent=f"/kybernetes-test-{secrets.token_hex(4)}")
    try:
        yield rt
    finally:
        await assert_clean(rt)


@pytest.fixture
def config(tmp_path, network, runtime):  # noqa: F811
    plan = network.plan
    return kconfig.KubeletConfig(node_name="n1", data_dir=str(tmp_path / "data"),
                                 network_prefix=plan.prefix, node_network=str(plan.node_network),
                                 cluster_cidr=str(plan.cluster_cidr), service_cidr=str(plan.service_cidr),
                                 network_state_root=network.state_root, cgroup_parent=runtime.cgroup_parent)


def _pod(uid: str) -> dict:
    return {"metadata": {"name": "hog", "namespace": "default", "uid": uid},
            "spec": {"containers": [{"name": "hog"}, {"name": "idle"}],
                     "volumes": [{"name": "cache", "emptyDir": {}},
                                 {"name": "data", "persistentVolumeClaim": {"claimName": "claim-1"}},
                                 {"name": "not-set-up", "emptyDir": {}}]}}


def _volumes(config, uid: str) -> None:
    """What the volume manager leaves: an emptyDir with 1 MiB written, a PVC's dir."""
    base = os.path.join(config.pod_dir(uid), "volumes")
    os.makedirs(os.path.join(base, "kubernetes.io~empty-dir", "cache"))
    with open(os.path.join(base, "kubernetes.io~empty-dir", "cache", "blob"), "wb") as f:
        f.write(os.urandom(1 << 20))
    os.makedirs(os.path.join(base, "kubernetes.io~local-volume", "data"))


async def _run_pod(runtime, network, uid: str) -> tuple[str, list[str]]:  # noqa: F811
    host = await network.add_node_host("n1", f"{network.plan.cluster_cidr.network_address + 256}/24")
    pod_ip = await network.pod_network(host).setup(uid)
    labels = {stats.POD_UID_LABEL: uid, stats.POD_NAME_LABEL: "hog", stats.POD_NAMESPACE_LABEL: "default"}
    parent = f"{runtime.cgroup_parent}/pod{uid}"
    sandbox = await sandboxes.run_sandbox(runtime, sandboxes.SandboxConfig(
        name=f"default_hog_{uid}", hostname="hog", netns_path=pod_ip.netns_path, cgroup_parent=parent,
        labels=labels))
    ns = await sandboxes.namespaces(runtime, sandbox)
    ids = []
    for name, command in (("hog", ["python3", "-c", HOG]), ("idle", ["sleep", "3600"])):
        cfg = sandboxes.join(spec.ContainerConfig(
            name=name, image="busybox", command=command, cgroup_parent=parent,
            labels={**labels, stats.CONTAINER_NAME_LABEL: name}), ns, pod_ip.netns_path)
        cid = await runtime.create_container(cfg)
        await runtime.start(cid)
        ids.append(cid)
    await wait_running(runtime, ids[0], marker="ready", timeout=60)
    # traffic on the pod's eth0: ping its gateway once
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", pod_ip.netns, "python3", "-c",
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.sendto(b'x'*1000, ('{host.gateway.ip}', 9))")
    await proc.wait()
    return sandbox, ids


async def test_summary_of_a_pod_with_a_memory_hungry_container(config, runtime, network):  # noqa: F811
    uid = str(uuid.uuid4())
    _sandbox, ids = await _run_pod(runtime, network, uid)
    _volumes(config, uid)
    provider = stats.StatsProvider(config, runtime)
    other = {"metadata": {"name": "gone", "namespace": "default", "uid": str(uuid.uuid4())}}
    summary = await provider.summary([_pod(uid), other], "n1")

    node = summary["node"]
    assert node["nodeName"] == "n1"
    assert node["memory"]["workingSetBytes"] > HOG_MIB << 20
    assert node["memory"]["availableBytes"] + node["memory"]["workingSetBytes"] == stats.meminfo()["MemTotal"]
    assert node["cpu"]["usageCoreNanoSeconds"] > 0 and node["cpu"]["usageNanoCores"] > 0
    assert node["fs"]["capacityBytes"] >= node["fs"]["availableBytes"] > 0
    assert "imageFs" in node["runtime"] and node["rlimit"]["maxpid"] > node["rlimit"]["curproc"] > 0
    assert node["network"]["name"] == "eth0"  # the node host's uplink
    pods_container = {c["name"]: c for c in node["systemContainers"]}["pods"]
    assert pods_container["memory"]["workingSetBytes"] > HOG_MIB << 20

    [pod] = summary["pods"]  # the pod without containers is left out
    assert pod["podRef"] == {"name": "hog", "namespace": "default", "uid": uid}
    by_name = {c["name"]: c for c in pod["containers"]}
    assert set(by_name) == {"hog", "idle"}  # not the sandbox
    hog = by_name["hog"]
    assert hog["memory"]["workingSetBytes"] > HOG_MIB << 20
    assert hog["memory"]["usageBytes"] >= hog["memory"]["workingSetBytes"]
    assert hog["memory"]["rssBytes"] > HOG_MIB << 20
    assert hog["memory"]["pageFaults"] > (HOG_MIB << 20) // 4096
    assert "availableBytes" not in hog["memory"]  # no limit set
    assert hog["cpu"]["usageCoreNanoSeconds"] > 0 and hog["cpu"]["usageNanoCores"] > 0
    assert by_name["idle"]["memory"]["workingSetBytes"] < 16 << 20
    assert hog["rootfs"]["capacityBytes"] > 0
    assert hog["logs"]["usedBytes"] > 0 and hog["logs"]["inodesUsed"] == 1  # its "ready" line
    # pod level: the pod cgroup (both containers)
    assert pod["memory"]["workingSetBytes"] >= hog["memory"]["workingSetBytes"]
    assert pod["cpu"]["usageCoreNanoSeconds"] >= hog["cpu"]["usageCoreNanoSeconds"]
    assert pod["process_stats"]["process_count"] == 2  # both containers; the sandbox has no process
    assert pod["network"]["name"] == "eth0" and pod["network"]["txBytes"] >= 1000
    assert [i["name"] for i in pod["network"]["interfaces"]] == ["eth0"]
    volumes = {v["name"]: v for v in pod["volume"]}
    assert set(volumes) == {"cache", "data"}  # only volumes set up on the node
    assert volumes["cache"]["usedBytes"] >= 1 << 20 and volumes["cache"]["inodesUsed"] == 2
    assert volumes["data"]["pvcRef"] == {"name": "claim-1", "namespace": "default"}
    assert pod["ephemeral-storage"]["usedBytes"] >= volumes["cache"]["usedBytes"]

    # a second sample: the rate is over the time between the two
    await asyncio.sleep(0.5)
    again = await stats.summary(config, runtime, [_pod(uid)], "n1")
    again = await stats.summary(config, runtime, [_pod(uid)], "n1")
    hog2 = {c["name"]: c for c in again["pods"][0]["containers"]}["hog"]
    assert hog2["cpu"]["usageCoreNanoSeconds"] >= hog["cpu"]["usageCoreNanoSeconds"]
    assert hog2["cpu"]["usageNanoCores"] < 500_000_000  # asleep now: far below its busy start

    # the container's memory limit gives availableBytes
    await runtime.update_resources(ids[0], spec.Resources(memory_limit=512 << 20))
    limited = await provider.summary([_pod(uid)], "n1")
    hog3 = {c["name"]: c for c in limited["pods"][0]["containers"]}["hog"]
    assert hog3["memory"]["availableBytes"] == (512 << 20) - hog3["memory"]["workingSetBytes"]
    await sandboxes.stop_sandbox(runtime, _sandbox)
    await network.pod_network(await network.add_node_host(
        "n1", f"{network.plan.cluster_cidr.network_address + 256}/24")).teardown(uid)


def test_rfc3339_and_interfaces_of_our_namespace():
    assert stats.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert stats.rfc3339(1_700_000_000_999_999_999) == "2023-11-14T22:13:20Z"
    assert all(i["name"] != "lo" for i in stats.interfaces(None))
    assert os.path.exists("/proc/thread-self/net/dev")
