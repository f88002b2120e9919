"""Fixtures for the network tests: a cluster network with a plan of its own,
removed again, and checked to leave the machine as it was, even on failure."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from kybernetes.network import cleanup, cluster
from tests.network import probes

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2 (network namespaces)")


@pytest.fixture
async def network(tmp_path):
    """A ClusterNetwork on free ranges with a unique prefix; afterwards cleaned
    up, and the machine's namespaces, links, addresses, routes, iptables,
    nftables and sysctls compared with how they were before."""
    before = await asyncio.to_thread(probes.machine_state)
    plan = await probes.free_plan()
    net = cluster.ClusterNetwork(plan, state_root=str(tmp_path / "state"))
    try:
        yield net
    finally:
        await cleanup.cleanup(plan.prefix, plan=plan, state_root=net.state_root)
        after = await asyncio.to_thread(probes.machine_state)
        assert probes.changes(before, after, plan) == {}, "the test left traces on the machine"
