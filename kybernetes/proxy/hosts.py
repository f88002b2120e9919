"""The one door to packet filtering: commands run inside a node host's namespace.

DESIGN.md forbids any iptables or nftables rule in the machine's own network
namespace. Every iptables, nft and conntrack command of this package goes
through ``NodeHostNetns.run``, which refuses unless the target is a network
namespace named with a project prefix (``<prefix>-...``, kybernetes.network's
naming) that exists under /run/netns and is *not* the namespace of the
machine (PID 1) nor of this process. The check is repeated before every
command, so a namespace deleted and replaced by a bind mount of the root one
is caught too.
"""

from __future__ import annotations

import asyncio
import os
import re

from kybernetes.network import naming, safety
from kybernetes.network.errors import UnsafeNetworkError

ALLOWED = frozenset({"iptables", "iptables-save", "iptables-restore", "nft", "conntrack", "ip", "sysctl"})
_PREFIX = re.compile(r"(kyb[a-z0-9]{0,5})-")


class ProxyError(Exception):
    """Base of this package's errors."""


class UnsafeNamespace(ProxyError):
    """Refused: the target is not a node host namespace of the project."""


class CommandFailed(ProxyError):
    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv, self.returncode, self.stderr = argv, returncode, stderr.strip()
        super().__init__(f"{' '.join(argv[:8])} exited {returncode}: {self.stderr[:2000]}")


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class NodeHostNetns:
    """A node host's network namespace, by `ip netns` name or /run/netns path."""

    def __init__(self, netns: str) -> None:
        if "/" in netns:
            try:
                directory, name = os.path.split(os.path.realpath(netns))
            except OSError as e:
                raise UnsafeNamespace(f"{netns!r} cannot be resolved: {e}") from e
            if directory != os.path.realpath(naming.NETNS_DIR):
                raise UnsafeNamespace(f"{netns!r} is not a namespace under {naming.NETNS_DIR}")
        else:
            name = netns
        match = _PREFIX.match(name)
        if match is None:
            raise UnsafeNamespace(f"network namespace {name!r} is not named with a kybernetes prefix")
        try:
            safety.check_netns_name(match.group(1), name)
        except UnsafeNetworkError as e:
            raise UnsafeNamespace(str(e)) from e
        self.name = name
        self.path = naming.netns_path(name)
        self.check()

    def check(self) -> None:
        """Raise UnsafeNamespace unless the namespace exists and is not the machine's own."""
        try:
            target = _identity(self.path)
        except OSError as e:
            raise UnsafeNamespace(f"network namespace {self.name!r} does not exist: {e}") from e
        for own in ("/proc/1/ns/net", "/proc/self/ns/net"):
            try:
                if _identity(own) == target:
                    raise UnsafeNamespace(f"{self.path} is the machine's own network namespace")
            except OSError:
                continue

    async def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        """Run one of the packet-filter tools inside the namespace; stdout back."""
        if argv[0] not in ALLOWED:
            raise UnsafeNamespace(f"{argv[0]!r} is not a tool kube-proxy runs")
        self.check()
        full = ["ip", "netns", "exec", self.name, *argv]
        proc = await asyncio.create_subprocess_exec(
            *full, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if check and proc.returncode != 0:
            raise CommandFailed(full, proc.returncode or 0, err.decode(errors="replace"))
        return out.decode(errors="replace")

    async def succeeds(self, *argv: str) -> bool:
        try:
            await self.run(*argv)
        except CommandFailed:
            return False
        return True

    def __repr__(self) -> str:
        return f"NodeHostNetns({self.name!r})"
