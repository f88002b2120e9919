"""A node host: the network namespace a node of the cluster lives in.

As kind runs each node in a container, a node here can run in a namespace of
its own (DESIGN.md, "Nodes are network namespaces"):

    root namespace                        node host <prefix>-node-<name>
    <prefix>0 (bridge, 172.31.255.1/24)
      └─ <prefix>n<hash> ── veth ───────  eth0  172.31.255.N/24
                                          cbr0  10.244.K.1/24 (bridge, pods' gateway)
                                            └─ veth<hash> ── veth ── pod eth0

Node hosts meet at layer 2 on the root bridge, so traffic between them is
routed inside the node hosts (IP forwarding is switched on there only) and
the root namespace never forwards a packet. A NodeHost only builds and
removes its own namespace and veth; ClusterNetwork gives it an address and
the routes to the other nodes.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Interface, IPv4Network

from kybernetes.network import addressing, iproute, naming, safety
from kybernetes.network.addressing import AddressPlan


@dataclasses.dataclass(frozen=True)
class NodeHost:
    """One node's namespace: `address` on the node network, `pod_cidr` behind cbr0."""

    plan: AddressPlan
    name: str
    address: IPv4Interface
    pod_cidr: IPv4Network

    @property
    def netns(self) -> str:
        return naming.node_netns(self.plan.prefix, self.name)

    @property
    def root_veth(self) -> str:
        return naming.node_veth(self.plan.prefix, self.name)

    @property
    def bridge(self) -> str:
        return naming.POD_BRIDGE

    @property
    def gateway(self) -> IPv4Interface:
        """cbr0's address: the podCIDR's first address, every pod's default route."""
        return addressing.gateway(self.pod_cidr)

    async def create(self) -> None:
        """Build the namespace, its uplink into the root bridge and its cbr0.
        On failure everything made so far is removed again."""
        safety.check_netns_name(self.plan.prefix, self.netns)
        mtu = str(self.plan.mtu)
        await iproute.add_netns(self.netns)
        try:
            # The root end carries no address and no IPv6 link-local one either
            # (addrgenmode none): the root side gets the bridge address only.
            await iproute.batch([
                f"link add {self.root_veth} mtu {mtu} type veth"
                f" peer name {naming.NODE_UPLINK} mtu {mtu} netns {self.netns}",
                f"link set {self.root_veth} addrgenmode none",
                f"link set {self.root_veth} master {self.plan.bridge}",
                f"link set {self.root_veth} up",
            ])
            uplink = naming.NODE_UPLINK
            await iproute.batch([
                "link set lo up",
                f"link set {uplink} addrgenmode none",
                f"link set {uplink} address {addressing.mac_for(self.address.ip)}",
                f"address add {self.address} dev {uplink}",
                f"link set {uplink} up",
                f"link add {self.bridge} address {addressing.mac_for(self.gateway.ip)}"
                f" mtu {mtu} type bridge",
                f"link set {self.bridge} addrgenmode none",
                f"address add {self.gateway} dev {self.bridge}",
                f"link set {self.bridge} up",
            ], netns=self.netns)
            # Forwarding inside the node host only; the machine's sysctls stay as
            # they are. /proc/sys/net shows the namespace of the process writing it.
            await iproute.netns_exec(self.netns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        except BaseException:
            await self.delete()
            raise

    async def is_complete(self) -> bool:
        """True if the namespace exists with its uplink and cbr0 addressed as planned
        (a restarted agent adopts it instead of rebuilding it)."""
        if not iproute.netns_exists(self.netns):
            return False
        if not await iproute.link_exists(self.root_veth):
            return False
        have = set()
        for link in await iproute.ip_json("-4", "address", "show", netns=self.netns):
            for info in link.get("addr_info", []):
                have.add((link.get("ifname"), f"{info['local']}/{info['prefixlen']}"))
        if not {(naming.NODE_UPLINK, str(self.address)), (self.bridge, str(self.gateway))} <= have:
            return False
        return (await self.exec("cat", "/proc/sys/net/ipv4/ip_forward")).strip() == "1"

    async def delete(self) -> None:
        await remove(self.plan, self.name)

    async def exec(self, *argv: str) -> str:
        """Run a program inside the node host (kube-proxy's iptables, tests)."""
        return await iproute.netns_exec(self.netns, *argv)


async def remove(plan: AddressPlan, name: str) -> None:
    """Remove a node host's uplink veth and namespace; missing parts are fine.
    The root end goes first and synchronously, so the machine's link list is
    clean on return even though the kernel frees the namespace later."""
    netns = safety.check_netns_name(plan.prefix, naming.node_netns(plan.prefix, name))
    await iproute.ip_quiet("link", "delete", "dev", naming.node_veth(plan.prefix, name))
    await iproute.delete_netns(netns)
