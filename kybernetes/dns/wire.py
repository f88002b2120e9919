"""The DNS wire format on the hot path: reading a query's question without
building objects, and packing answers once into reusable templates.

A response to a query is ``header + the query's own question + body``: the
body is packed once per (name, type) against a question of that name's length,
so the same bytes serve every later query for the name, whatever its case or
ID. Names are compressed only backwards (pointers into the question or into
earlier records), so cutting the body after any record leaves a valid message:
that is how answers too large for the client's UDP payload are truncated, as
miekg/dns's ``Msg.Truncate`` does for CoreDNS (records are dropped from the end,
TC is set if any was dropped).

dnslib handles the slow paths (forwarded answers, tests); this module packs the
record types the cluster zone answers with.
"""

from __future__ import annotations

import bisect
import ipaddress
import struct
from dataclasses import dataclass, field

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, IXFR, AXFR = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 251, 252
CLASS_IN = 1

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16

MIN_UDP_SIZE = 512  # RFC 1035; RFC 6891: an advertised payload below it counts as 512
MAX_MSG_SIZE = 65535

_U16 = struct.Struct("!H")


class FormatError(Exception):
    """The message is not a DNS query this server can read."""


@dataclass(frozen=True, slots=True)
class Question:
    """What the hot path needs of a query: ``key`` is the lowercased wire name
    plus the raw type and class; ``end`` is where the question ends."""
    key: bytes
    end: int
    qtype: int
    qclass: int
    edns_size: int | None  # None: no OPT record
    edns_do: bool
    edns_version: int


def read_question(data: bytes) -> Question:
    """The question of a standard query (one question, no answer or authority
    records, at most one additional record: an OPT); FormatError otherwise."""
    if len(data) < 17 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        raise FormatError("not one question")
    i = 12
    n = len(data)
    while True:
        length = data[i]
        if length == 0:
            break
        if length > 63:
            raise FormatError("compressed or bad label in question")
        i += length + 1
        if i >= n:
            raise FormatError("short question")
    end = i + 5
    if end > n:
        raise FormatError("short question")
    key = data[12:i + 1].lower() + data[i + 1:end]
    qtype, qclass = data[i + 1] << 8 | data[i + 2], data[i + 3] << 8 | data[i + 4]
    arcount = data[10] << 8 | data[11]
    if arcount == 0:
        return Question(key, end, qtype, qclass, None, False, 0)
    # An OPT record: root name, type 41, payload size, extended rcode, version, flags.
    if arcount != 1 or n < end + 11 or data[end] != 0 or data[end + 1:end + 3] != b"\x00\x29":
        raise FormatError("unexpected additional records")
    size = data[end + 3] << 8 | data[end + 4]
    return Question(key, end, qtype, qclass, max(size, MIN_UDP_SIZE), bool(data[end + 7] & 0x80),
                    data[end + 6])


def qname_of(key: bytes) -> str:
    """The dotted, lowercased name of a question key (without the trailing dot)."""
    labels, i = [], 0
    while key[i]:
        labels.append(key[i + 1:i + 1 + key[i]].decode("ascii", "backslashreplace"))
        i += key[i] + 1
    return ".".join(labels)


def opt_record(size: int, do: bool, ext_rcode: int = 0) -> bytes:
    """The OPT record of a reply: CoreDNS echoes the client's payload size and DO bit."""
    return b"\x00\x00\x29" + _U16.pack(size) + bytes((ext_rcode, 0, 0x80 if do else 0, 0, 0, 0))


# --- packing ---

def _labels(name: str) -> list[str]:
    return [lab for lab in name.rstrip(".").split(".") if lab] if name not in ("", ".") else []


@dataclass(frozen=True, slots=True)
class RR:
    """One resource record to pack: ``data`` is what the type needs (an address,
    a name, a tuple for SRV and SOA, strings for TXT, or raw rdata bytes with
    ``raw`` set)."""
    name: str
    rtype: int
    ttl: int
    data: object
    raw: bool = False


class _Packer:
    """Packs records after a question of ``qname``, compressing names backwards."""

    def __init__(self, qname: str):
        self.buf = bytearray()
        self.names: dict[tuple[str, ...], int] = {}
        self._register(_labels(qname.lower()), 12)
        self.base = 12 + sum(len(lab) + 1 for lab in _labels(qname)) + 1 + 4

    def _register(self, labels: list[str], offset: int) -> None:
        for i in range(len(labels)):
            key = tuple(labels[i:])
            if key in self.names:
                return
            if offset > 0x3FFF:
                return
            self.names[key] = offset
            offset += len(labels[i].encode()) + 1

    def name(self, name: str, compress: bool = True) -> None:
        labels = _labels(name)
        lower = [lab.lower() for lab in labels]
        start = self.base + len(self.buf)
        for i in range(len(labels)):
            ptr = self.names.get(tuple(lower[i:])) if compress else None
            if ptr is not None:
                self._register(lower[:i], start)
                self.buf += _U16.pack(0xC000 | ptr)
                return
            raw = labels[i].encode()
            if not 0 < len(raw) < 64:
                raise ValueError(f"bad label in {name!r}")
            self.buf.append(len(raw))
            self.buf += raw
        self.buf.append(0)
        self._register(lower, start)

    def rr(self, rr: RR) -> None:
        self.name(rr.name)
        self.buf += struct.pack("!HHI", rr.rtype, CLASS_IN, rr.ttl)
        at = len(self.buf)
        self.buf += b"\x00\x00"
        self._rdata(rr)
        self.buf[at:at + 2] = _U16.pack(len(self.buf) - at - 2)

    def _rdata(self, rr: RR) -> None:
        t, d = rr.rtype, rr.data
        if rr.raw:
            self.buf += d
        elif t == A or t == AAAA:
            self.buf += ipaddress.ip_address(d).packed
        elif t in (CNAME, PTR, NS):
            self.name(d)
        elif t == SRV:
            priority, weight, port, target = d
            self.buf += struct.pack("!HHH", priority, weight, port)
            self.name(target, compress=False)  # RFC 2782: no compression of the target
        elif t == SOA:
            mname, rname, serial, refresh, retry, expire, minimum = d
            self.name(mname)
            self.name(rname)
            self.buf += struct.pack("!IIIII", serial, refresh, retry, expire, minimum)
        elif t == TXT:
            for s in d:
                raw = s.encode()
                self.buf.append(len(raw))
                self.buf += raw
        else:
            raise ValueError(f"cannot pack type {t}")


@dataclass(slots=True)
class Template:
    """A packed reply for one (name, type), ready to be sent to any asker.

    ``flags[rd | cd]`` are the two header flag bytes; ``counts`` the four
    section counts; ``body`` the records after the question; ``ends`` the end
    offsets of the records in the body with the section of each, for truncation.
    """
    flags: tuple[bytes, bytes, bytes, bytes]
    counts: bytes
    counts_edns: bytes
    body: bytes
    size: int  # of the whole reply without OPT
    rcode: int
    ends: list[int] = field(default_factory=list)
    sections: list[int] = field(default_factory=list)
    _cuts: dict[int, tuple[bytes, bytes, bool]] = field(default_factory=dict)

    def cut(self, limit: int, edns: bool) -> tuple[bytes, bytes, bool]:
        """``(counts, body, truncated)`` for a reply of at most ``limit`` bytes
        (the OPT record, if any, included)."""
        got = self._cuts.get(limit * 2 + edns)
        if got is None:
            room = limit - (self.size - len(self.body)) - (11 if edns else 0)
            n = bisect.bisect_right(self.ends, room)
            body = self.body[:self.ends[n - 1]] if n else b""
            kept = [self.sections[:n].count(s) for s in range(3)]
            counts = struct.pack("!HHHH", 1, kept[0], kept[1], kept[2] + (1 if edns else 0))
            got = (counts, body, n < len(self.ends))
            if len(self._cuts) < 64:
                self._cuts[limit * 2 + edns] = got
        return got


def _flag_bytes(rcode: int, aa: bool, ra: bool, tc: bool = False) -> tuple[bytes, bytes, bytes, bytes]:
    hi = 0x80 | (0x04 if aa else 0) | (0x02 if tc else 0)
    lo = (0x80 if ra else 0) | (rcode & 0x0F)
    return tuple(bytes((hi | (i & 1), lo | (0x10 if i & 2 else 0))) for i in range(4))  # type: ignore[return-value]


def template(qname: str, rcode: int, answer: list[RR], authority: list[RR] = (),
             additional: list[RR] = (), *, aa: bool = True, ra: bool = False) -> Template:
    """Pack a reply to a question for ``qname``."""
    p = _Packer(qname)
    ends, sections = [], []
    for section, rrs in enumerate((answer, authority, additional)):
        for rr in rrs:
            p.rr(rr)
            ends.append(len(p.buf))
            sections.append(section)
    body = bytes(p.buf)
    counts = struct.pack("!HHHH", 1, len(answer), len(authority), len(additional))
    counts_edns = struct.pack("!HHHH", 1, len(answer), len(authority), len(additional) + 1)
    return Template(_flag_bytes(rcode, aa, ra), counts, counts_edns, body, p.base + len(body), rcode,
                    ends, sections)


def reply(data: bytes, q: Question, t: Template, limit: int) -> bytes:
    """The reply to the query ``data`` from template ``t``, at most ``limit`` bytes."""
    flags = t.flags[(data[2] & 1) | ((data[3] & 0x10) >> 3)]
    if q.edns_size is None:
        if t.size <= limit:
            return b"".join((data[:2], flags, t.counts, data[12:q.end], t.body))
        counts, body, tc = t.cut(limit, False)
        opt = b""
    else:
        opt = opt_record(q.edns_size, q.edns_do)
        if t.size + 11 <= limit:
            return b"".join((data[:2], flags, t.counts_edns, data[12:q.end], t.body, opt))
        counts, body, tc = t.cut(limit, True)
    if tc:
        flags = bytes((flags[0] | 0x02, flags[1]))
    return b"".join((data[:2], flags, counts, data[12:q.end], body, opt))


def error_reply(data: bytes, rcode: int, opt: bytes = b"") -> bytes:
    """A reply with ``rcode`` and no records but ``opt`` (echoing the question
    when it can be read)."""
    if len(data) < 12:
        return b""
    hi = 0x80 | (data[2] & 0x79)  # QR, the opcode and RD of the query
    lo = data[3] & 0x10 | (rcode & 0x0F)
    try:
        q = read_question(data)
        question = data[12:q.end]
        qd = 1
    except (FormatError, IndexError):
        question, qd = b"", 0
    return data[:2] + bytes((hi, lo)) + struct.pack("!HHHH", qd, 0, 0, 1 if opt else 0) + question + opt
