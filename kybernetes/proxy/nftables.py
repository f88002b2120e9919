"""The nftables proxier (`--proxy-mode nftables`), as kube-proxy 1.31's pkg/proxy/nftables.

One table, `ip kube-proxy`, holds everything. Packets find their service in
one lookup of a verdict map, whatever the number of services:

    nat-prerouting / nat-output → services:
        ip daddr . meta l4proto . th dport vmap @service-ips        → service-<hash>-<ns>/<svc>/<proto>/<port>
        ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports → external-...
    service-...:  masquerade off-cluster sources, then `numgen random mod N vmap { i : goto endpoint-... }`
    endpoint-...: masquerade hairpin traffic, `dnat to ip:port`
    filter hooks: service-endpoints-check rejects (or drops) services without endpoints
                  (vmaps no-endpoint-services / no-endpoint-nodeports)

Chain names are kube-proxy's: the first 8 base32 characters of the sha256 of
"ns/svc/proto/port" (endpoints: + "__ip/port"), then that text. Every change
is one `nft -f` transaction inside the node host (hosts.py). A full sync
replaces the table atomically; a partial sync rewrites only changed service
and endpoint chains and adds or deletes only changed map elements, which is
what keeps updates fast with thousands of services.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from kybernetes.proxy import conntrack, hosts, services
from kybernetes.proxy.services import Endpoint, ProxyState, ServicePort, ServicePortName

log = logging.getLogger(__name__)

TABLE = "ip kube-proxy"
MASQ_MARK = "0x4000"
CHAIN_BASE_MAX = 200
MAPS = ("service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports")
SETS = ("cluster-ips", "nodeport-ips")


def hash_and_truncate(name: str) -> str:
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    name = f"{digest[:8]}-{name}"
    return name if len(name) <= CHAIN_BASE_MAX else name[:CHAIN_BASE_MAX - 3] + "..."


def chain_base(svc: ServicePort) -> str:
    n = svc.name
    return hash_and_truncate(f"{n.namespace}/{n.name}/{svc.proto}/{n.port}")


def endpoint_base(svc: ServicePort, ep: Endpoint) -> str:
    n = svc.name
    return hash_and_truncate(f"{n.namespace}/{n.name}/{svc.proto}/{n.port}__{ep.ip.replace(':', '')}/{ep.port}")


def _base_chains(node_ips: list[str]) -> list[str]:
    """The fixed part of the table (written on full syncs)."""
    t = TABLE
    lines = [f'add table {t} {{ comment "rules for kube-proxy" ; }}']
    for chain, hook in [("filter-input", "type filter hook input priority -110"),
                        ("filter-forward", "type filter hook forward priority -110"),
                        ("filter-output", "type filter hook output priority -110"),
                        ("filter-output-post-dnat", "type filter hook output priority -90"),
                        ("nat-prerouting", "type nat hook prerouting priority -100"),
                        ("nat-output", "type nat hook output priority -100"),
                        ("nat-postrouting", "type nat hook postrouting priority 100")]:
        lines.append(f"add chain {t} {chain} {{ {hook} ; }}")
    for chain in ("mark-for-masquerade", "masquerading", "services", "service-endpoints-check",
                  "nodeport-endpoints-check", "cluster-ips-check", "reject-chain"):
        lines.append(f"add chain {t} {chain}")
    lines += [
        f'add set {t} cluster-ips {{ type ipv4_addr ; comment "Active ClusterIPs" ; }}',
        f'add set {t} nodeport-ips {{ type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }}',
        f"add map {t} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ;"
        ' comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
        f'add map {t} service-nodeports {{ type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }}',
        f"add map {t} no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service : verdict ;"
        ' comment "vmap to drop or reject packets to services with no endpoints" ; }',
        f"add map {t} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ;"
        ' comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }',
        f"add rule {t} filter-input ct state new jump nodeport-endpoints-check",
        f"add rule {t} filter-input ct state new jump service-endpoints-check",
        f"add rule {t} filter-forward ct state new jump service-endpoints-check",
        f"add rule {t} filter-forward ct state new jump cluster-ips-check",
        f"add rule {t} filter-output ct state new jump service-endpoints-check",
        f"add rule {t} filter-output-post-dnat ct state new jump cluster-ips-check",
        f"add rule {t} nat-prerouting jump services",
        f"add rule {t} nat-output jump services",
        f"add rule {t} nat-postrouting jump masquerading",
        f"add rule {t} mark-for-masquerade mark set mark or {MASQ_MARK}",
        f"add rule {t} masquerading mark and {MASQ_MARK} == 0 return",
        f"add rule {t} masquerading mark set mark xor {MASQ_MARK}",
        f"add rule {t} masquerading masquerade fully-random",
        f"add rule {t} reject-chain reject",
        f"add rule {t} services ip daddr . meta l4proto . th dport vmap @service-ips",
        f'add rule {t} cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
        f"add rule {t} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
    ]
    if node_ips:
        lines.append(f"add rule {t} services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
        lines.append(f"add rule {t} nodeport-endpoints-check ip daddr @nodeport-ips"
                     " meta l4proto . th dport vmap @no-endpoint-nodeports")
        lines.append(f"add element {t} nodeport-ips {{ {', '.join(node_ips)} }}")
    else:
        lines.append(f"add rule {t} services fib daddr type local meta l4proto . th dport vmap @service-nodeports")
        lines.append(f"add rule {t} nodeport-endpoints-check fib daddr type local"
                     " meta l4proto . th dport vmap @no-endpoint-nodeports")
    return lines


class Ruleset:
    """Per-service chains (name → rule bodies), sets (affinity) and map elements:
    of one service port (with the `svc` and `endpoints` it was made from), or
    of all of them (with each port's own Ruleset in `parts`)."""

    def __init__(self, svc: ServicePort | None = None, endpoints: list[Endpoint] | None = None) -> None:
        self.svc, self.endpoints = svc, endpoints
        self.chains: dict[str, list[str]] = {}
        self.sets: dict[str, str] = {}  # affinity set name → its spec
        self.elements: dict[tuple[str, str], str] = {}  # (map or set, key) → value ("" for sets)
        self.parts: dict[ServicePortName, Ruleset] = {}


def _dispatch(rs: Ruleset, chain: str, svc: ServicePort, eps: list[Endpoint]) -> None:
    rules = rs.chains[chain]
    if svc.affinity_seconds:
        for ep in eps:
            base = endpoint_base(svc, ep)
            rules.append(f"ip saddr @affinity-{base} goto endpoint-{base}")
    verdicts = " , ".join(f"{i} : goto endpoint-{endpoint_base(svc, ep)}" for i, ep in enumerate(eps))
    rules.append(f"numgen random mod {len(eps)} vmap {{ {verdicts} }}")


def compute(state: ProxyState, *, cluster_cidr: str, masquerade_all: bool = False,
            previous: Ruleset | None = None) -> Ruleset:
    """All of it; the parts of `previous` are reused for service ports whose
    ServicePort and endpoints have not changed."""
    rs = Ruleset()
    for key in sorted(state.services):
        svc, endpoints = state.services[key], state.endpoints_of(key)
        part = previous.parts.get(key) if previous is not None else None
        if part is None or not services.reusable(part, svc, endpoints):
            part = service_ruleset(svc, endpoints, cluster_cidr=cluster_cidr, masquerade_all=masquerade_all)
        rs.parts[key] = part
        rs.chains.update(part.chains)
        rs.sets.update(part.sets)
        rs.elements.update(part.elements)
    return rs


def service_ruleset(svc: ServicePort, endpoints: list[Endpoint], *, cluster_cidr: str,
                    masquerade_all: bool = False) -> Ruleset:
    """One service port's chains, sets and map elements."""
    rs = Ruleset(svc, endpoints)
    eps = services.categorize(endpoints, svc)
    base, proto = chain_base(svc), svc.proto
    svc_chain, local_chain, ext_chain = f"service-{base}", f"local-{base}", f"external-{base}"
    internal, has_internal = svc_chain, eps.has_any
    if svc.internal_local:
        internal, has_internal = local_chain, bool(eps.local)
    external_policy, has_external = svc_chain, eps.has_any
    if svc.external_policy_local:
        external_policy, has_external = local_chain, bool(eps.local)
    rs.elements[("cluster-ips", svc.cluster_ip)] = ""
    vip = f"{svc.cluster_ip} . {proto} . {svc.port}"
    no_endpoints = "goto reject-chain" if not eps.has_any else "drop"
    if has_internal:
        rs.elements[("service-ips", vip)] = f"goto {internal}"
    else:
        rs.elements[("no-endpoint-services", vip)] = no_endpoints
    if svc.node_port:
        if eps.has_any:
            rs.elements[("service-nodeports", f"{proto} . {svc.node_port}")] = f"goto {ext_chain}"
            rules = rs.chains[ext_chain] = []
            if not svc.external_policy_local:
                rules.append("jump mark-for-masquerade")
            else:
                rules.append(f'ip saddr {cluster_cidr} goto {svc_chain} comment "short-circuit pod traffic"')
                rules.append('fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"')
                rules.append(f'fib saddr type local goto {svc_chain} comment "short-circuit local traffic"')
            if has_external:
                rules.append(f"goto {external_policy}")
        if not has_external:
            rs.elements[("no-endpoint-nodeports", f"{proto} . {svc.node_port}")] = no_endpoints
    if eps.cluster and svc.uses_cluster_endpoints:
        rules = rs.chains[svc_chain] = []
        if masquerade_all or cluster_cidr:
            source = "" if masquerade_all else f" ip saddr != {cluster_cidr}"
            rules.append(f"ip daddr {svc.cluster_ip} {proto} dport {svc.port}{source} jump mark-for-masquerade")
        _dispatch(rs, svc_chain, svc, eps.cluster)
    if eps.local and svc.uses_local_endpoints:
        rs.chains[local_chain] = []
        _dispatch(rs, local_chain, svc, eps.local)
    for ep in eps.reachable:
        ep_base = endpoint_base(svc, ep)
        rules = rs.chains[f"endpoint-{ep_base}"] = [f"ip saddr {ep.ip} jump mark-for-masquerade"]
        if svc.affinity_seconds:
            rs.sets[f"affinity-{ep_base}"] = (f"{{ type ipv4_addr ; flags dynamic,timeout ;"
                                              f" timeout {svc.affinity_seconds}s ; }}")
            rules.append(f"update @affinity-{ep_base} {{ ip saddr }}")
        rules.append(f"meta l4proto {proto} dnat to {ep}")
    return rs


def _element(name: str, key: str, value: str) -> str:
    return f"{TABLE} {name} {{ {key}{' : ' + value if value else ''} }}"


def render_full(rs: Ruleset, node_ips: list[str]) -> str:
    """One transaction replacing the whole table (atomic: no moment without rules).
    The fixed rules, which bind the big verdict maps, come last: filled before
    they are bound, a new table of 5,000 services is written in about half the
    time (13 s instead of 23 s on a 6.18 kernel). Replacing an existing table
    of that size still costs the kernel tens of seconds (its transaction work
    grows faster than linearly); partial syncs avoid it."""
    t = TABLE
    base = _base_chains(node_ips)
    lines = [f"add table {t}", f"delete table {t}"] + [line for line in base if not line.startswith("add rule")]
    lines += [f"add set {t} {name} {spec}" for name, spec in sorted(rs.sets.items())]
    lines += [f"add chain {t} {c}" for c in sorted(rs.chains)]
    lines += [f"add rule {t} {c} {rule}" for c in sorted(rs.chains) for rule in rs.chains[c]]
    lines += [f"add element {_element(name, key, value)}" for (name, key), value in sorted(rs.elements.items())]
    lines += [line for line in base if line.startswith("add rule")]
    return "\n".join(lines) + "\n"


def _changed_parts(old: Ruleset, new: Ruleset) -> tuple[list[Ruleset], list[Ruleset]]:
    """The parts of each side that can differ: those of service ports whose part
    is not the very same object on both sides (all of it, without parts)."""
    if not old.parts and not new.parts:
        return [old], [new]
    before = [part for key, part in old.parts.items() if new.parts.get(key) is not part]
    after = [part for key, part in new.parts.items() if old.parts.get(key) is not part]
    return before, after


def render_partial(old: Ruleset, new: Ruleset) -> str:
    """Only what changed: element deletions, rewritten chains, stale chains and
    sets removed, element additions, in an order nft accepts in one transaction.
    Only the changed service ports are compared, against the whole of the other
    side (two ports of a Service share their cluster IP's element)."""
    t = TABLE
    before, after = _changed_parts(old, new)
    deleted = {k for part in before for k, v in part.elements.items() if new.elements.get(k) != v}
    lines = [f"delete element {t} {name} {{ {key} }}" for name, key in sorted(deleted)]
    new_sets = {name: spec for part in after for name, spec in part.sets.items() if old.sets.get(name) != spec}
    lines += [f"add set {t} {name} {spec}" for name, spec in sorted(new_sets.items())]
    changed = sorted({c for part in after for c, rules in part.chains.items() if old.chains.get(c) != rules})
    lines += [f"add chain {t} {c}" for c in changed]  # all exist before any rule names them
    for c in changed:
        lines.append(f"flush chain {t} {c}")
        lines += [f"add rule {t} {c} {rule}" for rule in new.chains[c]]
    stale = sorted({c for part in before for c in part.chains if c not in new.chains})
    lines += [f"flush chain {t} {c}" for c in stale]
    lines += [f"delete chain {t} {c}" for c in stale]
    lines += [f"delete set {t} {name}" for name in sorted({n for part in before for n in part.sets if n not in new.sets})]
    added = {k: v for part in after for k, v in part.elements.items() if old.elements.get(k) != v}
    lines += [f"add element {_element(name, key, value)}" for (name, key), value in sorted(added.items())]
    return "\n".join(lines) + ("\n" if lines else "")


class NftablesProxier:
    mode = "nftables"

    def __init__(self, netns: hosts.NodeHostNetns, *, cluster_cidr: str, node_ips: list[str],
                 masquerade_all: bool = False) -> None:
        self.netns = netns
        self.cluster_cidr = cluster_cidr
        self.node_ips = list(node_ips)
        self.masquerade_all = masquerade_all
        self._applied: Ruleset | None = None
        self._last_state: ProxyState | None = None
        self.needs_full = True

    async def sync(self, state: ProxyState, full: bool = False) -> None:
        rs = compute(state, cluster_cidr=self.cluster_cidr, masquerade_all=self.masquerade_all,
                     previous=self._applied)
        full = full or self.needs_full or self._applied is None
        script = render_full(rs, self.node_ips) if full else render_partial(self._applied, rs)
        if script:
            try:
                await self.netns.run("nft", "-f", "-", stdin=script)
            except hosts.CommandFailed:
                self.needs_full = True
                raise
        self.needs_full = False
        self._applied = rs
        await conntrack.flush_stale_udp(self.netns, self._last_state, state, self.node_ips)
        self._last_state = state

    async def cleanup(self) -> None:
        await self.netns.run("nft", "-f", "-", stdin=f"add table {TABLE}\ndelete table {TABLE}\n")
        self._applied = None
        self.needs_full = True
