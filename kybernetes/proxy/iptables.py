"""The iptables proxier: Services as nat rules, as kube-proxy's pkg/proxy/iptables does it.

    PREROUTING/OUTPUT → KUBE-SERVICES ─ clusterIP:port ─→ KUBE-SVC-<hash> (or KUBE-SVL- for Local)
                           └ last rule, to a node address ─→ KUBE-NODEPORTS ─→ KUBE-EXT-<hash>
    KUBE-SVC-<hash>: `! -s <cluster CIDR>` → KUBE-MARK-MASQ, then one rule per
                     endpoint, `-m statistic --mode random --probability 1/(n-i)`
    KUBE-SEP-<hash>: `-s <endpoint>` → KUBE-MARK-MASQ (hairpin), DNAT to ip:port
    POSTROUTING → KUBE-POSTROUTING: MASQUERADE what carries mark 0x4000

Chain names are kube-proxy's: base32 of sha256 of "<ns>/<svc>:<port>" + protocol
(+ "ip:port" for endpoints), first 16 characters. Services without usable
endpoints get a REJECT in filter KUBE-SERVICES (KUBE-EXTERNAL-SERVICES for
their node ports); `Local` policies without local endpoints a DROP.

Everything is written as one `iptables-restore --noflush` payload inside the
node host (hosts.py). As kube-proxy's MinimizeIPTablesRestore, a partial sync
rewrites only the chains whose rules changed since the last successful write
(kube-proxy rewrites the top-level chains every time; here they too are left
alone when unchanged, and the rules of unchanged services are not even
generated again: each service port's rules are cached); a full sync (at start, after a
failure, and every sync period) rewrites all and deletes stale KUBE-* chains
found by iptables-save.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import re

from kybernetes.proxy import conntrack, hosts, services
from kybernetes.proxy.services import Endpoint, ProxyState, ServicePort

log = logging.getLogger(__name__)

MASQ_MARK = "0x4000"  # kube-proxy's default --iptables-masquerade-bit 14
NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
_SERVICE_CHAIN = re.compile(r"KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}")

# kube-proxy's iptablesJumpChains: (table, chain, from builtin chain, comment, extra matches)
JUMPS = [
    ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-EXTERNAL-SERVICES", "FORWARD", "kubernetes externally-visible service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ""),
    ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""),
]
FILTER_CHAINS = ["KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"]
NAT_CHAINS = ["KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"]


def port_proto_hash(service_port_name: str, protocol: str) -> str:
    digest = hashlib.sha256((service_port_name + protocol).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_chain(name: str, proto: str) -> str:
    return "KUBE-SVC-" + port_proto_hash(name, proto)


def local_chain(name: str, proto: str) -> str:
    return "KUBE-SVL-" + port_proto_hash(name, proto)


def external_chain(name: str, proto: str) -> str:
    return "KUBE-EXT-" + port_proto_hash(name, proto)


def endpoint_chain(name: str, proto: str, endpoint: str) -> str:
    digest = hashlib.sha256((name + proto + endpoint).encode()).digest()
    return "KUBE-SEP-" + base64.b32encode(digest).decode()[:16]


def probability(n: int) -> str:
    """kube-proxy's `fmt.Sprintf("%0.10f", 1.0/float64(n))`."""
    return f"{1.0 / n:0.10f}"


def jump_rule(chain: str, comment: str, extra: str) -> str:
    """A builtin chain's jump as iptables-save prints it (kube-proxy's EnsureRule args)."""
    return f'{extra + " " if extra else ""}-m comment --comment "{comment}" -j {chain}'


@dataclasses.dataclass
class Rules:
    """The generated tables: top-level chains (always rewritten) and the
    per-service chains (rewritten when changed), each a list of `-A` lines."""

    filter: dict[str, list[str]]
    nat: dict[str, list[str]]
    service_chains: dict[str, list[str]]


def _quote(text: str) -> str:
    return f'"{text}"' if " " in text else text


def _write_endpoint_jumps(out: list[str], chain: str, svc: ServicePort, eps: list[Endpoint]) -> None:
    name = str(svc.name)
    if svc.affinity_seconds:
        for ep in eps:
            sep = endpoint_chain(name, svc.proto, str(ep))
            out.append(f'-A {chain} -m comment --comment "{name} -> {ep}" -m recent --name {sep}'
                       f" --rcheck --seconds {svc.affinity_seconds} --reap -j {sep}")
    n = len(eps)
    for i, ep in enumerate(eps):
        sep = endpoint_chain(name, svc.proto, str(ep))
        ladder = f" -m statistic --mode random --probability {probability(n - i)}" if i < n - 1 else ""
        out.append(f'-A {chain} -m comment --comment "{name} -> {ep}"{ladder} -j {sep}')


@dataclasses.dataclass(frozen=True)
class ServiceRules:
    """One service port's share of the rules: its lines in the top-level chains
    and its own chains. Cached by the proxier while the port and its endpoints
    stay the same, so a sync regenerates only the services that changed."""

    svc: ServicePort
    endpoints: list[Endpoint]
    filter_services: list[str]
    filter_external: list[str]
    nat_services: list[str]
    nat_nodeports: list[str]
    chains: dict[str, list[str]]


def service_rules(svc: ServicePort, endpoints: list[Endpoint], *, cluster_cidr: str,
                  masquerade_all: bool = False) -> ServiceRules:
    """The rules of one service port, in kube-proxy's shapes and order."""
    out = ServiceRules(svc, endpoints, [], [], [], [], {})
    chains = out.chains
    name, proto = str(svc.name), svc.proto
    eps = services.categorize(endpoints, svc)
    svc_chain, svl_chain, ext_chain = (service_chain(name, proto), local_chain(name, proto),
                                       external_chain(name, proto))
    has_endpoints = eps.has_any
    uses_cluster = bool(eps.cluster) and svc.uses_cluster_endpoints
    uses_local = bool(eps.local) and svc.uses_local_endpoints
    internal_chain, has_internal = svc_chain, has_endpoints
    if svc.internal_local:
        internal_chain, has_internal = svl_chain, bool(eps.local)
    external_policy, has_external = svc_chain, has_endpoints
    if svc.external_policy_local:
        external_policy, has_external = svl_chain, bool(eps.local)
    uses_external = has_endpoints and svc.externally_accessible
    match = f"-m {proto} -p {proto}"
    dest = f"-d {svc.cluster_ip} --dport {svc.port}"

    if has_internal:
        out.nat_services.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} cluster IP" {match} {dest} -j {internal_chain}')
    else:
        target, why = ("REJECT", "has no endpoints") if not has_endpoints else ("DROP", "has no local endpoints")
        out.filter_services.append(
            f'-A KUBE-SERVICES -m comment --comment "{name} {why}" {match} {dest} -j {target}')

    if svc.node_port:
        if has_endpoints:
            out.nat_nodeports.append(
                f"-A KUBE-NODEPORTS -m comment --comment {_quote(name)} {match}"
                f" --dport {svc.node_port} -j {ext_chain}")
        if not has_external:
            target, why = ("REJECT", "has no endpoints") if not has_endpoints else ("DROP", "has no local endpoints")
            out.filter_external.append(
                f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{name} {why}" -m addrtype --dst-type LOCAL'
                f" {match} --dport {svc.node_port} -j {target}")

    if uses_external:
        rules = chains[ext_chain] = []
        if not svc.external_policy_local:
            rules.append(f'-A {ext_chain} -m comment --comment "masquerade traffic for {name} external'
                         f' destinations" -j KUBE-MARK-MASQ')
        else:
            rules.append(f'-A {ext_chain} -m comment --comment "pod traffic for {name} external'
                         f' destinations" -s {cluster_cidr} -j {svc_chain}')
            rules.append(f'-A {ext_chain} -m comment --comment "masquerade LOCAL traffic for {name} external'
                         f' destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ')
            rules.append(f'-A {ext_chain} -m comment --comment "route LOCAL traffic for {name} external'
                         f' destinations" -m addrtype --src-type LOCAL -j {svc_chain}')
        if has_external:
            rules.append(f"-A {ext_chain} -j {external_policy}")

    if uses_cluster:
        rules = chains[svc_chain] = []
        if masquerade_all:
            rules.append(f'-A {svc_chain} -m comment --comment "{name} cluster IP" {match} {dest} -j KUBE-MARK-MASQ')
        elif cluster_cidr:
            # Off-cluster traffic to a service VIP may bounce off-node: masquerade it.
            rules.append(f'-A {svc_chain} -m comment --comment "{name} cluster IP" {match} {dest}'
                         f" ! -s {cluster_cidr} -j KUBE-MARK-MASQ")
        _write_endpoint_jumps(rules, svc_chain, svc, eps.cluster)
    if uses_local:
        rules = chains[svl_chain] = []
        _write_endpoint_jumps(rules, svl_chain, svc, eps.local)

    for ep in eps.reachable:
        sep = endpoint_chain(name, proto, str(ep))
        head = f"-A {sep} -m comment --comment {_quote(name)}"
        rules = chains[sep] = [f"{head} -s {ep.ip} -j KUBE-MARK-MASQ"]
        affinity = f" -m recent --name {sep} --set" if svc.affinity_seconds else ""
        rules.append(f"{head}{affinity} {match} -j DNAT --to-destination {ep}")
    return out


def compute(state: ProxyState, *, cluster_cidr: str, node_ips: list[str], masquerade_all: bool = False,
            cache: dict | None = None) -> Rules:
    """All rules for `state`, in kube-proxy's shapes and order. `cache` (service
    port name → ServiceRules, kept by the caller between syncs) is used and
    refreshed: a service port whose ServicePort and endpoints equal the cached
    ones keeps its rules without generating them again."""
    filt: dict[str, list[str]] = {c: [] for c in FILTER_CHAINS}
    nat: dict[str, list[str]] = {c: [] for c in NAT_CHAINS}
    chains: dict[str, list[str]] = {}
    fresh: dict = {}
    for key in sorted(state.services):
        svc, endpoints = state.services[key], state.endpoints_of(key)
        part = cache.get(key) if cache is not None else None
        if part is None or not services.reusable(part, svc, endpoints):
            part = service_rules(svc, endpoints, cluster_cidr=cluster_cidr, masquerade_all=masquerade_all)
        fresh[key] = part
        filt["KUBE-SERVICES"] += part.filter_services
        filt["KUBE-EXTERNAL-SERVICES"] += part.filter_external
        nat["KUBE-SERVICES"] += part.nat_services
        nat["KUBE-NODEPORTS"] += part.nat_nodeports
        chains.update(part.chains)
    if cache is not None:
        cache.clear()
        cache.update(fresh)

    if node_ips:
        for ip in node_ips:
            nat["KUBE-SERVICES"].append(f"-A KUBE-SERVICES -m comment --comment {NODEPORTS_COMMENT}"
                                        f" -d {ip} -j KUBE-NODEPORTS")
    else:
        nat["KUBE-SERVICES"].append(f"-A KUBE-SERVICES -m comment --comment {NODEPORTS_COMMENT}"
                                    " -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    nat["KUBE-MARK-MASQ"].append(f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}")
    nat["KUBE-POSTROUTING"] += [
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE --random-fully",
    ]
    filt["KUBE-FORWARD"] += [
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark {MASQ_MARK}/{MASQ_MARK}'
        " -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack'
        " --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    return Rules(filt, nat, chains)


def render(rules: Rules, *, write: set[str] | None = None, delete: set[str] = frozenset(),
           missing_jumps: list[tuple[str, str, str]] = (), tops: set[tuple[str, str]] | None = None) -> str:
    """The iptables-restore payload: the top-level chains in `tops` ((table,
    chain) pairs; None: all) in full, the service chains in `write` (None:
    all), `-X` for `delete`, and `-I` for missing jumps from builtin chains.
    A chain left out is left as it is (--noflush)."""
    out: list[str] = ["*filter"]
    filt = [c for c in rules.filter if tops is None or ("filter", c) in tops]
    out += [f":{c} - [0:0]" for c in filt]
    out += [line for c in filt for line in rules.filter[c]]
    out += [f"-I {builtin} 1 {spec}" for table, builtin, spec in missing_jumps if table == "filter"]
    out += ["COMMIT", "*nat"]
    nat = [c for c in rules.nat if tops is None or ("nat", c) in tops]
    wanted = sorted(rules.service_chains if write is None else write & rules.service_chains.keys())
    out += [f":{c} - [0:0]" for c in nat + wanted + sorted(delete)]
    out += [line for c in nat for line in rules.nat[c]]
    out += [line for c in wanted for line in rules.service_chains[c]]
    out += [f"-X {c}" for c in sorted(delete)]
    out += [f"-I {builtin} 1 {spec}" for table, builtin, spec in missing_jumps if table == "nat"]
    out += ["COMMIT", ""]
    return "\n".join(out)


def top_level(rules: Rules) -> dict[tuple[str, str], list[str]]:
    return {**{("filter", c): lines for c, lines in rules.filter.items()},
            **{("nat", c): lines for c, lines in rules.nat.items()}}


def saved_chains(save: str, table: str) -> tuple[set[str], set[str]]:
    """(chains, rule lines) of one table in iptables-save output."""
    chains, lines, current = set(), set(), None
    for line in save.splitlines():
        if line.startswith("*"):
            current = line[1:]
        elif current == table and line.startswith(":"):
            chains.add(line[1:].split()[0])
        elif current == table and line.startswith("-A "):
            lines.add(line)
    return chains, lines


class IptablesProxier:
    """Programs one node host's iptables; `sync(state, full)` after every change."""

    mode = "iptables"

    def __init__(self, netns: hosts.NodeHostNetns, *, cluster_cidr: str, node_ips: list[str],
                 masquerade_all: bool = False) -> None:
        self.netns = netns
        self.cluster_cidr = cluster_cidr
        self.node_ips = list(node_ips)
        self.masquerade_all = masquerade_all
        self._written: dict[str, list[str]] = {}  # service chains as last written
        self._written_top: dict[tuple[str, str], list[str]] = {}  # top-level chains as last written
        self._last_state: ProxyState | None = None
        self._by_service: dict = {}  # service port name → ServiceRules, reused while unchanged
        self.needs_full = True

    async def sync(self, state: ProxyState, full: bool = False) -> None:
        full = full or self.needs_full
        rules = compute(state, cluster_cidr=self.cluster_cidr, node_ips=self.node_ips,
                        masquerade_all=self.masquerade_all, cache=self._by_service)
        missing: list[tuple[str, str, str]] = []
        if full:
            save = await self.netns.run("iptables-save")
            existing, _ = saved_chains(save, "nat")
            stale = {c for c in existing if _SERVICE_CHAIN.fullmatch(c) and c not in rules.service_chains}
            for table, chain, builtin, comment, extra in JUMPS:
                spec = jump_rule(chain, comment, extra)
                if f"-A {builtin} {spec}" not in saved_chains(save, table)[1]:
                    missing.append((table, builtin, spec))
            write = tops = None
        else:
            stale = set(self._written) - set(rules.service_chains)
            write = {c for c, lines in rules.service_chains.items() if self._written.get(c) != lines}
            # Unlike kube-proxy, which rewrites KUBE-SERVICES on every sync, a
            # top-level chain is written only when it changed: an endpoint change
            # at 5,000 Services is then a few small chains, not 5,000 rules.
            tops = {c for c, lines in top_level(rules).items() if self._written_top.get(c) != lines}
        payload = render(rules, write=write, delete=stale, missing_jumps=missing, tops=tops)
        try:
            await self.netns.run("iptables-restore", "-w", "5", "--noflush", "--counters", stdin=payload)
        except hosts.CommandFailed:
            self.needs_full = True
            raise
        self.needs_full = False
        self._written = dict(rules.service_chains)
        self._written_top = top_level(rules)
        await conntrack.flush_stale_udp(self.netns, self._last_state, state, self.node_ips)
        self._last_state = state
        log.debug("iptables %s sync: %d service chains written, %d deleted",
                  "full" if full else "partial", len(rules.service_chains if write is None else write), len(stale))

    async def cleanup(self) -> None:
        """Remove every KUBE-* chain and jump (kube-proxy --cleanup)."""
        save = await self.netns.run("iptables-save")
        out = []
        for table in ("filter", "nat"):
            chains, lines = saved_chains(save, table)
            ours = sorted(c for c in chains if c.startswith("KUBE-"))
            if not ours:
                continue
            out.append(f"*{table}")
            out += [f"-D {line[3:]}" for line in sorted(lines)
                    if line.split()[1] in ("PREROUTING", "OUTPUT", "POSTROUTING", "INPUT", "FORWARD")
                    and " -j KUBE-" in line]
            out += [f":{c} - [0:0]" for c in ours] + [f"-X {c}" for c in ours] + ["COMMIT"]
        if out:
            await self.netns.run("iptables-restore", "-w", "5", "--noflush", stdin="\n".join(out) + "\n")
        self._written.clear()
        self._written_top.clear()
        self.needs_full = True
