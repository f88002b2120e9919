"""The websocket channel protocols (k8s.io/apimachinery wsstream).

Every message is one channel's data: binary protocols put the channel number
in the first byte; the ``base64.`` forms send text whose first character is
the channel digit and the rest base64. ``v5.channel.k8s.io`` adds channel
255, "close": ``[255, n]`` half-closes channel ``n`` (kubectl uses it to end
stdin). Exec/attach use channels 0 stdin, 1 stdout, 2 stderr, 3 error,
4 resize; port-forward uses a pair per port (data 2i, error 2i+1).
"""

from __future__ import annotations

import base64

from aiohttp import WSMsgType, web

V5, V4, V4_BASE64 = "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"
V1, V1_BASE64 = "channel.k8s.io", "base64.channel.k8s.io"
EXEC_PROTOCOLS = [V5, V4, V4_BASE64, V1, V1_BASE64]
PORTFORWARD_PROTOCOLS = [V4, V4_BASE64]
CLOSE_CHANNEL = 255


def version(protocol: str | None) -> int:
    if protocol and protocol.startswith("v5."):
        return 5
    if protocol and protocol.startswith("v4."):
        return 4
    return 1


class ChannelSocket:
    """A prepared websocket speaking one channel protocol."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.protocol = ws.ws_protocol or ""
        self.base64 = "base64" in self.protocol
        self.version = version(self.protocol)

    async def send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            raise ConnectionResetError("websocket closed")
        if self.base64:
            await self.ws.send_str(str(channel) + base64.b64encode(data).decode())
        else:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def messages(self):
        """(channel, data) pairs; (CLOSE_CHANNEL, bytes([n])) for a v5 close."""
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY and not self.base64:
                if msg.data:
                    yield msg.data[0], bytes(msg.data[1:])
            elif msg.type == WSMsgType.TEXT and self.base64:
                if msg.data:
                    try:
                        yield int(msg.data[0]), base64.b64decode(msg.data[1:])
                    except ValueError:
                        continue
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break


async def accept(request: web.Request, protocols: list[str]) -> ChannelSocket:
    ws = web.WebSocketResponse(protocols=protocols, max_msg_size=0, autoping=True)
    await ws.prepare(request)
    return ChannelSocket(ws)
