"""Service ClusterIPs and NodePorts, allocated without duplicates.

Each allocated value is a datastore key of its own (``/registry/serviceips/
10.96.0.12``), created with create-if-absent: two API servers, or two
concurrent creates in one, can never both get the same value, and the
allocation survives restarts. This is the shape kube-apiserver 1.31+ moves
to with IPAddress objects, instead of one bitmap under compare-and-swap.
A dry run only checks: it picks or verifies a free value and writes nothing,
as upstream's allocators do in dry-run mode.
"""

from __future__ import annotations

import ipaddress
import random

from kybernetes.storage import errors as storage_errors
from kybernetes.storage.types import Store

IP_PREFIX = "/registry/serviceips/"
PORT_PREFIX = "/registry/servicenodeports/"


class AllocationError(Exception):
    """The value is taken, outside the range, or the range is full."""


async def _take(store: Store, key: str, owner: str, dry_run: bool) -> bool:
    """Claim ``key`` for ``owner`` (create-if-absent); False when it is held.
    A dry run only looks."""
    if dry_run:
        return await store.get(key) is None
    try:
        await store.create(key, owner.encode())
        return True
    except storage_errors.KeyExists:
        return False


class IPAllocator:
    def __init__(self, store: Store, cidr: str):
        self.store = store
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.cidr = str(self.network)
        self._rng = random.Random()

    def first(self) -> str:
        """The kubernetes Service's address: the first usable one."""
        return str(self.network.network_address + 1)

    def nth(self, n: int) -> str:
        return str(self.network.network_address + n)

    def contains(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return (address in self.network and address != self.network.network_address
                and address != self.network.broadcast_address)

    async def allocate(self, owner: str, ip: str | None = None, *, dry_run: bool = False) -> str:
        if ip:
            if not self.contains(ip):
                raise AllocationError(
                    f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid "
                    f"range. The range of valid IPs is {self.cidr}")
            if not await _take(self.store, IP_PREFIX + ip, owner, dry_run):
                raise AllocationError(f"failed to allocate IP {ip}: provided IP is already allocated")
            return ip
        size = self.network.num_addresses
        # Skip the network address, the first address (the kubernetes
        # Service) and the broadcast address, as upstream's allocator does.
        for _ in range(256):
            candidate = str(self.network.network_address + self._rng.randrange(2, size - 1))
            if await _take(self.store, IP_PREFIX + candidate, owner, dry_run):
                return candidate
        taken = await self.store.count(IP_PREFIX)
        if taken >= size - 3:
            raise AllocationError("range is full")
        for offset in range(2, size - 1):
            candidate = str(self.network.network_address + offset)
            if await _take(self.store, IP_PREFIX + candidate, owner, dry_run):
                return candidate
        raise AllocationError("range is full")

    async def release(self, ip: str) -> None:
        try:
            await self.store.delete(IP_PREFIX + ip)
        except storage_errors.KeyNotFound:
            pass


class PortAllocator:
    def __init__(self, store: Store, low: int = 30000, high: int = 32767):
        self.store = store
        self.low, self.high = low, high
        self._rng = random.Random()

    def contains(self, port: int) -> bool:
        return self.low <= port <= self.high

    async def allocate(self, owner: str, port: int | None = None, *, dry_run: bool = False) -> int:
        if port:
            if not self.contains(port):
                raise AllocationError(
                    f"provided port is not in the valid range. The range of valid ports is "
                    f"{self.low}-{self.high}")
            if not await _take(self.store, f"{PORT_PREFIX}{port}", owner, dry_run):
                raise AllocationError("provided port is already allocated")
            return port
        ports = list(range(self.low, self.high + 1))
        self._rng.shuffle(ports)
        for candidate in ports:
            if await _take(self.store, f"{PORT_PREFIX}{candidate}", owner, dry_run):
                return candidate
        raise AllocationError("range is full")

    async def release(self, port: int) -> None:
        try:
            await self.store.delete(f"{PORT_PREFIX}{port}")
        except storage_errors.KeyNotFound:
            pass
