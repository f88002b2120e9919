"""Removing everything one cluster's network created (`kyb killall`, tests).

What belongs to a cluster is recognised by its prefix alone (see `naming`):
the root bridge `<prefix>0` and node veths `<prefix>n<hash>`, namespaces named
`<prefix>-...`, the `proto 147` fallback routes for the ranges written on the
bridge's alias (or given as `plan`), and the state directory. Nothing else is
touched: no other link, namespace or route is ever deleted.

Order matters for the safety rules: links go first (the routes through the
bridge go with it) while the `unreachable` fallbacks still keep the cluster's
addresses on the machine; the fallbacks go last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil

from kybernetes.network import iproute, naming
from kybernetes.network.addressing import FALLBACK_METRIC, ROUTE_PROTO, AddressPlan


@dataclasses.dataclass
class Removed:
    """What `cleanup` removed, for the caller's log."""

    links: list[str] = dataclasses.field(default_factory=list)
    namespaces: list[str] = dataclasses.field(default_factory=list)
    routes: list[str] = dataclasses.field(default_factory=list)


async def cleanup(prefix: str, *, plan: AddressPlan | None = None,
                  state_root: str | None = naming.STATE_ROOT) -> Removed:
    """Remove every namespace, link, route and state file of `prefix`.

    `plan` names ranges whose fallback routes to remove even if the bridge
    (whose alias records them) is already gone; `state_root` None keeps the
    state directory."""
    naming.check_prefix(prefix)
    removed = Removed()
    ranges = set()
    if plan is not None:
        if plan.prefix != prefix:
            raise ValueError(f"plan is for prefix {plan.prefix!r}, not {prefix!r}")
        ranges |= set(plan.ranges().values())
    links = await iproute.ip_json("link", "show")
    for link in links:
        if link.get("ifname") == naming.root_bridge(prefix):
            recorded = AddressPlan.from_alias(prefix, link.get("ifalias", ""))
            if recorded is not None:
                ranges |= set(recorded.ranges().values())
    # Node veths before the bridge, so no port is left dangling for a moment.
    names = [link["ifname"] for link in links if naming.owns_root_link(prefix, link.get("ifname", ""))]
    for name in sorted(names, key=lambda n: n == naming.root_bridge(prefix)):
        if await iproute.ip_quiet("link", "delete", "dev", name):
            removed.links.append(name)
    for netns in iproute.list_netns():
        if naming.owns_netns(prefix, netns) and await iproute.delete_netns(netns):
            removed.namespaces.append(netns)
    for net in sorted(ranges):
        if await iproute.ip_quiet("route", "delete", "unreachable", str(net), "proto", str(ROUTE_PROTO),
                                  "metric", str(FALLBACK_METRIC)):
            removed.routes.append(f"unreachable {net}")
    if state_root is not None:
        await asyncio.to_thread(shutil.rmtree, os.path.join(state_root, prefix), True)
    return removed
