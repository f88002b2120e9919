"""Answers for the cluster zone, as CoreDNS's kubernetes plugin gives them
(``kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure;
fallthrough in-addr.arpa ip6.arpa }``, the default Corefile), following the
Kubernetes DNS-Based Service Discovery specification, schema 1.1.0:

- ``<svc>.<ns>.svc.<zone>``: A/AAAA of the ClusterIPs, of the ready endpoints
  for a headless Service; CNAME to ``spec.externalName`` for ExternalName.
- ``<endpoint>.<svc>.<ns>.svc.<zone>``: the endpoint whose hostname (or dashed
  address) is ``<endpoint>``.
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>``: SRV per matching port (and
  endpoint, for headless), with A/AAAA of the targets as additional records.
- ``<a-b-c-d>.<ns>.pod.<zone>``: any well-formed address ("pods insecure").
- PTR for ClusterIPs and endpoint addresses; other reverse names fall through
  to the upstream resolvers.
- ``dns-version.<zone>`` TXT "1.1.0"; SOA and NS at the apex.
- A name that exists without records of the asked type is NODATA (NOERROR,
  no answer, the zone's SOA as authority); one that does not is NXDOMAIN.
  The namespace must exist.

Names reach here lowercased and without the final dot; the answer's owner
names are the question's, so the asker's case is kept when packed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kybernetes.dns import records as recs
from kybernetes.dns import wire
from kybernetes.dns.wire import RR

DNS_SCHEMA_VERSION = "1.1.0"
DNS_VERSION_TTL = 28800
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")
DNS_SERVICE = ("kube-system", "kube-dns")


@dataclass(slots=True)
class Answer:
    rcode: int
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    deps: set[str] | None = field(default_factory=set)  # None: do not keep the packed answer
    aa: bool = True


@dataclass(frozen=True, slots=True)
class Forward:
    """Not the cluster's to answer: ask the upstream resolvers."""


@dataclass(frozen=True, slots=True)
class Chase:
    """An ExternalName answer: the CNAME, then the target's addresses (CoreDNS
    resolves the target itself, through the upstream resolvers if need be)."""
    cname: RR
    target: str
    qtype: int


FORWARD = Forward()


@dataclass(frozen=True, slots=True)
class _Item:
    host: str  # an address, or the target of an ExternalName
    port: int
    target: str  # the name SRV records point to
    cname: bool = False


def reverse_address(name: str) -> str | None:
    """The address of a full in-addr.arpa or ip6.arpa name."""
    labels = name.split(".")
    try:
        if name.endswith(".in-addr.arpa") and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if name.endswith(".ip6.arpa") and len(labels) == 34 and all(len(x) == 1 for x in labels[:32]):
            nibbles = "".join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(":".join(nibbles[i:i + 4] for i in range(0, 32, 4))))
    except ValueError:
        return None
    return None


def _family(ip: str) -> int:
    return wire.AAAA if ":" in ip else wire.A


class Zone:
    def __init__(self, records: recs.Records, domain: str = "cluster.local", *, ttl: int = 5):
        self.records = records
        self.domain = domain.strip(".").lower()
        self.ttl = ttl
        self.synced = False

    # --- helpers ---

    def soa(self, zone: str) -> RR:
        # CoreDNS: TTL min(300, ttl), serial = time of the last change seen.
        return RR(zone, wire.SOA, min(300, self.ttl),
                  (f"ns.dns.{zone}", f"hostmaster.{zone}", self.records.modified & 0xFFFFFFFF,
                   7200, 1800, 86400, self.ttl))

    def _negative(self, rcode: int, zone: str, deps: set[str]) -> Answer:
        if rcode == wire.NXDOMAIN and not self.synced:
            # Not yet synchronised with the API: a name error might be wrong (CoreDNS: SERVFAIL).
            return Answer(wire.SERVFAIL, deps=None)
        return Answer(rcode, authority=[self.soa(zone)], deps=deps)

    def _ns_addresses(self) -> list[str]:
        svc = self.records.services.get(DNS_SERVICE)
        return list(svc.cluster_ips) if svc else []

    # --- the entry point ---

    def lookup(self, qname: str, qtype: int) -> Answer | Forward | Chase:
        d = self.domain
        if qname == d or qname.endswith("." + d):
            if qtype in (wire.AXFR, wire.IXFR):
                return Answer(wire.REFUSED, deps=set(), aa=False)
            return self._cluster(qname, qname[:-len(d)].rstrip("."), qtype)
        for rz in REVERSE_ZONES:
            if qname == rz:
                if qtype == wire.SOA:
                    return Answer(wire.NOERROR, [self.soa(qname)], deps=set())
                return self._negative(wire.NOERROR, rz, set())
            if qname.endswith("." + rz):
                return self._reverse(qname, qtype)
        return FORWARD

    def _reverse(self, qname: str, qtype: int) -> Answer | Forward:
        if qtype != wire.PTR:
            return FORWARD
        ip = reverse_address(qname)
        names = self.records.reverse(ip, self.domain) if ip else []
        if not names:
            return FORWARD  # fallthrough in-addr.arpa ip6.arpa
        return Answer(wire.NOERROR, [RR(qname, wire.PTR, self.ttl, n) for n in names],
                      deps={recs.dep_ip(ip)})

    def _cluster(self, qname: str, base: str, qtype: int) -> Answer | Chase:
        zone, ttl = self.domain, self.ttl
        dns_deps = {recs.dep_service(*DNS_SERVICE)}
        if base == "":
            if qtype == wire.SOA:
                return Answer(wire.NOERROR, [self.soa(zone)], deps=set())
            if qtype == wire.NS:
                ns = f"ns.dns.{zone}"
                return Answer(wire.NOERROR, [RR(zone, wire.NS, ttl, ns)], [],
                              [RR(ns, _family(ip), ttl, ip) for ip in self._ns_addresses()], deps=dns_deps)
            return self._negative(wire.NXDOMAIN if qtype == wire.TXT else wire.NOERROR, zone, set())
        if qtype == wire.SOA:
            return self._negative(wire.NOERROR, zone, set())  # CoreDNS answers SOA only at the apex
        if base == "dns-version" and qtype == wire.TXT:
            return Answer(wire.NOERROR, [RR(qname, wire.TXT, DNS_VERSION_TTL, (DNS_SCHEMA_VERSION,))],
                          deps=set())
        if base == "ns.dns":
            ips = [ip for ip in self._ns_addresses() if _family(ip) == qtype] if qtype == wire.A else []
            return self._positive(qname, qtype, [RR(qname, wire.A, ttl, ip) for ip in ips], dns_deps)

        segs = base.split(".")
        kind = segs[-1]
        if kind not in ("svc", "pod") or len(segs) > 5:
            return self._negative(wire.NXDOMAIN, zone, set())
        if len(segs) == 1:
            return self._empty(qtype, set())
        namespace = segs[-2]
        if namespace not in self.records.namespaces:
            return self._negative(wire.NXDOMAIN, zone, set())
        if len(segs) == 2:
            return self._empty(qtype, set())
        name = segs[-3]
        if kind == "pod":
            return self._pod(qname, name, qtype)
        endpoint = segs[0] if len(segs) == 4 else ""
        port, proto = (segs[0].removeprefix("_"), segs[1].removeprefix("_")) if len(segs) == 5 else ("", "")
        deps = {recs.dep_service(namespace, name)}
        items = self._services(namespace, name, endpoint, port, proto)
        if not items:
            return self._negative(wire.NXDOMAIN, zone, deps)
        return self._typed(qname, qtype, items, deps)

    def _empty(self, qtype: int, deps: set[str]) -> Answer:
        # A name without records. CoreDNS's TXT lookup treats "no records" as NXDOMAIN.
        return self._negative(wire.NXDOMAIN if qtype == wire.TXT else wire.NOERROR, self.domain, deps)

    def _positive(self, qname: str, qtype: int, rrs: list[RR], deps: set[str],
                  extra: list[RR] | None = None) -> Answer:
        if not rrs:
            return self._negative(wire.NOERROR, self.domain, deps)
        return Answer(wire.NOERROR, rrs, [], extra or [], deps=deps)

    def _pod(self, qname: str, podname: str, qtype: int) -> Answer:
        if podname.count("-") == 3 and "--" not in podname:
            text = podname.replace("-", ".")
        else:
            text = podname.replace("-", ":")
        try:
            ip = str(ipaddress.ip_address(text))
        except ValueError:
            return self._negative(wire.NXDOMAIN, self.domain, set())
        rrs = [RR(qname, qtype, self.ttl, ip)] if qtype in (wire.A, wire.AAAA) and _family(ip) == qtype else []
        return self._positive(qname, qtype, rrs, set())

    def _services(self, namespace: str, name: str, endpoint: str, port: str, proto: str) -> list[_Item]:
        """CoreDNS's findServices: what the name stands for, or nothing (NXDOMAIN)."""
        svc = self.records.services.get((namespace, name))
        if svc is None:
            return []
        fqdn = f"{name}.{namespace}.svc.{self.domain}"
        if svc.type == "ExternalName":
            if endpoint or not svc.external_name or _is_ip(svc.external_name):
                return []
            return [_Item(svc.external_name.rstrip(".").lower(), 0, svc.external_name, cname=True)]

        def matches(p: recs.Port) -> bool:
            return (not port or port == p.name.lower()) and (not proto or proto == p.protocol.lower())

        items = []
        if svc.headless or endpoint:
            for s, ep in self.records.endpoints(namespace, name):
                if endpoint and endpoint != ep.hostname.lower():
                    continue
                items.extend(_Item(ep.ip, p.port, f"{ep.hostname}.{fqdn}") for p in s.ports if matches(p))
            return items
        for p in svc.ports:
            if matches(p):
                items.extend(_Item(ip, p.port, fqdn) for ip in svc.cluster_ips)
        return items

    def _typed(self, qname: str, qtype: int, items: list[_Item], deps: set[str]) -> Answer | Chase:
        ttl = self.ttl
        if items[0].cname:
            target = items[0].host
            if qtype in (wire.A, wire.AAAA):
                return Chase(RR(qname, wire.CNAME, ttl, target), target, qtype)
            if qtype == wire.CNAME:
                return Answer(wire.NOERROR, [RR(qname, wire.CNAME, ttl, target)], deps=deps)
            return self._negative(wire.NOERROR, self.domain, deps)
        if qtype in (wire.A, wire.AAAA):
            seen: dict[str, None] = {}
            for it in items:
                if _family(it.host) == qtype:
                    seen.setdefault(it.host)
            return self._positive(qname, qtype, [RR(qname, qtype, ttl, ip) for ip in seen], deps)
        if qtype == wire.SRV:
            return self._srv(qname, [it for it in items if it.port >= 0], deps)
        return self._negative(wire.NOERROR, self.domain, deps)

    def _srv(self, qname: str, items: list[_Item], deps: set[str]) -> Answer:
        # CoreDNS: priority 0, the weight 100 shared evenly between the records.
        weight = 100 // len(items) if items else 0
        answer, extra, seen_srv, seen_addr = [], [], set(), set()
        for it in items:
            if (it.target, it.port) not in seen_srv:
                seen_srv.add((it.target, it.port))
                answer.append(RR(qname, wire.SRV, self.ttl, (0, weight, it.port, it.target)))
            if (it.target, it.host) not in seen_addr:
                seen_addr.add((it.target, it.host))
                extra.append(RR(it.target, _family(it.host), self.ttl, it.host))
        return self._positive(qname, wire.SRV, answer, deps, extra)

    def in_zone(self, name: str) -> bool:
        return name == self.domain or name.endswith("." + self.domain)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
