"""Fixtures for the DNS addon's tests: a real API server that runs no
controllers (the tests write the EndpointSlices themselves), a fake upstream
resolver on 127.0.0.1 (never the machine's own resolvers), and ``kyb dns``
run in the test's event loop on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable

import dnslib
import pytest

from kybernetes.api import registry
from kybernetes.client import rest
from kybernetes.dns import server as dns_server
from tests import servers
from tests.e2e.cluster import API_ONLY, free_port

SERVICES = registry.lookup("", "v1", "services")
SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")
NAMESPACES = registry.lookup("", "v1", "namespaces")

server = servers.server_fixture("kyb-dns-server", API_ONLY, scope="module")
client = servers.client_fixture("dns-test")
namespace = servers.namespace_fixture(delete=True)


class FakeUpstream(asyncio.DatagramProtocol):
    """A resolver for the forwarding tests: answers from ``zone`` (name → list of
    RRs), NXDOMAIN otherwise; counts the queries it saw per name."""

    def __init__(self):
        self.zone: dict[tuple[str, int], list[dnslib.RR]] = {}
        self.seen: list[str] = []
        self.transport = None
        self.port = 0

    def add(self, rr: str) -> None:
        for r in dnslib.RR.fromZone(rr):
            self.zone.setdefault((str(r.rname).lower(), r.rtype), []).append(r)

    def answer(self, data: bytes) -> bytes:
        q = dnslib.DNSRecord.parse(data)
        name = str(q.q.qname).lower()
        self.seen.append(name.rstrip("."))
        reply = q.reply()
        rrs = self.zone.get((name, q.q.qtype))
        if rrs:
            reply.rr.extend(rrs)
        elif not any(n == name for n, _ in self.zone):
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
            reply.add_auth(*dnslib.RR.fromZone("test. 60 IN SOA ns.test. admin.test. 1 2 3 4 20"))
        return reply.pack()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(self.answer(data), addr)

    def count(self, name: str) -> int:
        return self.seen.count(name)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    loop = asyncio.get_running_loop()
    fake = FakeUpstream()

    async def tcp(reader, writer):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = fake.answer(await reader.readexactly(n))
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()

    # UDP and TCP on one port: the UDP port the kernel picks may be taken for
    # TCP by another process on this shared machine, so pick again until both bind.
    for _attempt in range(50):
        transport, _ = await loop.create_datagram_endpoint(lambda: fake, local_addr=("127.0.0.1", 0))
        fake.port = transport.get_extra_info("sockname")[1]
        try:
            tcp_server = await asyncio.start_server(tcp, "127.0.0.1", fake.port)
            break
        except OSError:
            transport.close()
    else:
        pytest.fail("no port free for both UDP and TCP on 127.0.0.1")
    try:
        yield fake
    finally:
        transport.close()
        tcp_server.close()
        await tcp_server.wait_closed()


async def start_dns(client: rest.Client, upstreams: list[tuple[str, int]], **kw) -> tuple[dns_server.DNSServer,
                                                                                           asyncio.Task]:
    settings = dns_server.Settings(bind="127.0.0.1", port=free_port(), upstreams=upstreams,
                                   health_bind="127.0.0.1", health_port=0, ready_port=0, **kw)
    dns = dns_server.DNSServer(client, settings)
    task = asyncio.create_task(dns.run())
    async with asyncio.timeout(20):
        await dns.ready.wait()
    return dns, task


async def stop_dns(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def dns(client: rest.Client, upstream: FakeUpstream) -> AsyncIterator[dns_server.DNSServer]:
    d, task = await start_dns(client, [("127.0.0.1", upstream.port)])
    try:
        yield d
    finally:
        await stop_dns(task)


# --- a stub resolver ---

class _Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr):
        if not self.reply.done():
            self.reply.set_result(data)


def make_query(name: str, qtype: str = "A", *, edns: int | None = None) -> dnslib.DNSRecord:
    q = dnslib.DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(dnslib.EDNS0(udp_len=edns))
    return q


async def ask_raw(port: int, data: bytes, *, tcp: bool = False, timeout: float = 5.0) -> bytes:
    async with asyncio.timeout(timeout):
        if tcp:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(struct.pack("!H", len(data)) + data)
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                return await reader.readexactly(n)
            finally:
                writer.close()
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
        try:
            transport.sendto(data)
            return await proto.reply
        finally:
            transport.close()


async def ask(port: int, name: str, qtype: str = "A", *, tcp: bool = False,
              edns: int | None = None) -> dnslib.DNSRecord:
    q = make_query(name, qtype, edns=edns)
    reply = dnslib.DNSRecord.parse(await ask_raw(port, q.pack(), tcp=tcp))
    assert reply.header.id == q.header.id
    return reply


def rcode(reply: dnslib.DNSRecord) -> str:
    return dnslib.RCODE.get(reply.header.rcode)


def values(reply: dnslib.DNSRecord, qtype: str | None = None) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if qtype is None or dnslib.QTYPE.get(rr.rtype) == qtype]


async def eventually(check: Callable, timeout: float = 15.0, interval: float = 0.05):
    """Retry ``check`` until it stops raising AssertionError; the bound is for a
    loaded machine (the DNS server follows an API watch), not a latency target."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(interval)


# --- objects ---

def service(name: str, *, ports=(("http", 80, "TCP"),), headless: bool = False, **spec) -> dict:
    s = {"ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports], **spec}
    if headless:
        s["clusterIP"] = "None"
    return {"metadata": {"name": name}, "spec": s}


def endpoint_slice(name: str, service_name: str, endpoints: list[dict], *,
                   ports=(("http", 80, "TCP"),)) -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}


def endpoint(ip: str, hostname: str | None = None, ready: bool = True) -> dict:
    ep = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep
