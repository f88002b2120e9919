"""Helpers for the network tests: free address plans, machine snapshots, probes.

Probes are small Python programs run inside a namespace with `ip netns exec`
(the machine has no `ping` binary; a raw ICMP socket does the same job). They
only ever send to cluster addresses the test itself created.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import secrets
import shutil
import subprocess
import sys

from kybernetes.network import cleanup, cluster, iproute, safety
from kybernetes.network.addressing import AddressPlan

PING = r"""
import os, socket, struct, sys, time
dst, timeout = sys.argv[1], float(sys.argv[2])
def csum(b):
    b += b"\0" * (len(b) % 2)
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
body = struct.pack("!HH", ident, 1) + b"kybernetes"
packet = struct.pack("!BBH", 8, 0, csum(b"\x08\x00\x00\x00" + body)) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
try:
    s.sendto(packet, (dst, 0))
except OSError as e:
    print("unreachable:", e.strerror); sys.exit(2)
deadline = time.monotonic() + timeout
while (left := deadline - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, (src, _) = s.recvfrom(4096)
    except socket.timeout:
        break
    ihl = (data[0] & 15) * 4
    kind, _, _, rid = struct.unpack("!BBHH", data[ihl:ihl + 6])
    if kind == 0 and rid == ident and src == dst:
        print("reply from", src); sys.exit(0)
    inner = data[ihl + 8:]
    inner_icmp = inner[(inner[0] & 15) * 4:] if inner else b""
    if kind == 3 and len(inner_icmp) >= 6 and struct.unpack("!H", inner_icmp[4:6])[0] == ident:
        print("unreachable: icmp from", src); sys.exit(2)
print("timeout"); sys.exit(1)
"""

ECHO_SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); print("ready", flush=True)
c, (peer, _) = s.accept(); c.sendall(peer.encode()); c.close(); print(peer, flush=True)
"""

ECHO_CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(c.recv(100).decode())
"""


def in_netns(netns: str | None, *argv: str) -> list[str]:
    return list(argv) if netns is None else ["ip", "netns", "exec", netns, *argv]


async def ping(netns: str | None, address: object, timeout: float = 1.0) -> tuple[int, str]:
    """(exit status, message): 0 reply, 1 timeout, 2 unreachable."""
    proc = await asyncio.create_subprocess_exec(
        *in_netns(netns, sys.executable, "-c", PING, str(address), str(timeout)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode().strip()


def random_prefix() -> str:
    """A prefix of its own per test run: `kyb` + `t` + 4 hex digits."""
    return f"kybt{secrets.token_hex(2)}"


async def free_plan(prefix: str | None = None) -> AddressPlan:
    """A plan whose ranges the machine does not use, away from the defaults."""
    prefix = prefix or random_prefix()
    used = safety.used_ranges(await iproute.ip_json("-4", "route", "show", "table", "all"),
                              await iproute.ip_json("-4", "address", "show"))
    choices = [n for n in range(120, 250) if n != 244]
    for _ in range(200):
        pods, services = random.sample(choices, 2)
        plan = AddressPlan(prefix=prefix, node_network=f"172.31.{random.randrange(0, 255)}.0/24",
                           cluster_cidr=f"10.{pods}.0.0/16", service_cidr=f"10.{services}.0.0/16")
        if not safety.overlaps(plan, used):
            return plan
    raise RuntimeError("no free ranges found for a test plan")


def _run(*argv: str) -> list[str]:
    if not shutil.which(argv[0]):
        return [f"({argv[0]} not installed)"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    return out.splitlines()


def machine_state() -> dict[str, set[str]]:
    """What the tests must leave as they found it in the machine's namespace."""
    def lines(*argv: str) -> set[str]:
        return {re.sub(r"\s+", " ", line).strip() for line in _run(*argv)
                if line.strip() and not line.startswith("#")}
    state = {
        "netns": set(iproute.list_netns()),
        "links": {line.split(":")[1].strip().split("@")[0] for line in _run("ip", "-o", "link", "show")},
        "addresses": {re.sub(r"\s+(valid|preferred)_lft \S+", "", line)
                      for line in lines("ip", "-o", "address", "show")},
        "routes": lines("ip", "route", "show", "table", "all"),
        "routes6": {re.sub(r"expires \S+", "", line)
                    for line in lines("ip", "-6", "route", "show", "table", "all")},
        "iptables": lines("iptables-save"),
        "ip6tables": lines("ip6tables-save"),
        "nft": lines("nft", "list", "ruleset"),
        "sysctl": lines("sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
                        "net.ipv4.conf.all.rp_filter"),
    }
    return state


def changes(before: dict[str, set[str]], after: dict[str, set[str]], plan: AddressPlan) -> dict[str, object]:
    """Differences between two snapshots, ignoring what other kybernetes
    clusters (parallel test sessions with prefixes of their own) changed."""
    ours = {plan.bridge, f"{plan.prefix}n", f"{plan.prefix}-", *map(str, plan.ranges().values())}

    def foreign(line: str) -> bool:
        if any(token in line for token in ours):
            return False
        return bool(re.search(r"\bkyb[a-z0-9]*", line)) or "proto 147" in line

    found = {}
    for key in before:
        added = {x for x in after[key] - before[key] if not foreign(x)}
        gone = {x for x in before[key] - after[key] if not foreign(x)}
        if added or gone:
            found[key] = {"added": sorted(added), "removed": sorted(gone)}
    return found


@contextlib.asynccontextmanager
async def cluster_network(plan: AddressPlan, state_root: str):
    """A ClusterNetwork on ``plan``; afterwards cleaned up, and the machine's
    namespaces, links, addresses, routes, iptables, nftables and sysctls
    compared with how they were before (also when the block failed)."""
    before = await asyncio.to_thread(machine_state)
    net = cluster.ClusterNetwork(plan, state_root=state_root)
    try:
        yield net
    finally:
        await cleanup.cleanup(plan.prefix, plan=plan, state_root=net.state_root)
        after = await asyncio.to_thread(machine_state)
        assert changes(before, after, plan) == {}, "the test left traces on the machine"
