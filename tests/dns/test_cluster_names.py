"""``kyb dns`` against a real API server: the names of Services, endpoints and
pods, answered as CoreDNS's kubernetes plugin answers them."""

from __future__ import annotations

import dnslib

from tests.dns.conftest import (NAMESPACES, SERVICES, SLICES, ask, endpoint, endpoint_slice, eventually,
                                rcode, service, values)

ZONE = "cluster.local"


async def _create_service(client, namespace, obj) -> dict:
    return await client.create(SERVICES, obj, namespace)


async def _ready(dns, name: str, qtype: str = "A") -> dnslib.DNSRecord:
    async def check():
        r = await ask(dns.port, name, qtype)
        assert rcode(r) == "NOERROR" and r.rr, r
        return r
    return await eventually(check)


async def test_service_a_record_is_the_cluster_ip(client, namespace, dns):
    svc = await _create_service(client, namespace, service("web"))
    ip = svc["spec"]["clusterIP"]
    r = await _ready(dns, f"web.{namespace}.svc.{ZONE}")
    assert values(r) == [ip]
    assert r.rr[0].ttl == 5
    assert r.header.aa and not r.header.tc
    # Names are case-insensitive; the answer keeps the asker's spelling.
    r = await ask(dns.port, f"WeB.{namespace.upper()}.SVC.Cluster.Local")
    assert values(r) == [ip]
    assert str(r.rr[0].rname) == f"WeB.{namespace.upper()}.SVC.Cluster.Local."
    # An IPv4-only Service has no AAAA: NODATA, with the zone's SOA.
    r = await ask(dns.port, f"web.{namespace}.svc.{ZONE}", "AAAA")
    assert rcode(r) == "NOERROR" and not r.rr
    assert [dnslib.QTYPE.get(a.rtype) for a in r.auth] == ["SOA"]
    assert str(r.auth[0].rname) == f"{ZONE}."
    # Over TCP too.
    r = await ask(dns.port, f"web.{namespace}.svc.{ZONE}", tcp=True)
    assert values(r) == [ip]


async def test_srv_records_for_named_ports(client, namespace, dns):
    svc = await _create_service(client, namespace, service(
        "dnsish", ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"))))
    ip = svc["spec"]["clusterIP"]
    fqdn = f"dnsish.{namespace}.svc.{ZONE}"
    await _ready(dns, fqdn)
    r = await ask(dns.port, f"_dns._udp.{fqdn}", "SRV")
    assert values(r) == [f"0 100 53 {fqdn}."]
    assert values(r) and [str(a.rdata) for a in r.ar] == [ip]
    r = await ask(dns.port, f"_metrics._tcp.{fqdn}", "SRV")
    assert values(r) == [f"0 100 9153 {fqdn}."]
    # All ports for the bare name; the weight is shared.
    r = await ask(dns.port, fqdn, "SRV")
    assert sorted(values(r)) == sorted([f"0 33 53 {fqdn}.", f"0 33 9153 {fqdn}."])
    # A port the Service does not have, or the wrong protocol: no such name.
    assert rcode(await ask(dns.port, f"_http._tcp.{fqdn}", "SRV")) == "NXDOMAIN"
    assert rcode(await ask(dns.port, f"_metrics._udp.{fqdn}", "SRV")) == "NXDOMAIN"


async def test_headless_service_answers_ready_endpoints_and_hostnames(client, namespace, dns):
    await _create_service(client, namespace, service("db", headless=True, ports=(("pg", 5432, "TCP"),)))
    await client.create(SLICES, endpoint_slice("db-abcde", "db", [
        endpoint("10.244.1.10", "db-0"), endpoint("10.244.2.11", "db-1"),
        endpoint("10.244.1.12"), endpoint("10.244.2.13", "db-2", ready=False)],
        ports=(("pg", 5432, "TCP"),)), namespace)
    fqdn = f"db.{namespace}.svc.{ZONE}"
    r = await _ready(dns, fqdn)
    assert sorted(values(r)) == ["10.244.1.10", "10.244.1.12", "10.244.2.11"]
    # StatefulSet-style names: <hostname>.<service>, and dashed addresses without one.
    assert values(await ask(dns.port, f"db-0.{fqdn}")) == ["10.244.1.10"]
    assert values(await ask(dns.port, f"10-244-1-12.{fqdn}")) == ["10.244.1.12"]
    assert rcode(await ask(dns.port, f"db-2.{fqdn}")) == "NXDOMAIN"  # not ready
    r = await ask(dns.port, f"_pg._tcp.{fqdn}", "SRV")
    assert sorted(values(r)) == sorted([f"0 33 5432 db-0.{fqdn}.", f"0 33 5432 db-1.{fqdn}.",
                                        f"0 33 5432 10-244-1-12.{fqdn}."])
    assert sorted((str(a.rname), str(a.rdata)) for a in r.ar) == sorted([
        (f"db-0.{fqdn}.", "10.244.1.10"), (f"db-1.{fqdn}.", "10.244.2.11"),
        (f"10-244-1-12.{fqdn}.", "10.244.1.12")])


async def test_pod_hostname_and_subdomain(client, namespace, dns):
    # A pod with hostname "hname" and subdomain "subname": the endpoints controller
    # puts its hostname in the headless Service's slice.
    await _create_service(client, namespace, service("subname", headless=True))
    await client.create(SLICES, endpoint_slice("subname-x", "subname", [endpoint("10.244.3.4", "hname")]),
                        namespace)
    r = await _ready(dns, f"hname.subname.{namespace}.svc.{ZONE}")
    assert values(r) == ["10.244.3.4"]


async def test_pod_names(client, namespace, dns):
    r = await ask(dns.port, f"10-244-1-5.{namespace}.pod.{ZONE}")
    assert values(r) == ["10.244.1.5"]
    r = await ask(dns.port, f"10-244-1-5.{namespace}.pod.{ZONE}", "AAAA")
    assert rcode(r) == "NOERROR" and not r.rr
    assert rcode(await ask(dns.port, f"not-an-ip.{namespace}.pod.{ZONE}")) == "NXDOMAIN"
    assert rcode(await ask(dns.port, f"10-244-1-5.no-such-ns.pod.{ZONE}")) == "NXDOMAIN"


async def test_reverse_names(client, namespace, dns):
    svc = await _create_service(client, namespace, service("rev"))
    ip = svc["spec"]["clusterIP"]
    await _create_service(client, namespace, service("revh", headless=True))
    await client.create(SLICES, endpoint_slice("revh-x", "revh", [endpoint("10.244.7.8", "h0")]), namespace)
    await _ready(dns, f"revh.{namespace}.svc.{ZONE}")
    r = await ask(dns.port, ".".join(reversed(ip.split("."))) + ".in-addr.arpa", "PTR")
    assert values(r) == [f"rev.{namespace}.svc.{ZONE}."]
    r = await ask(dns.port, "8.7.244.10.in-addr.arpa", "PTR")
    assert values(r) == [f"h0.revh.{namespace}.svc.{ZONE}."]


async def test_nxdomain_and_nodata(client, namespace, dns, upstream):
    await _create_service(client, namespace, service("there"))
    await _ready(dns, f"there.{namespace}.svc.{ZONE}")

    async def negative(name, qtype="A"):
        r = await ask(dns.port, name, qtype)
        assert not r.rr and r.header.aa
        assert [dnslib.QTYPE.get(a.rtype) for a in r.auth] == ["SOA"]
        return rcode(r)

    assert await negative(f"nothere.{namespace}.svc.{ZONE}") == "NXDOMAIN"
    assert await negative(f"there.no-such-namespace.svc.{ZONE}") == "NXDOMAIN"
    assert await negative(f"there.{namespace}.nope.{ZONE}") == "NXDOMAIN"
    assert await negative(f"a.b.c.d.there.{namespace}.svc.{ZONE}") == "NXDOMAIN"  # too long
    # The search-path expansions of an outside name fail fast, from the cluster.
    assert await negative(f"example.com.{namespace}.svc.{ZONE}") == "NXDOMAIN"
    assert await negative(f"example.com.svc.{ZONE}") == "NXDOMAIN"
    assert await negative(f"example.com.{ZONE}") == "NXDOMAIN"
    assert upstream.seen == []
    # Names that exist, without records of the type asked: NODATA.
    assert await negative(f"there.{namespace}.svc.{ZONE}", "TXT") == "NOERROR"
    assert await negative(f"there.{namespace}.svc.{ZONE}", "MX") == "NOERROR"
    assert await negative(f"{namespace}.svc.{ZONE}") == "NOERROR"
    assert await negative(f"svc.{ZONE}") == "NOERROR"
    assert await negative(ZONE) == "NOERROR"
    r = await ask(dns.port, f"dns-version.{ZONE}", "TXT")
    assert values(r) == ['"1.1.0"']
    r = await ask(dns.port, ZONE, "SOA")
    assert [str(a.rdata).split()[:2] for a in r.rr] == [[f"ns.dns.{ZONE}.", f"hostmaster.{ZONE}."]]


async def test_names_in_another_namespace(client, namespace, dns):
    other = namespace + "-b"
    await client.create(NAMESPACES, {"metadata": {"name": other}})
    try:
        svc = await client.create(SERVICES, service("elsewhere"), other)
        r = await _ready(dns, f"elsewhere.{other}.svc.{ZONE}")
        assert values(r) == [svc["spec"]["clusterIP"]]
        assert rcode(await ask(dns.port, f"elsewhere.{namespace}.svc.{ZONE}")) == "NXDOMAIN"
    finally:
        await client.delete(NAMESPACES, other)


async def test_externalname_is_a_cname(client, namespace, dns, upstream):
    upstream.add("db.example.test. 60 IN A 192.0.2.7")
    await _create_service(client, namespace, {"metadata": {"name": "ext"},
                                              "spec": {"type": "ExternalName",
                                                       "externalName": "db.example.test"}})
    fqdn = f"ext.{namespace}.svc.{ZONE}"
    r = await _ready(dns, fqdn, "CNAME")
    assert values(r) == ["db.example.test."]
    # An address query gets the CNAME and the target's addresses from upstream.
    r = await ask(dns.port, fqdn)
    assert [(dnslib.QTYPE.get(a.rtype), str(a.rdata)) for a in r.rr] == [
        ("CNAME", "db.example.test."), ("A", "192.0.2.7")]
    # CoreDNS has no SRV for ExternalName Services: the name exists, without SRV records.
    r = await ask(dns.port, f"_http._tcp.{fqdn}", "SRV")
    assert rcode(r) == "NOERROR" and not r.rr
    # An ExternalName pointing inside the cluster is followed there.
    svc = await _create_service(client, namespace, service("inner"))
    await _create_service(client, namespace, {"metadata": {"name": "alias"}, "spec": {
        "type": "ExternalName", "externalName": f"inner.{namespace}.svc.{ZONE}"}})
    await _ready(dns, f"alias.{namespace}.svc.{ZONE}", "CNAME")
    r = await ask(dns.port, f"alias.{namespace}.svc.{ZONE}")
    assert values(r) == [f"inner.{namespace}.svc.{ZONE}.", svc["spec"]["clusterIP"]]
