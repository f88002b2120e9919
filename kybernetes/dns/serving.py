"""The DNS listeners: UDP (an asyncio DatagramProtocol) and TCP (two-byte
length framing, several queries per connection), both answering through one
``Handler``.

The hot path of a cluster name is a dictionary hit: read the question bytes,
look up the packed answer for (lowercased name, type), splice the query's ID,
flags and question into it and send. Everything else (a first query for a
name, names forwarded upstream, ExternalName targets) takes the slow path.
UDP answers are cut to 512 bytes, or to the client's EDNS0 payload size, with
TC set when records had to be left out; TCP answers are complete.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from kybernetes.dns import answers, forwarding, lookup, wire

log = logging.getLogger(__name__)

MAX_PENDING = 1000  # slow-path UDP queries in flight; more are dropped (the client retries)
TCP_IDLE_TIMEOUT = 10.0  # seconds, as CoreDNS's default idle timeout for TCP
MAX_CHASE = 8  # CNAME hops, as CoreDNS


class Handler:
    def __init__(self, zone: lookup.Zone, packed: answers.PackedAnswers, forwarder: forwarding.Forwarder):
        self.zone = zone
        self.packed = packed
        self.forwarder = forwarder

    def local(self, data: bytes, q: wire.Question, limit: int) -> bytes | None:
        """The reply when it needs no I/O; None when it must go upstream."""
        if q.edns_size is not None and q.edns_version != 0:
            # RFC 6891: BADVERS (extended rcode 16: 1 in the OPT record, 0 in the header).
            return wire.error_reply(data, 0, wire.opt_record(q.edns_size, q.edns_do, ext_rcode=1))
        if q.qclass != wire.CLASS_IN:
            return None
        t = self.packed.get(q.key)
        if t is None:
            name = wire.qname_of(q.key)
            result = self.zone.lookup(name, q.qtype)
            if not isinstance(result, lookup.Answer):
                return None
            t = wire.template(name, result.rcode, result.answer, result.authority, result.additional,
                              aa=result.aa)
            if result.deps is not None:
                self.packed.put(q.key, t, result.deps)
        return wire.reply(data, q, t, limit)

    async def remote(self, data: bytes, q: wire.Question, tcp: bool) -> bytes:
        """The reply to a query ``local`` could not answer."""
        name = wire.qname_of(q.key)
        result = self.zone.lookup(name, q.qtype) if q.qclass == wire.CLASS_IN else lookup.FORWARD
        if isinstance(result, lookup.Chase):
            rrs = await self._chase(result, 0)
            if rrs:
                t = wire.template(name, wire.NOERROR, rrs)
            else:
                t = wire.template(name, wire.NOERROR, [], [self.zone.soa(self.zone.domain)])
            return wire.reply(data, q, t, wire.MAX_MSG_SIZE if tcp else q.edns_size or wire.MIN_UDP_SIZE)
        if isinstance(result, lookup.Answer):  # the data changed meanwhile
            return self.local(data, q, wire.MAX_MSG_SIZE if tcp else q.edns_size or wire.MIN_UDP_SIZE) \
                or wire.error_reply(data, wire.SERVFAIL)
        return await self.forwarder.forward(data, q, tcp)

    async def _chase(self, c: lookup.Chase, depth: int) -> list[wire.RR]:
        """CoreDNS's CNAME handling of an ExternalName: the CNAME and the target's
        records; just the CNAME when the target cannot be resolved."""
        if not self.zone.in_zone(c.target):
            return [c.cname, *await self.forwarder.lookup(c.target, c.qtype)]
        r = self.zone.lookup(c.target, c.qtype)
        if isinstance(r, lookup.Chase) and depth < MAX_CHASE:
            more = await self._chase(r, depth + 1)
            return [c.cname, *more] if more else []
        if isinstance(r, lookup.Answer) and r.rcode == wire.NOERROR:
            return [c.cname, *r.answer] if r.answer else []
        return [c.cname]


class UDPServer(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler):
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            q = wire.read_question(data)
        except (wire.FormatError, IndexError):
            if len(data) >= 12 and not data[2] & 0x80:
                self.transport.sendto(wire.error_reply(data, wire.FORMERR), addr)
            return
        if data[2] & 0xF8:  # a reply, or an opcode other than QUERY
            if not data[2] & 0x80:
                self.transport.sendto(wire.error_reply(data, wire.NOTIMP), addr)
            return
        t = self.handler.packed.entries.get(q.key)
        if t is not None and q.edns_size is None and t.size <= wire.MIN_UDP_SIZE:
            # The hot path, inlined: a packed answer that fits without EDNS.
            self.transport.sendto(b"".join((data[:2], t.flags[(data[2] & 1) | ((data[3] & 0x10) >> 3)],
                                            t.counts, data[12:q.end], t.body)), addr)
            return
        try:
            reply = self.handler.local(data, q, q.edns_size or wire.MIN_UDP_SIZE)
        except Exception:
            log.exception("answering %s failed", wire.qname_of(q.key))
            reply = wire.error_reply(data, wire.SERVFAIL)
        if reply is not None:
            self.transport.sendto(reply, addr)
        elif len(self._pending) < MAX_PENDING:
            task = asyncio.get_running_loop().create_task(self._remote(data, q, addr))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _remote(self, data: bytes, q: wire.Question, addr) -> None:
        try:
            reply = await self.handler.remote(data, q, False)
        except Exception:
            log.exception("answering %s failed", wire.qname_of(q.key))
            reply = wire.error_reply(data, wire.SERVFAIL)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: %s", exc)

    def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self.transport is not None:
            self.transport.close()


async def answer_tcp(handler: Handler, data: bytes) -> bytes:
    try:
        q = wire.read_question(data)
    except (wire.FormatError, IndexError):
        return wire.error_reply(data, wire.FORMERR)
    if data[2] & 0xF8:
        return wire.error_reply(data, wire.NOTIMP)
    try:
        return handler.local(data, q, wire.MAX_MSG_SIZE) or await handler.remote(data, q, True)
    except Exception:
        log.exception("answering %s failed", wire.qname_of(q.key))
        return wire.error_reply(data, wire.SERVFAIL)


def tcp_client(handler: Handler):
    """The connection handler of ``asyncio.start_server``."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    n = struct.unpack("!H", await reader.readexactly(2))[0]
                    data = await reader.readexactly(n)
                reply = await answer_tcp(handler, data)
                if reply:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
    return serve
