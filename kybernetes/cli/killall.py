"""``kyb killall``: stop a node and leave nothing of it running, as ``k3s-killall.sh``.

Stopping ``kyb server`` or ``kyb agent`` never stops containers (a kubelet
restart must find them running); this does. For the node whose data dir is
given it ends the ``kyb`` process that runs it (SIGTERM, then SIGKILL), kills
every container of its runtime (``runtime.cleanup.killall``: runc state,
shims, overlays, cgroups), removes its node host with its pods' namespaces,
veths and routes, and, when it was the last node of the cluster on this
machine, the whole network of the prefix (``network.cleanup``: bridge,
fallback routes, address stores; as k3s-killall.sh removes cni0), unmounts
whatever is still mounted below the data dir (tmpfs volumes) and removes the
node's cgroup tree.

What to clean is read from the node record the agent writes when it starts
(``<data-dir>/agent/node.json``: node name, cgroup, network plan, PID),
because a crashed agent cannot be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

RECORD = "node.json"


def record_path(data_dir: str) -> str:
    return os.path.join(os.path.abspath(data_dir), "agent", RECORD)


def write_record(config, *, server: str) -> None:
    """What ``killall`` needs of a running node (``config``: a KubeletConfig)."""
    record = {
        "nodeName": config.node_name, "server": server, "pid": os.getpid(),
        "runtimeDir": config.runtime_dir, "cgroup": config.cgroup,
        "network": {"prefix": config.network_prefix, "nodeNetwork": config.node_network,
                    "clusterCIDR": config.cluster_cidr, "serviceCIDR": config.service_cidr,
                    "stateRoot": config.network_state_root, "nodeHost": config.use_node_host},
    }
    path = record_path(config.data_dir)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)


def read_record(data_dir: str) -> dict | None:
    try:
        with open(record_path(data_dir)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def add_parser(sub) -> None:
    from kybernetes.cli import server as server_cmd

    p = sub.add_parser("killall", help="stop the node's kyb process, containers, namespaces, mounts and cgroups")
    p.add_argument("--data-dir", default=None, help="the node's data dir (default as kyb server's)")
    p.set_defaults(run=lambda args: run(args.data_dir or server_cmd.default_data_dir()))


def _is_kyb(pid: int) -> bool:
    """Whether ``pid`` is (still) a ``kyb`` process: ``kyb ...`` or ``python -m
    kybernetes.cli.main ...``; never this one. A PID reused by another
    program is left alone."""
    if pid == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")[:3]
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False  # a zombie: ended, waiting for its parent
    except (OSError, IndexError):
        return False
    return any(os.path.basename(a) == b"kyb" or a == b"kybernetes.cli.main" for a in argv)


async def _stop_process(pid: int, timeout: float = 15.0) -> bool:
    """End the node's ``kyb`` process (by the PID it recorded, checked to be ours)."""
    if not _is_kyb(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_kyb(pid):
            return True
        await asyncio.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while _is_kyb(pid):
        await asyncio.sleep(0.05)
    return True


async def _umount(points: list[str]) -> list[str]:
    for point in points:
        proc = await asyncio.create_subprocess_exec("umount", "--lazy", point,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
    return points


async def _remove_network(node_name: str | None, network: dict):
    """This node's host (its pods' namespaces, its veth, its routes); and when
    no other node of the cluster is left on this machine, everything of the
    prefix (bridge, fallback routes, state), as k3s-killall.sh removes cni0."""
    from kybernetes.network import addressing, cluster, iproute, naming
    from kybernetes.network import cleanup as network_cleanup

    plan = addressing.AddressPlan(prefix=network["prefix"], node_network=network["nodeNetwork"],
                                  cluster_cidr=network["clusterCIDR"], service_cidr=network["serviceCIDR"])
    state_root = network.get("stateRoot") or naming.STATE_ROOT
    before = set(iproute.list_netns())
    removed = network_cleanup.Removed()
    net = cluster.ClusterNetwork(plan, state_root)
    if node_name:
        try:
            await net.remove_node_host(node_name)
            removed.links = [naming.node_veth(plan.prefix, node_name)]
        except Exception as e:  # noqa: BLE001 - go on: the rest must still be cleaned
            print(f"kyb killall: node host {node_name}: {e}", file=sys.stderr)
        removed.namespaces = sorted(before - set(iproute.list_netns()))
    others = [h.name for h in await net.node_hosts()]
    if not others:
        everything = await network_cleanup.cleanup(plan.prefix, plan=plan, state_root=state_root)
        removed.namespaces += everything.namespaces
        removed.links += everything.links
        removed.routes += everything.routes
    return removed


async def killall(data_dir: str) -> dict[str, list[str]]:
    """Everything above, for one data dir; returns what it stopped and removed."""
    from kybernetes.runtime import cgroups, cleanup as runtime_cleanup, containers, rootfs

    data_dir = os.path.abspath(data_dir)
    record = read_record(data_dir) or {}
    done: dict[str, list[str]] = {"processes": [], "containers": [], "namespaces": [], "links": [],
                                  "routes": [], "mounts": [], "cgroups": []}
    pid = record.get("pid")
    if isinstance(pid, int) and await _stop_process(pid):
        done["processes"].append(str(pid))
    runtime_dir = record.get("runtimeDir") or os.path.join(data_dir, "agent", "runtime")
    cgroup = record.get("cgroup")
    if os.path.isdir(runtime_dir):
        runtime = containers.Runtime(runtime_dir, **({"cgroup_parent": cgroup} if cgroup else {}))
        done["containers"] = await runtime_cleanup.killall(runtime)
    network = record.get("network") or {}
    if network.get("prefix"):
        removed = await _remove_network(record.get("nodeName"), network)
        done["namespaces"], done["links"], done["routes"] = removed.namespaces, removed.links, removed.routes
    done["mounts"] = await _umount([m for m in rootfs.mounts_under(data_dir) if m != data_dir])
    if cgroup and cgroups.all_dirs(cgroup):
        # Whatever still runs in the node's cgroup tree (k3s-killall.sh kills
        # the processes of its cgroups too), then the tree itself.
        for pid in cgroups.procs(cgroup):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(50):
            if not await asyncio.to_thread(cgroups.remove, cgroup):
                break
            await asyncio.sleep(0.1)
        done["cgroups"].append(cgroup)
    return done


async def run(data_dir: str) -> int:
    if os.geteuid() != 0:
        print("kyb killall: must run as root", file=sys.stderr)
        return 1
    if not os.path.isdir(data_dir):
        print(f"kyb killall: no data dir {data_dir}", file=sys.stderr)
        return 1
    done = await killall(data_dir)
    for what, items in done.items():
        if items:
            print(f"kyb killall: {what}: {len(items)} ({', '.join(items[:5])}{', ...' if len(items) > 5 else ''})")
    return 0
