"""Running iproute2's `ip` without blocking the event loop.

Why `ip` subprocesses rather than pyroute2: asyncio runs them natively
(`create_subprocess_exec`, no worker thread), while pyroute2 0.9 forks a child
from our multi-threaded process for every namespace it creates and every
socket it opens inside one; each command here can be pasted into a shell to
reproduce or inspect what the package did; and iproute2 is already a
dependency of the node (hack/setup.sh). One `ip` call costs about 1.5 ms; the
kernel's veth deletion (~25 ms) dominates a pod's teardown either way. Several
changes in one namespace go through one process with `ip -batch -`.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Iterable

from kybernetes.network import naming
from kybernetes.network.errors import CommandError, NetworkError

IP = "ip"


async def run(argv: list[str], stdin: str | None = None) -> str:
    """Run a command; return its stdout; raise CommandError when it fails."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as e:
        raise NetworkError(f"cannot run {argv[0]}: {e}") from e
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode or 0, err.decode(errors="replace"))
    return out.decode(errors="replace")


def _argv(args: Iterable[str], netns: str | None) -> list[str]:
    head = [IP] if netns is None else [IP, "-n", netns]
    return head + list(args)


async def ip(*args: str, netns: str | None = None) -> str:
    """`ip [-n NETNS] ARGS...`; netns None is the machine's own namespace."""
    return await run(_argv(args, netns))


async def ip_quiet(*args: str, netns: str | None = None) -> bool:
    """Like `ip`, but a missing object is not an error: returns False then.
    Used for removals, which must be idempotent (teardown runs twice after a crash)."""
    try:
        await ip(*args, netns=netns)
    except CommandError as e:
        if e.not_found:
            return False
        raise
    return True


async def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    """`ip -json ...` parsed; an empty answer is an empty list."""
    out = await run(_argv(["-json", *args], netns))
    return json.loads(out) if out.strip() else []


async def batch(lines: Iterable[str], netns: str | None = None) -> None:
    """Apply several `ip` commands in one process (`ip -batch -`), stopping at
    the first that fails."""
    text = "".join(f"{line}\n" for line in lines)
    if text:
        await run(_argv(["-batch", "-"], netns), stdin=text)


async def netns_exec(netns: str, *argv: str) -> str:
    """Run a program inside a named namespace (`ip netns exec`)."""
    return await run([IP, "netns", "exec", netns, *argv])


def list_netns() -> list[str]:
    """Names of the namespaces `ip netns` knows (the files in /run/netns)."""
    try:
        return sorted(os.listdir(naming.NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_exists(netns: str) -> bool:
    return os.path.exists(naming.netns_path(netns))


async def add_netns(netns: str) -> None:
    await ip("netns", "add", netns)


async def delete_netns(netns: str) -> bool:
    """Unmount a named namespace; the kernel frees it once nothing uses it."""
    if not netns_exists(netns):
        return False
    return await ip_quiet("netns", "delete", netns)


async def link_exists(name: str, netns: str | None = None) -> bool:
    try:
        await ip("link", "show", "dev", name, netns=netns)
    except CommandError as e:
        if e.not_found:
            return False
        raise
    return True
