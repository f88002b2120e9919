"""SPDY/3.1 framing and sessions against each other (no network)."""

from __future__ import annotations

import asyncio
import struct
import zlib

from kybernetes.kubelet.streams import spdy


def test_dictionary_is_spdy3():
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2  # the dictionary id in every SPDY/3 zlib header


def test_header_blocks_share_one_compression_context():
    out, inn = spdy.HeaderCodec(), spdy.HeaderCodec()
    a = out.encode({"streamType": "stdout", "port": ["80", "81"]})
    b = out.encode({"streamType": "stderr"})
    assert inn.decode(a) == {"streamtype": ["stdout"], "port": ["80", "81"]}
    assert inn.decode(b) == {"streamtype": ["stderr"]}


def test_frames_parse_incrementally():
    codec = spdy.HeaderCodec()
    wire = spdy.data(3, b"hello", fin=True) + spdy.control(spdy.PING, 0, struct.pack(">I", 7))
    reader = spdy.FrameReader(codec)
    frames = []
    for i in range(len(wire)):
        frames += reader.feed(wire[i:i + 1])
    assert [(f.kind, f.stream_id, f.payload, f.fin) for f in frames][0] == (0, 3, b"hello", True)
    assert frames[1].kind == spdy.PING and frames[1].status == 7


async def test_sessions_open_streams_and_exchange_data():
    a_to_b: asyncio.Queue = asyncio.Queue()
    b_to_a: asyncio.Queue = asyncio.Queue()
    accepted: asyncio.Queue = asyncio.Queue()

    async def send_a(b: bytes):
        a_to_b.put_nowait(b)

    async def send_b(b: bytes):
        b_to_a.put_nowait(b)

    client = spdy.Session(send_a, server=False)
    server = spdy.Session(send_b, server=True, on_stream=accepted.put_nowait)

    async def pipe(q, session):
        while True:
            session.feed(await q.get())

    tasks = [asyncio.create_task(pipe(a_to_b, server)), asyncio.create_task(pipe(b_to_a, client))]
    try:
        async def accept():
            s = await accepted.get()
            await server.reply(s)
            return s
        acc = asyncio.create_task(accept())
        cs = await asyncio.wait_for(client.open_stream({"streamType": "stdin"}), 5)
        ss = await acc
        assert ss.header("streamtype") == "stdin" and cs.id == 1
        await cs.write(b"x" * 100_000)  # more than one 64 KiB window: spdystream has no flow control
        await cs.close()
        got = b""
        while chunk := await asyncio.wait_for(ss.read(), 5):
            got += chunk
        assert got == b"x" * 100_000
        await ss.write(b"back")
        assert await asyncio.wait_for(cs.read(), 5) == b"back"
        # PING from the client is echoed by the server
        await client.ping(1)
        await ss.send_reset()
        assert await asyncio.wait_for(cs.read(), 5) == b""
    finally:
        for t in tasks:
            t.cancel()
