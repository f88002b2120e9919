"""Address allocation from a range, kept in a small file store (host-local style).

Like the CNI host-local IPAM plugin: one file per allocated address, named by
the address and holding its owner (a pod UID, or a node name for node-host
addresses) and a detail line; `last_reserved_ip` makes allocation loosely
round-robin so a just-released address is not handed out again at once; an
flock on `lock` serialises processes. Because the state is on disk, a kubelet
restart keeps every pod's address. The network address, the broadcast address
and the gateway are never handed out.

The store is synchronous (small file operations); async callers run it with
`asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from ipaddress import IPv4Address, IPv4Network
from typing import Iterable, Iterator, NamedTuple

from kybernetes.network.errors import AddressesExhausted

_LAST = "last_reserved_ip"
_LOCK = "lock"


class Allocation(NamedTuple):
    address: IPv4Address
    owner: str
    detail: str


class AddressStore:
    """Allocations from `cidr`, persisted under `directory`."""

    def __init__(self, directory: str | os.PathLike[str], cidr: IPv4Network,
                 reserved: Iterable[IPv4Address] = ()) -> None:
        self.directory = os.fspath(directory)
        self.cidr = cidr
        self._reserved = frozenset(reserved) | {cidr.network_address, cidr.broadcast_address}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _read(self) -> list[Allocation]:
        found = []
        for entry in os.scandir(self.directory):
            try:
                address = IPv4Address(entry.name)
            except ValueError:
                continue  # lock, last_reserved_ip
            try:
                with open(entry.path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except FileNotFoundError:
                continue
            owner = lines[0] if lines else ""
            detail = lines[1] if len(lines) > 1 else ""
            found.append(Allocation(address, owner, detail))
        return sorted(found)

    def _candidates(self) -> Iterator[IPv4Address]:
        """Every usable address once, starting after the last one handed out."""
        first = int(self.cidr.network_address)
        size = self.cidr.num_addresses
        try:
            with open(os.path.join(self.directory, _LAST), encoding="utf-8") as f:
                last = int(IPv4Address(f.read().strip()))
        except (FileNotFoundError, ValueError):
            last = first
        if not first <= last < first + size:
            last = first
        for step in range(1, size + 1):
            address = IPv4Address(first + (last - first + step) % size)
            if address not in self._reserved:
                yield address

    def allocate(self, owner: str, detail: str = "") -> Allocation:
        """The owner's address; a new one if it has none yet (idempotent)."""
        if not owner or "\n" in owner or "\n" in detail:
            raise ValueError("owner must be one non-empty line, detail one line")
        with self._locked():
            for allocation in self._read():
                if allocation.owner == owner:
                    return allocation
            for address in self._candidates():
                path = os.path.join(self.directory, str(address))
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    continue
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(f"{owner}\n{detail}\n")
                with open(os.path.join(self.directory, _LAST), "w", encoding="utf-8") as f:
                    f.write(str(address))
                return Allocation(address, owner, detail)
        raise AddressesExhausted(f"no free address left in {self.cidr} ({self.directory})")

    def release(self, owner: str) -> list[IPv4Address]:
        """Free every address held by owner; returns them (empty if none)."""
        if not os.path.isdir(self.directory):
            return []
        freed = []
        with self._locked():
            for allocation in self._read():
                if allocation.owner == owner:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.directory, str(allocation.address)))
                    freed.append(allocation.address)
        return freed

    def lookup(self, owner: str) -> Allocation | None:
        for allocation in self.allocations():
            if allocation.owner == owner:
                return allocation
        return None

    def allocations(self) -> list[Allocation]:
        if not os.path.isdir(self.directory):
            return []
        with self._locked():
            return self._read()
