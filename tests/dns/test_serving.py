"""``kyb dns`` as a server: following changes, UDP truncation and TCP,
forwarding with a cache, failures, EDNS0 and the health endpoints."""

from __future__ import annotations

import asyncio
import struct

import aiohttp
import dnslib

from tests.dns.conftest import (SERVICES, SLICES, ask, ask_raw, endpoint, endpoint_slice, eventually,
                                make_query, rcode, service, start_dns, stop_dns, values)
from tests.e2e.cluster import free_port

ZONE = "cluster.local"


async def until_nxdomain(port: int, fqdn: str) -> None:
    """Wait for the server to answer NXDOMAIN for a name it followed away."""
    async def gone():
        assert rcode(await ask(port, fqdn)) == "NXDOMAIN"
    await eventually(gone)


async def test_changes_are_followed(client, namespace, dns):
    fqdn = f"moving.{namespace}.svc.{ZONE}"
    svc = await client.create(SERVICES, service("moving"), namespace)

    async def resolves():
        assert values(await ask(dns.port, fqdn)) == [svc["spec"]["clusterIP"]]
    await eventually(resolves)

    # A new port appears in SRV answers.
    svc["spec"]["ports"].append({"name": "admin", "port": 8081, "protocol": "TCP"})
    await client.update(SERVICES, svc)

    async def has_admin_port():
        assert values(await ask(dns.port, f"_admin._tcp.{fqdn}", "SRV")) == [f"0 100 8081 {fqdn}."]
    await eventually(has_admin_port)

    # Deleted: NXDOMAIN within a short time, and its reverse name goes upstream again.
    await client.delete(SERVICES, "moving", namespace)
    await until_nxdomain(dns.port, fqdn)


async def test_endpoint_changes_are_followed(client, namespace, dns):
    fqdn = f"pool.{namespace}.svc.{ZONE}"
    await client.create(SERVICES, service("pool", headless=True), namespace)
    eps = await client.create(SLICES, endpoint_slice("pool-1", "pool", [endpoint("10.244.5.1")]), namespace)

    async def addresses(expected):
        async def check():
            assert sorted(values(await ask(dns.port, fqdn))) == expected
        await eventually(check)

    await addresses(["10.244.5.1"])
    eps["endpoints"].append(endpoint("10.244.5.2"))
    eps = await client.update(SLICES, eps)
    await addresses(["10.244.5.1", "10.244.5.2"])
    # A second slice of the same Service adds to it; an endpoint turning unready leaves.
    await client.create(SLICES, endpoint_slice("pool-2", "pool", [endpoint("10.244.6.1")]), namespace)
    await addresses(["10.244.5.1", "10.244.5.2", "10.244.6.1"])
    eps["endpoints"][0]["conditions"]["ready"] = False
    await client.update(SLICES, eps)
    await addresses(["10.244.5.2", "10.244.6.1"])
    # No ready endpoint left: a headless Service without endpoints is NXDOMAIN, as in CoreDNS.
    await client.delete(SLICES, "pool-1", namespace)
    await client.delete(SLICES, "pool-2", namespace)
    await until_nxdomain(dns.port, fqdn)


async def test_large_answers_truncate_over_udp_and_complete_over_tcp(client, namespace, dns):
    fqdn = f"big.{namespace}.svc.{ZONE}"
    await client.create(SERVICES, service("big", headless=True), namespace)
    ips = [f"10.245.{i // 250}.{i % 250 + 1}" for i in range(100)]
    await client.create(SLICES, endpoint_slice("big-1", "big", [endpoint(ip) for ip in ips]), namespace)

    async def all_there():
        r = await ask(dns.port, fqdn, tcp=True)
        assert sorted(values(r)) == sorted(ips)
        return r
    r = await eventually(all_there)
    assert not r.header.tc

    # Plain UDP: at most 512 bytes, TC set, as many whole records as fit.
    q = make_query(fqdn)
    raw = await ask_raw(dns.port, q.pack())
    assert len(raw) <= 512
    r = dnslib.DNSRecord.parse(raw)
    assert r.header.tc and 0 < len(r.rr) < 100
    assert set(values(r)) <= set(ips)

    # EDNS0 with a 4096-byte payload: the whole answer over UDP, with an OPT record.
    q = make_query(fqdn, edns=4096)
    raw = await ask_raw(dns.port, q.pack())
    r = dnslib.DNSRecord.parse(raw)
    assert not r.header.tc and len(r.rr) == 100
    assert [a.rtype for a in r.ar] == [dnslib.QTYPE.OPT] and r.ar[0].rclass == 4096
    # EDNS0 with 1232 bytes: cut to 1232.
    raw = await ask_raw(dns.port, make_query(fqdn, edns=1232).pack())
    r = dnslib.DNSRecord.parse(raw)
    assert len(raw) <= 1232 and r.header.tc and len(r.rr) < 100

    # SRV answers with their additional records over TCP.
    r = await ask(dns.port, f"_http._tcp.{fqdn}", "SRV", tcp=True)
    assert len(r.rr) == 100 and len(r.ar) == 100


async def test_forwarding_with_cache(client, dns, upstream):
    upstream.add("www.example.test. 300 IN A 192.0.2.10")
    r = await ask(dns.port, "www.example.test")
    assert values(r) == ["192.0.2.10"]
    assert r.rr[0].ttl == 300  # passed through as upstream said
    r = await ask(dns.port, "WWW.Example.Test")
    assert values(r) == ["192.0.2.10"]
    assert str(r.q.qname) == "WWW.Example.Test."
    assert r.rr[0].ttl <= 30  # served from the cache, at most "cache 30"
    assert upstream.count("www.example.test") == 1
    # Upstream's NXDOMAIN passes through (and is cached for the SOA's minimum).
    r = await ask(dns.port, "missing.example.test")
    assert rcode(r) == "NXDOMAIN"
    assert rcode(await ask(dns.port, "missing.example.test")) == "NXDOMAIN"
    assert upstream.count("missing.example.test") == 1
    # Over TCP as well.
    assert values(await ask(dns.port, "www.example.test", tcp=True)) == ["192.0.2.10"]
    # Reverse names the cluster does not know fall through to upstream.
    upstream.add("1.2.0.192.in-addr.arpa. 60 IN PTR host.example.test.")
    r = await ask(dns.port, "1.2.0.192.in-addr.arpa", "PTR")
    assert values(r) == ["host.example.test."]
    assert upstream.count("1.2.0.192.in-addr.arpa") == 1


async def test_servfail_when_upstreams_fail(client):
    # A closed loopback port: the upstream exchange fails at once (connection refused).
    d, task = await start_dns(client, [("127.0.0.1", free_port())], upstream_timeout=0.5)
    try:
        r = await ask(d.port, "www.example.test")
        assert rcode(r) == "SERVFAIL"
        r = await ask(d.port, "www.example.test", tcp=True)
        assert rcode(r) == "SERVFAIL"
        # Cluster names do not depend on upstream.
        assert rcode(await ask(d.port, f"dns-version.{ZONE}", "TXT")) == "NOERROR"
    finally:
        await stop_dns(task)


async def test_edns_and_malformed_queries(client, namespace, dns):
    await client.create(SERVICES, service("e"), namespace)
    fqdn = f"e.{namespace}.svc.{ZONE}"

    async def found():
        assert values(await ask(dns.port, fqdn))
    await eventually(found)
    q = make_query(fqdn, edns=1232)
    q.ar[0].ttl = 1 << 15  # the DO bit
    r = dnslib.DNSRecord.parse(await ask_raw(dns.port, q.pack()))
    assert values(r) and r.ar[0].rtype == dnslib.QTYPE.OPT and r.ar[0].ttl & (1 << 15)
    # An EDNS version other than 0: BADVERS (extended rcode 16).
    q = make_query(fqdn, edns=1232)
    q.ar[0].ttl = 1 << 16
    r = dnslib.DNSRecord.parse(await ask_raw(dns.port, q.pack()))
    assert not r.rr and (r.ar[0].ttl >> 24) == 1
    # Garbage after a valid header: FORMERR.
    raw = await ask_raw(dns.port, struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x05abc")
    assert raw[:2] == b"\x00\x07" and raw[3] & 0x0F == 1
    # Zone transfers are refused.
    assert rcode(await ask(dns.port, ZONE, "AXFR", tcp=True)) == "REFUSED"


async def test_health_and_ready(dns):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{dns.health.health_port}/health") as resp:
            assert resp.status == 200
        async with session.get(f"http://127.0.0.1:{dns.health.ready_port}/ready") as resp:
            assert resp.status == 200


async def test_many_concurrent_queries(client, namespace, dns):
    for i in range(20):
        await client.create(SERVICES, service(f"s{i}"), namespace)

    async def last_there():
        assert values(await ask(dns.port, f"s19.{namespace}.svc.{ZONE}"))
    await eventually(last_there)
    replies = await asyncio.gather(*(ask(dns.port, f"s{i % 20}.{namespace}.svc.{ZONE}") for i in range(200)))
    assert all(len(r.rr) == 1 for r in replies)
