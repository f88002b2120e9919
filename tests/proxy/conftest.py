"""Fixtures for kube-proxy's tests: an API server whose Service range is a free
range of this machine, and a cluster network (node host, pods) on that plan,
removed afterwards and checked to leave the machine as it was."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from tests import servers
from tests.e2e.cluster import API_ONLY, Server, free_port, running
from tests.network import probes
from tests.proxy import traffic

BACKEND_PORT = 8080

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables-restore"),
    reason="needs root, iproute2 and iptables (network namespaces)")


@pytest.fixture(scope="module")
def plan():
    """Free ranges for this module's cluster; the API server allocates ClusterIPs from them."""
    return asyncio.run(probes.free_plan())


@pytest.fixture(scope="module")
def server(tmp_path_factory, plan):
    args = [*API_ONLY, "--service-cidr", str(plan.service_cidr), "--cluster-cidr", str(plan.cluster_cidr)]
    with running(Server(str(tmp_path_factory.mktemp("kyb-proxy-server")), free_port(), args=args)) as s:
        yield s


client = servers.client_fixture("kube-proxy-test")
namespace = servers.namespace_fixture(delete=True)


@pytest.fixture
async def network(tmp_path, plan):
    """A ClusterNetwork on the module's plan, cleaned up afterwards; the machine's
    namespaces, links, routes, iptables, nftables and sysctls must be as before."""
    async with probes.cluster_network(plan, str(tmp_path / "state")) as net:
        yield net


@pytest.fixture
async def backends():
    """Servers started in pod namespaces by a test, killed afterwards."""
    started = traffic.Servers()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def node(network, backends):
    """One node host ("node1") with pods a and b serving TCP on :8080 (answering
    pod-a, pod-b) and a client pod c."""
    host = await network.add_node_host("node1", list(network.plan.cluster_cidr.subnets(new_prefix=24))[1])
    pods = network.pod_network(host)
    made = {uid: await pods.setup(f"pod-{uid}") for uid in ("a", "b", "c")}
    for uid in ("a", "b"):
        await backends.start(made[uid].netns, f"pod-{uid}", BACKEND_PORT)
    return host, made
