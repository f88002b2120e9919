"""`kyb proxy`: kube-proxy alone, for one node, through a kubeconfig.

    kyb proxy --kubeconfig K --node-name N --netns kyb-node-N \
        [--proxy-mode iptables|nftables|userspace] [--cluster-cidr 10.244.0.0/16] [--node-ip IP ...]

`--netns` names the node host namespace the rules go into (kybernetes.network);
the machine's own namespace is refused. `--cleanup` removes this mode's rules
from it and exits, as kube-proxy --cleanup.
"""

from __future__ import annotations

import argparse

from kybernetes.client import commands
from kybernetes.proxy import hosts, proxier


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("proxy", help="run kube-proxy for one node (inside its node host namespace)")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--node-name", required=True)
    p.add_argument("--netns", required=True, help="the node host's network namespace (name or /run/netns path)")
    p.add_argument("--proxy-mode", default="iptables", choices=proxier.MODES)
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--node-ip", action="append", default=[], help="an address NodePorts answer on (repeatable)")
    p.add_argument("--min-sync-period", type=float, default=proxier.MIN_SYNC_PERIOD)
    p.add_argument("--sync-period", type=float, default=proxier.SYNC_PERIOD)
    p.add_argument("--cleanup", action="store_true", help="remove the mode's rules and exit")
    p.set_defaults(run=run)
    return p


async def run(args: argparse.Namespace) -> int:
    if args.cleanup:
        target = hosts.NodeHostNetns(args.netns)
        await proxier.make_proxier(args.proxy_mode, target, cluster_cidr=args.cluster_cidr,
                                   node_ips=args.node_ip).cleanup()
        return 0
    async with commands.client(args, "kube-proxy") as client:
        return await commands.until_signal(proxier.run_proxy(
            client, node_name=args.node_name, netns=args.netns, mode=args.proxy_mode,
            cluster_cidr=args.cluster_cidr, node_ips=args.node_ip,
            min_sync_period=args.min_sync_period, sync_period=args.sync_period))
