"""``kyb controller-manager``, ``kyb scheduler`` and ``kyb hollow-nodes``: the
control-plane components and the node simulator, each alone, talking to an
API server through a kubeconfig (``kyb server`` runs the first two in process).
"""

from __future__ import annotations

import argparse

from kybernetes.client import commands
from kybernetes.controllers import context as controller_context
from kybernetes.controllers import manager


def controller_settings(args: argparse.Namespace) -> controller_context.Settings:
    return controller_context.Settings(
        node_monitor_period=args.node_monitor_period,
        node_monitor_grace_period=args.node_monitor_grace_period,
        cluster_cidr=args.cluster_cidr,
        node_cidr_mask_size=args.node_cidr_mask_size,
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
    )


def add_controller_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node-monitor-period", type=float, default=5.0)
    p.add_argument("--node-monitor-grace-period", type=float, default=50.0)
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)


def add_parsers(sub) -> None:
    p = sub.add_parser("controller-manager", help="run the controllers")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--leader-elect", default="true", choices=["true", "false"])
    p.add_argument("--controllers", default="*", help="comma-separated names, * for all")
    add_controller_flags(p)
    p.set_defaults(run=run_controller_manager)

    p = sub.add_parser("scheduler", help="run the scheduler")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--scheduler-name", default="default-scheduler",
                   help="schedule pods whose spec.schedulerName is this")
    p.add_argument("--leader-elect", default="true", choices=["true", "false"])
    p.set_defaults(run=run_scheduler)

    p = sub.add_parser("hollow-nodes", help="simulated kubelets (as kwok), for testing the control plane")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--name-prefix", default="hollow-")
    p.add_argument("--cpu", default="4", help="each node's cpu capacity")
    p.add_argument("--memory", default="16Gi", help="each node's memory capacity")
    p.add_argument("--pods", type=int, default=110, help="each node's pod capacity")
    p.set_defaults(run=run_hollow_nodes)


def controller_names(spec: str) -> list[str]:
    if spec in ("*", ""):
        return list(manager.CONTROLLERS)
    return [n.strip() for n in spec.split(",") if n.strip()]


async def run_controller_manager(args: argparse.Namespace) -> int:
    async with commands.client(args, "kube-controller-manager") as client:
        cm = manager.ControllerManager(client, controller_settings(args),
                                       controllers=controller_names(args.controllers),
                                       leader_elect=args.leader_elect == "true")
        return await commands.until_signal(cm.run())


async def run_scheduler(args: argparse.Namespace) -> int:
    from kybernetes.scheduler import scheduler

    async with commands.client(args, "kube-scheduler") as client:
        s = scheduler.Scheduler(client, scheduler_name=args.scheduler_name,
                                leader_elect=args.leader_elect == "true")
        return await commands.until_signal(s.run())


async def run_hollow_nodes(args: argparse.Namespace) -> int:
    from kybernetes.kubelet import hollow

    async with commands.client(args, "hollow-node") as client:
        nodes = hollow.HollowNodes(client, count=args.count, name_prefix=args.name_prefix,
                                   cpu=args.cpu, memory=args.memory, pods=args.pods)
        return await commands.until_signal(nodes.run())
