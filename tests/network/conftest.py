"""Fixtures for the network tests: a cluster network with a plan of its own,
removed again, and checked to leave the machine as it was, even on failure."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.network import probes

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2 (network namespaces)")


@pytest.fixture
async def network(tmp_path):
    """A ClusterNetwork on free ranges with a unique prefix; afterwards cleaned
    up, and the machine's namespaces, links, addresses, routes, iptables,
    nftables and sysctls compared with how they were before."""
    async with probes.cluster_network(await probes.free_plan(), str(tmp_path / "state")) as net:
        yield net
