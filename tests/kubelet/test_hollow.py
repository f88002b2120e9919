"""Hollow nodes against a real API server: registration, leases, pods run, finish and go."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid

import pytest

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.kubelet import hollow
from tests import servers
from tests.polling import eventually

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")

server = servers.server_fixture("kyb-hollow-server", ["--disable-scheduler"])
client = servers.client_fixture("hollow-test")
namespace = servers.namespace_fixture()


@pytest.fixture
async def nodes(client):
    """Two hollow nodes with a fast (1 s) Lease renewal, running for the test."""
    prefix = f"h{uuid.uuid4().hex[:4]}-"
    hn = hollow.HollowNodes(client, count=2, name_prefix=prefix, lease_renew_interval=1.0)
    task = asyncio.create_task(hn.run())
    await asyncio.wait_for(hn.ready.wait(), 20)
    yield hn
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for name in hn.names:
        with contextlib.suppress(StatusError):
            await client.delete(NODES, name)


def bound_pod(name: str, node: str, **extra) -> dict:
    spec = {"nodeName": node, "containers": [{"name": "app", "image": "nginx:1.27"}]}
    spec.update(extra.pop("spec", {}))
    return {"metadata": {"name": name, **extra}, "spec": spec}


async def test_nodes_register_ready_with_capacity_and_simulation_marks(client, nodes):
    node = await client.get(NODES, nodes.names[0])
    meta, st = node["metadata"], node["status"]
    assert meta["labels"]["kubernetes.io/hostname"] == nodes.names[0]
    assert meta["labels"]["node.kubernetes.io/instance-type"] == "hollow"
    assert meta["labels"]["kubernetes.io/os"] == "linux"
    assert meta["annotations"][hollow.SIMULATED] == "true"
    assert st["allocatable"] == {"cpu": "4", "memory": "16Gi", "pods": "110",
                                 "ephemeral-storage": "100Gi"}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conditions["Ready"] == ("True", "KubeletReady")
    for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[pressure][0] == "False"
    addresses = {a["type"]: a["address"] for a in st["addresses"]}
    assert ipaddress.ip_address(addresses["InternalIP"]).is_loopback
    assert addresses["Hostname"] == nodes.names[0]
    assert st["nodeInfo"]["kubeletVersion"] == "v1.32.4-hollow"
    assert st["nodeInfo"]["containerRuntimeVersion"] == "hollow://1.0"


async def test_leases_renew_until_the_node_is_stopped(client, nodes):
    live, lost = nodes.names
    first = {n: (await client.get(LEASES, n, "kube-node-lease"))["spec"] for n in nodes.names}
    assert first[live]["holderIdentity"] == live
    assert first[live]["leaseDurationSeconds"] == 40
    nodes.stop(lost)
    await asyncio.sleep(1.0)
    stopped_at = (await client.get(LEASES, lost, "kube-node-lease"))["spec"]["renewTime"]
    await asyncio.sleep(2.5)
    now = {n: (await client.get(LEASES, n, "kube-node-lease"))["spec"]["renewTime"] for n in nodes.names}
    assert now[live] > first[live]["renewTime"]
    assert now[lost] == stopped_at


async def test_pods_run_with_ips_from_the_pod_cidr_and_deletion_completes(client, nodes, namespace):
    a, b = nodes.names

    async def pod_cidr(name: str) -> str | None:
        return (await client.get(NODES, name))["spec"].get("podCIDR")
    # The node IPAM controller hands out podCIDRs; without one, the node's own gets used.
    for name, cidr in ((a, "10.123.6.0/24"), (b, "10.123.7.0/24")):
        if not await eventually(lambda: pod_cidr(name), timeout=3):
            await client.patch(NODES, name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
    cidr_b = await pod_cidr(b)
    await asyncio.sleep(0.3)  # the hollow kubelet's node informer catches up
    for name, node in (("pa", a), ("pb", b), ("pb2", b)):
        await client.create(PODS, bound_pod(name, node), namespace)

    async def running():
        items = (await client.list(PODS, namespace))["items"]
        return items if len(items) == 3 and all(p["status"].get("phase") == "Running" for p in items) \
            else None
    pods = {p["metadata"]["name"]: p for p in await eventually(running)}
    assert pods, "pods did not start"
    cidr_a = await pod_cidr(a)
    assert ipaddress.ip_address(pods["pa"]["status"]["podIP"]) in ipaddress.ip_network(cidr_a)
    ips_b = {pods[n]["status"]["podIP"] for n in ("pb", "pb2")}
    assert len(ips_b) == 2 and all(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr_b)
                                   for ip in ips_b)
    st = pods["pa"]["status"]
    assert st["hostIP"] == nodes.node_ip(a)
    assert st["startTime"]
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
        "ContainersReady": "True", "PodScheduled": "True"}
    [cs] = st["containerStatuses"]
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["image"] == "nginx:1.27" and cs["imageID"]
    assert cs["containerID"] == f"hollow://{pods['pa']['metadata']['uid']}-app"
    assert cs["state"]["running"]["startedAt"]

    await client.delete(PODS, "pa", namespace)  # default 30 s grace; the hollow kubelet finishes it

    async def gone():
        try:
            await client.get(PODS, "pa", namespace)
        except StatusError as e:
            return e.code == 404
        return False
    assert await eventually(gone, timeout=5)


async def test_succeed_after_annotation_completes_a_pod(client, nodes, namespace):
    annotations = {"annotations": {hollow.SUCCEED_AFTER: "1s"}}
    await client.create(PODS, bound_pod("job", nodes.names[0], spec={"restartPolicy": "Never"},
                                        **annotations), namespace)
    await client.create(PODS, bound_pod("svc", nodes.names[0], **annotations), namespace)

    async def done():
        p = await client.get(PODS, "job", namespace)
        return p if p["status"].get("phase") == "Succeeded" else None
    p = await eventually(done, timeout=10)
    assert p, "pod did not succeed"
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"]
    assert ready == "False"
    svc = await client.get(PODS, "svc", namespace)  # restartPolicy Always: keeps running
    assert svc["status"]["phase"] == "Running"
    await client.create(PODS, bound_pod("bad", nodes.names[1], spec={"restartPolicy": "Never"},
                                        annotations={hollow.FAIL_AFTER: "500ms"}), namespace)

    async def failed():
        p = await client.get(PODS, "bad", namespace)
        return p if p["status"].get("phase") == "Failed" else None
    p = await eventually(failed, timeout=10)
    assert p, "pod did not fail"
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (1, "Error")


def test_parse_duration():
    assert hollow.parse_duration("2s") == 2.0
    assert hollow.parse_duration("1m30s") == 90.0
    assert hollow.parse_duration("500ms") == 0.5
    with pytest.raises(ValueError):
        hollow.parse_duration("2 s")


def test_pod_ips_fall_back_to_a_per_node_slice_of_the_cluster_cidr():
    hn = hollow.HollowNodes(None, count=3, name_prefix="f-")  # type: ignore[arg-type]
    ips = [hn._allocate_ip("f-2", f"ns/p{i}") for i in range(3)]
    assert ips == ["10.244.2.2", "10.244.2.3", "10.244.2.4"]
    assert hn._allocate_ip("f-2", "ns/p0") == "10.244.2.2"  # stable per pod
    assert hn.node_ip("f-0") != hn.node_ip("f-1")


async def test_a_node_marked_not_ready_posts_ready_again(client, nodes):
    name = nodes.names[0]
    unknown = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
               "message": "Kubelet stopped posting node status."}
    await client.patch(NODES, name, {"status": {"conditions": [unknown]}}, subresource="status",
                       patch_type="strategic")

    async def ready_again():
        node = await client.get(NODES, name)
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    assert await eventually(ready_again, timeout=5)
