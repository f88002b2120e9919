"""Pod sandbox churn: setup/teardown cycles on one node host, timed.

    python3 bench/network_cycles.py [--cycles 1000] [--parallel 1]

Needs root (network namespaces). Builds a cluster network on free private
ranges with a prefix of its own (as the tests do), runs the cycles on one node
host, checks that no address, veth or namespace leaked, removes everything
(also on an error or Ctrl-C) and checks the machine's namespaces, links,
routes and iptables are as before. Prints cycles, seconds, cycles/s and the
mean cycle time in milliseconds. Never part of CI's pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import _root  # noqa: F401 - the repository's packages importable

from kybernetes.network import cleanup, cluster, iproute, pods  # noqa: E402
from tests.network import probes  # noqa: E402


async def churn(pod_network: pods.PodNetwork, cycles: int, parallel: int) -> None:
    async def worker(w: int) -> None:
        for i in range(w, cycles, parallel):
            await pod_network.setup(f"bench-{i}")
            await pod_network.teardown(f"bench-{i}")
    await asyncio.gather(*(worker(w) for w in range(parallel)))


async def main(cycles: int, parallel: int) -> int:
    before = probes.machine_state()
    plan = await probes.free_plan()
    with tempfile.TemporaryDirectory() as state_root:
        net = cluster.ClusterNetwork(plan, state_root=state_root)
        try:
            host = await net.add_node_host("bench", f"{plan.cluster_cidr.network_address + 256}/24")
            pod_network = pods.PodNetwork(host, state_root=state_root)
            started = time.perf_counter()
            await churn(pod_network, cycles, parallel)
            elapsed = time.perf_counter() - started
            leaked = {
                "addresses": len(await pod_network.pods()),
                "veths": len(await iproute.ip_json("link", "show", "master", host.bridge, netns=host.netns)),
                "namespaces": len([n for n in iproute.list_netns() if n.startswith(f"{plan.prefix}-pod-")]),
            }
        finally:
            await cleanup.cleanup(plan.prefix, plan=plan, state_root=state_root)
    left = probes.changes(before, probes.machine_state(), plan)
    print(f"cycles {cycles}  parallel {parallel}  seconds {elapsed:.1f}  cycles/s {cycles / elapsed:.1f}"
          f"  ms/cycle {elapsed / cycles * 1000:.1f}")
    print(f"leaked after the cycles: {leaked}; left on the machine after cleanup: {left or 'nothing'}")
    return 0 if not any(leaked.values()) and not left else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=1, help="concurrent setup/teardown workers")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.cycles, args.parallel)))
