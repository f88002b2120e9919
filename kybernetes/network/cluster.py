"""The machine's side of one cluster's network, and the routes between node hosts.

In the root namespace a cluster owns exactly: one bridge `<prefix>0` with the
node network's first address (and nothing else: no IPv6 link-local either),
the root ends of the node hosts' veths as its ports, and routes, all tagged
`proto 147`:

    <podCIDR of node N>  via <node host N>  dev <prefix>0  metric 100
    <service CIDR>       via <one node host> dev <prefix>0 metric 100
    unreachable <cluster CIDR>, <service CIDR>, <node network>  metric 4000

The `unreachable` fallbacks keep every cluster address on the machine: when a
node host is gone its podCIDR falls to them and a send fails at once with "No
route to host" instead of following the default route out of the machine. No
iptables rule and no sysctl of the root namespace is touched. Node hosts are
bridged at layer 2 on `<prefix>0`, so all forwarding happens inside node
hosts, each with "other node's podCIDR via that node host" routes (what
kubenet got from the cloud's route controller; flannel's host-gw backend).

Several processes (server and agents) may manage node hosts of one cluster,
so changes happen under an flock, and `sync_routes` recomputes every route
from the kernel's state and the node-address store, level-triggered.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import AsyncIterator

from kybernetes.network import addressing, iproute, naming, nodehost, pods, safety
from kybernetes.network.addressing import FALLBACK_METRIC, ROUTE_METRIC, ROUTE_PROTO, AddressPlan
from kybernetes.network.errors import UnsafeNetworkError
from kybernetes.network.ipam import AddressStore
from kybernetes.network.nodehost import NodeHost

_TAG = ("proto", str(ROUTE_PROTO))


class ClusterNetwork:
    """One cluster's bridge and routes in the root namespace, and its node hosts."""

    def __init__(self, plan: AddressPlan | None = None, state_root: str = naming.STATE_ROOT) -> None:
        self.plan = plan or AddressPlan()
        self.state_root = state_root
        self.state_dir = os.path.join(state_root, self.plan.prefix)
        self.node_addresses = AddressStore(os.path.join(self.state_dir, "node-hosts"),
                                           self.plan.node_network,
                                           reserved={self.plan.bridge_address.ip})

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.state_dir, "cluster.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    async def ensure(self) -> None:
        """Check the plan against the machine, then create the bridge and the
        fallback routes if missing. Idempotent; refuses a changed plan."""
        async with self._locked():
            await self._ensure()

    async def _ensure(self) -> None:
        plan, bridge = self.plan, self.plan.bridge
        links = await _links(bridge)
        if links and links[0].get("ifalias", "") != plan.alias():
            raise UnsafeNetworkError(
                f"bridge {bridge} exists with another plan ({links[0].get('ifalias', '')!r});"
                f" wanted {plan.alias()!r}")
        await safety.check_plan(plan)
        if not links:
            try:
                await iproute.batch([
                    f"link add {bridge} address {addressing.mac_for(plan.bridge_address.ip)}"
                    f" mtu {plan.mtu} type bridge",
                    f"link set {bridge} addrgenmode none",
                    f'link set {bridge} alias "{plan.alias()}"',
                    f"address add {plan.bridge_address} dev {bridge}",
                    f"link set {bridge} up",
                ])
            except BaseException:
                await iproute.ip_quiet("link", "delete", "dev", bridge)
                raise
        await iproute.batch(
            f"route replace unreachable {net} {' '.join(_TAG)} metric {FALLBACK_METRIC}"
            for net in plan.ranges().values())

    async def add_node_host(self, name: str, pod_cidr: str | IPv4Network) -> NodeHost:
        """Create (or adopt, after a restart) the node host for a node with this
        podCIDR, and route its podCIDR from the machine and the other nodes."""
        naming.check_node_name(name)
        cidr = self.plan.check_pod_cidr(pod_cidr)
        async with self._locked():
            await self._ensure()
            known = await asyncio.to_thread(self.node_addresses.lookup, name)
            if known is not None and known.detail != str(cidr):
                raise UnsafeNetworkError(f"node host {name} already has podCIDR {known.detail}")
            for host in await self._node_hosts():
                if host.name != name and host.pod_cidr.overlaps(cidr):
                    raise UnsafeNetworkError(
                        f"podCIDR {cidr} overlaps node host {host.name}'s {host.pod_cidr}")
                if host.name != name and host.root_veth == naming.node_veth(self.plan.prefix, name):
                    raise UnsafeNetworkError(f"node names {name} and {host.name} hash to one veth name")
            for net, via in (await self._root_routes()).items():
                if net.overlaps(cidr) and (known is None or via != known.address):
                    raise UnsafeNetworkError(f"podCIDR {cidr} overlaps the route {net} via {via}")
            allocation = await asyncio.to_thread(self.node_addresses.allocate, name, str(cidr))
            address = IPv4Interface(f"{allocation.address}/{self.plan.node_network.prefixlen}")
            host = NodeHost(self.plan, name, address, cidr)
            try:
                if not await host.is_complete():
                    await host.delete()
                    await host.create()
            except BaseException:
                await asyncio.to_thread(self.node_addresses.release, name)
                raise
            await self._sync_routes()
            return host

    async def remove_node_host(self, name: str) -> None:
        """Remove a node host, its pods' sandboxes and every route to it."""
        naming.check_node_name(name)
        async with self._locked():
            for host in await self._node_hosts():
                if host.name == name:
                    # Routes first: from here on its podCIDR is unreachable, never leaked.
                    await iproute.ip_quiet("route", "delete", str(host.pod_cidr), "via", str(host.address.ip),
                                           "dev", self.plan.bridge, *_TAG, "metric", str(ROUTE_METRIC))
                    await self.pod_network(host).teardown_all()
            await nodehost.remove(self.plan, name)
            await asyncio.to_thread(self.node_addresses.release, name)
            await self._sync_routes()

    def pod_network(self, host: NodeHost) -> pods.PodNetwork:
        """The pod sandboxes of a node host, with their address store under
        this cluster's state directory (where remove_node_host looks)."""
        return pods.PodNetwork(host, state_root=self.state_root)

    async def node_hosts(self) -> list[NodeHost]:
        """The node hosts this cluster has (from the node-address store)."""
        return await self._node_hosts()

    async def _node_hosts(self) -> list[NodeHost]:
        allocations = await asyncio.to_thread(self.node_addresses.allocations)
        prefixlen = self.plan.node_network.prefixlen
        return [NodeHost(self.plan, a.owner, IPv4Interface(f"{a.address}/{prefixlen}"), IPv4Network(a.detail))
                for a in allocations]

    async def _root_routes(self) -> dict[IPv4Network, IPv4Address]:
        """This cluster's gatewayed routes in the root namespace: dst → node host."""
        if not await iproute.link_exists(self.plan.bridge):
            return {}
        routes = await iproute.ip_json("-4", "route", "show", "dev", self.plan.bridge, *_TAG)
        return {IPv4Network(r["dst"]): IPv4Address(r["gateway"]) for r in routes if "gateway" in r}

    async def sync_routes(self) -> None:
        """Recompute every route of the cluster from what exists (level-triggered)."""
        async with self._locked():
            await self._sync_routes()

    async def _sync_routes(self) -> None:
        hosts = [h for h in await self._node_hosts() if iproute.netns_exists(h.netns)]
        bridge, service = self.plan.bridge, self.plan.service_cidr
        tail = f"dev {bridge} {' '.join(_TAG)} metric {ROUTE_METRIC}"
        have = await self._root_routes()
        want = {h.pod_cidr: h.address.ip for h in hosts}
        live = set(want.values())
        if hosts:
            # Service IPs from the machine go to one node host, where kube-proxy DNATs them.
            want[service] = have[service] if have.get(service) in live else hosts[0].address.ip
        lines = [f"route replace {net} via {via} {tail}" for net, via in want.items() if have.get(net) != via]
        lines += [f"route delete {net} via {via} {tail}" for net, via in have.items() if net not in want]
        await iproute.batch(lines)
        for host in hosts:
            await _sync_node_routes(host, hosts)


async def _links(name: str) -> list[dict]:
    if not await iproute.link_exists(name):
        return []
    return await iproute.ip_json("link", "show", "dev", name)


async def _sync_node_routes(host: NodeHost, hosts: list[NodeHost]) -> None:
    """Inside one node host: every other node's podCIDR via that node host."""
    want = {str(o.pod_cidr): str(o.address.ip) for o in hosts if o.name != host.name}
    routes = await iproute.ip_json("-4", "route", "show", *_TAG, netns=host.netns)
    have = {r["dst"]: r.get("gateway") for r in routes}
    tail = f"dev {naming.NODE_UPLINK} {' '.join(_TAG)} metric {ROUTE_METRIC}"
    lines = [f"route replace {dst} via {via} {tail}" for dst, via in want.items() if have.get(dst) != via]
    lines += [f"route delete {dst} {' '.join(_TAG)}" for dst in have if dst not in want]
    await iproute.batch(lines, netns=host.netns)
