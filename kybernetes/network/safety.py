"""Checks made before anything is created in the machine's own namespace.

DESIGN.md: the root namespace gets only the links, addresses and routes the
cluster needs to reach its node hosts, and no packet for a cluster address may
leave the machine. A plan whose ranges overlap a range the machine already
routes (its LAN, a VPN, docker0, another cluster) could capture or leak real
traffic, so it is refused with a clear error before a single link exists.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network
from typing import Any, Iterable

from kybernetes.network import iproute, naming
from kybernetes.network.addressing import ROUTE_PROTO, AddressPlan
from kybernetes.network.errors import UnsafeNetworkError

UsedRange = tuple[IPv4Network, str]  # a range and where the machine uses it


def _is_own_route(route: dict[str, Any], plan: AddressPlan | None) -> bool:
    """Routes this very plan put there earlier (a restarted agent re-checks).

    Those are the routes through its own bridge, and its `unreachable`
    fallbacks for exactly its own ranges: harmless, they only keep addresses on
    the machine. Another live cluster with the same ranges is still caught by
    the routes through its bridge."""
    if plan is None:
        return False
    if route.get("dev") == plan.bridge:
        return True
    return (route.get("type") == "unreachable" and str(route.get("protocol")) == str(ROUTE_PROTO)
            and route.get("dst") in {str(n) for n in plan.ranges().values()})


def used_ranges(routes: Iterable[dict[str, Any]], addresses: Iterable[dict[str, Any]],
                plan: AddressPlan | None = None) -> list[UsedRange]:
    """The IPv4 ranges in `ip -json route show table all` and `ip -json addr`
    output, except default routes and what belongs to `plan` itself."""
    used: list[UsedRange] = []
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or _is_own_route(route, plan):
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if isinstance(net, IPv4Network) and net.prefixlen > 0:
            where = f"route {route.get('type', 'unicast')} {dst}"
            where += f" dev {route['dev']}" if "dev" in route else ""
            where += f" table {route['table']}" if "table" in route else ""
            used.append((net, where))
    for link in addresses:
        if plan is not None and link.get("ifname") == plan.bridge:
            continue
        for info in link.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            iface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            used.append((IPv4Network(iface.network), f"address {iface} on {link.get('ifname')}"))
    return used


def overlaps(plan: AddressPlan, used: Iterable[UsedRange]) -> list[str]:
    """Human-readable descriptions of every clash between plan and machine."""
    found = []
    for name, net in plan.ranges().items():
        for other, where in used:
            if net.overlaps(other):
                found.append(f"{name} {net} overlaps the machine's {where}")
    return found


async def check_plan(plan: AddressPlan) -> None:
    """Refuse a plan that collides with the machine's routes or addresses
    (its own bridge and fallback routes, from an earlier run, excepted)."""
    routes = await iproute.ip_json("-4", "route", "show", "table", "all")
    addresses = await iproute.ip_json("-4", "address", "show")
    clashes = overlaps(plan, used_ranges(routes, addresses, plan))
    if clashes:
        raise UnsafeNetworkError(
            f"refusing to create network {plan.prefix!r}: " + "; ".join(clashes)
            + ". Choose other ranges (AddressPlan) that the machine does not use.")


def check_netns_name(prefix: str, netns: str) -> str:
    """Only namespaces named with the project prefix are ever created or removed."""
    if not naming.owns_netns(prefix, netns):
        raise UnsafeNetworkError(
            f"network namespace {netns!r} does not start with the project prefix {prefix + '-'!r}")
    return netns
