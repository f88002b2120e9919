"""Service ClusterIPs and NodePorts, allocated without duplicates.

Each allocated value is a datastore key of its own (``/registry/serviceips/
10.96.0.12``), created with create-if-absent: two API servers, or two
concurrent creates in one, can never both get the same value, and the
allocation survives restarts. This is the shape kube-apiserver 1.31+ moves
to with IPAddress objects, instead of one bitmap under compare-and-swap.
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

    async def allocate(self, owner: str, ip: str | None = None) -> str:
        if ip:
            if not self.contains(ip):
                raise AllocationError(
                    f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid "
                    f"range. The range of valid IPs is {self.cidr}")
            try:
                await self.store.create(IP_PREFIX + ip, owner.encode())
            except storage_errors.KeyExists:
                raise AllocationError(
                    f"failed to allocate IP {ip}: provided IP is already allocated") from None
            return ip
        size = self.network.num_addresses
        # Skip the network address, the first address (the kubernetes
        # Service) and the broadcast address, as upstream's allocator does.
        for _ in range(256):
            candidate = str(self.network.network_address + self._rng.randrange(2, size - 1))
            try:
                await self.store.create(IP_PREFIX + candidate, owner.encode())
                return candidate
            except storage_errors.KeyExists:
                continue
        taken = await self.store.count(IP_PREFIX)
        if taken >= size - 3:
            raise AllocationError("range is full")
        for offset in range(2, size - 1):
            candidate = str(self.network.network_address + offset)
            try:
                await self.store.create(IP_PREFIX + candidate, owner.encode())
                return candidate
            except storage_errors.KeyExists:
                continue
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

    async def allocate(self, owner: str, port: int | None = None) -> int:
        if port:
            if not self.contains(port):
                raise AllocationError(
                    f"provided port is not in the valid range. The range of valid ports is "
                    f"{self.low}-{self.high}")
            try:
                await self.store.create(f"{PORT_PREFIX}{port}", owner.encode())
            except storage_errors.KeyExists:
                raise AllocationError("provided port is already allocated") from None
            return port
        ports = list(range(self.low, self.high + 1))
        self._rng.shuffle(ports)
        for candidate in ports:
            try:
                await self.store.create(f"{PORT_PREFIX}{candidate}", owner.encode())
                return candidate
            except storage_errors.KeyExists:
                continue
        raise AllocationError("range is full")

    async def release(self, port: int) -> None:
        try:
            await self.store.delete(f"{PORT_PREFIX}{port}")
        except storage_errors.KeyNotFound:
            pass
