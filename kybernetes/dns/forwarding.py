"""Names outside the cluster: forwarded to the upstream resolvers (CoreDNS's
``forward . /etc/resolv.conf``) behind a small cache (``cache 30``).

A query goes upstream over the transport it came in on (a truncated UDP answer
sends the client to TCP, and its retry comes over TCP too), with a new random
ID; upstreams are tried in order, each within ``timeout``; when all fail the
client gets SERVFAIL. Identical queries in flight share one upstream exchange.
Answers are cached for their smallest TTL (negative ones for the SOA's), at
most ``max_ttl`` seconds, and served with the time left as every TTL.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import dnslib

from kybernetes.dns import wire

log = logging.getLogger(__name__)

MAX_CACHE_ENTRIES = 10_000


class UpstreamError(Exception):
    """No upstream resolver answered."""


def parse_upstream(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    servers = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append((parts[1].split("%")[0], 53))
    except OSError as e:
        log.warning("cannot read %s: %s", path, e)
    return servers


class _Reply(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes):
        self.qid = qid
        self.future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if data[:2] == self.qid and not self.future.done():
            self.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


async def exchange_udp(addr: tuple[str, int], query: bytes, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Reply(query[:2]), remote_addr=addr)
    try:
        transport.sendto(query)
        async with asyncio.timeout(timeout):
            return await proto.future
    finally:
        transport.close()


async def exchange_tcp(addr: tuple[str, int], query: bytes, timeout: float) -> bytes:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(*addr)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            n = struct.unpack("!H", await reader.readexactly(2))[0]
            return await reader.readexactly(n)
        finally:
            writer.close()


@dataclass(slots=True)
class _Cached:
    record: dnslib.DNSRecord
    expires: float


def _ttl_of(rec: dnslib.DNSRecord, max_ttl: int) -> int:
    """How long a reply may be cached (0: not at all)."""
    if rec.header.tc or rec.header.rcode not in (wire.NOERROR, wire.NXDOMAIN):
        return 0
    if rec.rr:
        ttls = [rr.ttl for rr in (*rec.rr, *rec.auth, *rec.ar) if rr.rtype != wire.OPT]
    else:
        ttls = [min(rr.ttl, rr.rdata.times[4]) for rr in rec.auth if rr.rtype == wire.SOA]
    return min([max_ttl, *ttls]) if ttls else 0


class _NoCompress(dnslib.DNSBuffer):
    def encode_name(self, name):  # rdata packed alone must not point outside itself
        self.encode_name_nocompress(name)


def raw_rr(rr: dnslib.RR) -> wire.RR:
    buf = _NoCompress()
    rr.rdata.pack(buf)
    return wire.RR(str(rr.rname).rstrip("."), rr.rtype, rr.ttl, bytes(buf.data), raw=True)


class Forwarder:
    def __init__(self, upstreams: list[tuple[str, int]], *, timeout: float = 2.0, max_ttl: int = 30,
                 clock: Callable[[], float] = time.monotonic):
        self.upstreams = upstreams
        self.timeout = timeout
        self.max_ttl = max_ttl
        self.clock = clock
        self.cache: dict[bytes, _Cached] = {}
        self._inflight: dict[bytes, asyncio.Future[bytes]] = {}

    async def _exchange(self, data: bytes, tcp: bool) -> bytes:
        qid = struct.pack("!H", random.getrandbits(16))
        query = qid + data[2:]
        errors = []
        for addr in self.upstreams:
            try:
                if tcp:
                    reply = await exchange_tcp(addr, query, self.timeout)
                else:
                    reply = await exchange_udp(addr, query, self.timeout)
                    if reply[2] & 0x02:  # truncated: CoreDNS's forward passes TC on to the client
                        return reply
                if len(reply) >= 12 and reply[:2] == qid and reply[2] & 0x80:
                    return reply
                errors.append(f"{addr}: not an answer to the query")
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
                errors.append(f"{addr}: {e!r}")
        raise UpstreamError("; ".join(errors) or "no upstream resolvers")

    async def _shared_exchange(self, key: bytes, data: bytes, tcp: bool) -> bytes:
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            reply = await self._exchange(data, tcp)
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved here: no "exception never retrieved" when none waits
            raise
        except BaseException:
            fut.cancel()
            raise
        else:
            fut.set_result(reply)
            return reply
        finally:
            del self._inflight[key]

    def _cache_key(self, q: wire.Question, tcp: bool) -> bytes:
        return q.key + bytes((q.edns_size is not None, q.edns_do))

    async def forward(self, data: bytes, q: wire.Question, tcp: bool) -> bytes:
        """The reply to a client's query ``data`` (its ID), from the cache or upstream."""
        key = self._cache_key(q, tcp)
        hit = self.cache.get(key)
        now = self.clock()
        if hit is not None:
            if hit.expires > now:
                return self._from_cache(data, q, hit, now, tcp)
            del self.cache[key]
        try:
            reply = await self._shared_exchange(key + bytes((tcp,)), data, tcp)
        except UpstreamError as e:
            log.info("forwarding %s failed: %s", wire.qname_of(q.key), e)
            return wire.error_reply(data, wire.SERVFAIL)
        self._store(key, reply, now)
        return data[:2] + reply[2:]

    def _store(self, key: bytes, reply: bytes, now: float) -> None:
        try:
            rec = dnslib.DNSRecord.parse(reply)
            ttl = _ttl_of(rec, self.max_ttl)
        except (dnslib.DNSError, AttributeError, IndexError, ValueError):
            return
        if ttl <= 0:
            return
        if len(self.cache) >= MAX_CACHE_ENTRIES:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = _Cached(rec, now + ttl)

    def _from_cache(self, data: bytes, q: wire.Question, hit: _Cached, now: float, tcp: bool) -> bytes:
        query = dnslib.DNSRecord.parse(data)
        src = hit.record
        # As CoreDNS's cache: every record gets the entry's remaining time.
        remaining = max(0, int(hit.expires - now))

        def aged(rrs):
            out = []
            for rr in rrs:
                if rr.rtype == wire.OPT:
                    continue
                rr = copy.copy(rr)
                rr.ttl = remaining
                out.append(rr)
            return out

        header = copy.copy(src.header)
        header.id = query.header.id
        header.rd = query.header.rd
        rec = dnslib.DNSRecord(header, questions=query.questions, rr=aged(src.rr), auth=aged(src.auth),
                               ar=aged(src.ar))
        packed = rec.pack()
        limit = wire.MAX_MSG_SIZE if tcp else (q.edns_size or wire.MIN_UDP_SIZE)
        opt = b"" if q.edns_size is None else wire.opt_record(q.edns_size, q.edns_do)
        if len(packed) + len(opt) > limit:
            packed = rec.truncate().pack()
        if opt:
            arcount = struct.unpack("!H", packed[10:12])[0] + 1
            packed = packed[:10] + struct.pack("!H", arcount) + packed[12:] + opt
        return packed

    async def lookup(self, name: str, qtype: int) -> list[wire.RR]:
        """The answer records for ``name`` (for ExternalName targets); [] on failure."""
        query = bytes(dnslib.DNSRecord.question(name, dnslib.QTYPE.get(qtype)).pack())
        q = wire.read_question(query)
        reply = await self.forward(query, q, False)
        if len(reply) > 2 and reply[2] & 0x02:
            reply = await self.forward(query, q, True)
        try:
            rec = dnslib.DNSRecord.parse(reply)
        except dnslib.DNSError:
            return []
        return [raw_rr(rr) for rr in rec.rr]
