"""Pod sandbox networking on one node host, as the CNI bridge plugin does it.

`setup(uid)` gives a pod a network namespace of its own with loopback up and
an `eth0` holding an address from the node's podCIDR, default route via the
node's cbr0; the other end of the veth is a port of cbr0 inside the node host
(hairpin on, so a pod can reach itself through a Service once kube-proxy DNATs
it back). `teardown(uid)` removes veth and namespace and frees the address.

Addresses come from a host-local style AddressStore per node; each allocation
records the pod UID and its namespace name, so a restarted kubelet finds its
pods' sandboxes, and `setup` for a pod that already has a complete sandbox
returns it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from ipaddress import IPv4Address, IPv4Interface
from typing import AsyncIterator

from kybernetes.network import addressing, iproute, naming, safety
from kybernetes.network.errors import CommandError, NetworkError
from kybernetes.network.ipam import Allocation, AddressStore
from kybernetes.network.nodehost import NodeHost


@dataclasses.dataclass(frozen=True)
class PodIP:
    """A pod's network: `address` (ip/prefixlen) on eth0 inside `netns`."""

    address: IPv4Interface
    gateway: IPv4Address
    netns: str
    host_veth: str

    @property
    def ip(self) -> IPv4Address:
        return self.address.ip

    @property
    def netns_path(self) -> str:
        """For runc: the pod's containers join this namespace."""
        return naming.netns_path(self.netns)

    def __str__(self) -> str:
        return str(self.address.ip)


class PodNetwork:
    """Pod sandboxes behind one node host's cbr0."""

    def __init__(self, host: NodeHost, state_dir: str | os.PathLike[str] | None = None,
                 state_root: str = naming.STATE_ROOT) -> None:
        self.host = host
        self.prefix = host.plan.prefix
        if state_dir is None:
            state_dir = os.path.join(state_root, self.prefix, "pods", host.name)
        self.addresses = AddressStore(state_dir, host.pod_cidr, reserved={host.gateway.ip})
        # One change at a time per pod: a lock and how many callers hold or await it.
        self._busy: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def _pod_lock(self, uid: str) -> AsyncIterator[None]:
        lock, users = self._busy.get(uid, (asyncio.Lock(), 0))
        self._busy[uid] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._busy[uid]
            if users == 1:
                del self._busy[uid]
            else:
                self._busy[uid] = (lock, users - 1)

    def _pod(self, allocation: Allocation) -> PodIP:
        return PodIP(
            address=IPv4Interface(f"{allocation.address}/{self.host.pod_cidr.prefixlen}"),
            gateway=self.host.gateway.ip,
            netns=allocation.detail or naming.pod_netns(self.prefix, allocation.owner),
            host_veth=naming.pod_veth(allocation.owner),
        )

    async def setup(self, pod_uid: str, netns_name: str | None = None) -> PodIP:
        """Create the pod's namespace and eth0; return its address."""
        uid = naming.check_pod_uid(pod_uid)
        netns = safety.check_netns_name(self.prefix, netns_name or naming.pod_netns(self.prefix, uid))
        async with self._pod_lock(uid):
            return await self._setup(uid, netns)

    def _allocate(self, uid: str, netns: str) -> tuple[Allocation, bool]:
        """The pod's address, and whether another pod's veth has its veth's name."""
        allocation = self.addresses.allocate(uid, netns)
        veth = naming.pod_veth(uid)
        return allocation, any(a.owner != uid and naming.pod_veth(a.owner) == veth
                               for a in self.addresses.allocations())

    async def _setup(self, uid: str, netns: str) -> PodIP:
        allocation, veth_taken = await asyncio.to_thread(self._allocate, uid, netns)
        if allocation.detail != netns:
            raise NetworkError(f"pod {uid} already has a sandbox in namespace {allocation.detail}")
        pod = self._pod(allocation)
        if veth_taken:
            # The 32-bit name hash collided: the other pod's veth must never be touched.
            await asyncio.to_thread(self.addresses.release, uid)
            raise NetworkError(f"veth name {pod.host_veth} of pod {uid} is taken by another pod")
        if iproute.netns_exists(netns):
            if await self._is_complete(pod):
                return pod
            await self._remove(pod)  # a half-built sandbox from a crash: build it anew
        try:
            try:
                await self._create(pod)
            except CommandError:
                # A veth of ours left by a crash before its namespace was made (no `ip
                # link show` probe for every new pod): removed, and built once more.
                await self._remove(pod)
                await self._create(pod)
        except BaseException:
            await self._remove(pod)
            await asyncio.to_thread(self.addresses.release, uid)
            raise
        return pod

    async def _create(self, pod: PodIP) -> None:
        mtu = self.host.plan.mtu
        eth0 = naming.POD_INTERFACE
        await iproute.add_netns(pod.netns)
        # addrgenmode none: IPv4-only pods; an IPv6 link-local address would fail
        # DAD on a hairpin port anyway (the CNI bridge plugin disables DAD there).
        await iproute.batch([
            f"link add {pod.host_veth} mtu {mtu} type veth peer name {eth0} mtu {mtu} netns {pod.netns}",
            f"link set {pod.host_veth} addrgenmode none",
            f"link set {pod.host_veth} master {self.host.bridge}",
            f"link set {pod.host_veth} type bridge_slave hairpin on",
            f"link set {pod.host_veth} up",
        ], netns=self.host.netns)
        await iproute.batch([
            "link set lo up",
            f"link set {eth0} addrgenmode none",
            f"link set {eth0} address {addressing.mac_for(pod.ip)}",
            f"address add {pod.address} dev {eth0}",
            f"link set {eth0} up",
            f"route add default via {pod.gateway} dev {eth0}",
        ], netns=pod.netns)

    async def _is_complete(self, pod: PodIP) -> bool:
        if not await iproute.link_exists(pod.host_veth, netns=self.host.netns):
            return False
        links = await iproute.ip_json("-4", "address", "show", "dev", naming.POD_INTERFACE,
                                      netns=pod.netns)
        return any(f"{i['local']}/{i['prefixlen']}" == str(pod.address)
                   for link in links for i in link.get("addr_info", []))

    async def _remove(self, pod: PodIP) -> None:
        # The veth goes explicitly and synchronously: a process still holding the
        # namespace would otherwise keep the old eth0 (and its address) alive.
        await iproute.ip_quiet("link", "delete", "dev", pod.host_veth, netns=self.host.netns)
        await iproute.delete_netns(safety.check_netns_name(self.prefix, pod.netns))

    async def teardown(self, pod_uid: str, netns_name: str | None = None) -> None:
        """Remove the pod's veth and namespace and free its address; idempotent."""
        uid = naming.check_pod_uid(pod_uid)
        async with self._pod_lock(uid):
            allocation = await asyncio.to_thread(self.addresses.lookup, uid)
            if allocation is not None:
                pod = self._pod(allocation)
            else:
                netns = netns_name or naming.pod_netns(self.prefix, uid)
                pod = PodIP(IPv4Interface("0.0.0.0/32"), self.host.gateway.ip, netns, naming.pod_veth(uid))
            await self._remove(pod)
            await asyncio.to_thread(self.addresses.release, uid)

    async def lookup(self, pod_uid: str) -> PodIP | None:
        allocation = await asyncio.to_thread(self.addresses.lookup, pod_uid)
        return None if allocation is None else self._pod(allocation)

    async def pods(self) -> dict[str, PodIP]:
        """Every pod with an address on this node, by UID."""
        allocations = await asyncio.to_thread(self.addresses.allocations)
        return {a.owner: self._pod(a) for a in allocations}

    async def teardown_all(self) -> None:
        for uid in await self.pods():
            await self.teardown(uid)
