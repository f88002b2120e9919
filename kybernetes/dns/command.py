"""``kyb dns``: the cluster DNS server alone, talking to an API server through
a kubeconfig (in a cluster it runs as the kube-dns Deployment's pods)."""

from __future__ import annotations

import argparse

from kybernetes.client import commands
from kybernetes.dns import forwarding, server


def add_parser(sub) -> None:
    p = sub.add_parser("dns", help="run the cluster DNS server")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--bind", default="0.0.0.0", help="address to answer DNS on (UDP and TCP)")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--upstream", action="append", default=[],
                   help="upstream resolver host[:port] (repeatable; default: /etc/resolv.conf's)")
    p.add_argument("--ttl", type=int, default=5, help="TTL of cluster answers, in seconds")
    p.add_argument("--health-bind", default="0.0.0.0", help="address of /health and /ready")
    p.add_argument("--health-port", type=int, default=8080)
    p.add_argument("--ready-port", type=int, default=8181)
    p.set_defaults(run=run)


def settings(args: argparse.Namespace) -> server.Settings:
    upstreams = [forwarding.parse_upstream(u) for spec in args.upstream for u in spec.split(",") if u.strip()]
    return server.Settings(bind=args.bind, port=args.port, cluster_domain=args.cluster_domain,
                           upstreams=upstreams, ttl=args.ttl, health_bind=args.health_bind,
                           health_port=args.health_port, ready_port=args.ready_port)


async def run(args: argparse.Namespace) -> int:
    async with commands.client(args, "kyb-dns") as client:
        return await commands.until_signal(server.DNSServer(client, settings(args)).run())
