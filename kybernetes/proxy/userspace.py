"""The userspace proxier (`--proxy-mode userspace`): an asyncio TCP/UDP proxy on the service IPs.

For machines where neither iptables nor nftables can be used, as kube-proxy's
old userspace mode (pkg/proxy/userspace). Each cluster IP is added as a /32
to `lo` *inside the node host* (never the machine's own namespace), labelled
`lo:kubesvc` so that a restarted proxier finds its own addresses (kernels
without the dummy link type are common in VMs), and pods' packets to it are
delivered locally there; a socket bound
to ip:port in that namespace (kybernetes.network.sockets) accepts them and
relays each TCP connection, or each UDP client's datagrams, to a ready
endpoint, connected from the node host as well. Endpoints are picked round
robin; with sessionAffinity ClientIP a client keeps its endpoint until it has
been idle for the affinity timeout. NodePorts listen on 0.0.0.0:<nodePort>.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import socket
import time

from kybernetes.network import sockets
from kybernetes.proxy import hosts, services
from kybernetes.proxy.services import Endpoint, ProxyState, ServicePort, ServicePortName

log = logging.getLogger(__name__)

LINK, LABEL = "lo", "lo:kubesvc"
UDP_IDLE_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0


@dataclasses.dataclass
class Balancer:
    """Endpoint choice for one service port: round robin, optional client-IP affinity."""

    endpoints: list[Endpoint] = dataclasses.field(default_factory=list)
    affinity_seconds: int = 0
    _next: itertools.count = dataclasses.field(default_factory=itertools.count)
    _affinity: dict[str, tuple[Endpoint, float]] = dataclasses.field(default_factory=dict)

    def update(self, endpoints: list[Endpoint], affinity_seconds: int) -> None:
        self.endpoints, self.affinity_seconds = endpoints, affinity_seconds
        alive = {str(ep) for ep in endpoints}
        self._affinity = {c: v for c, v in self._affinity.items() if str(v[0]) in alive}

    def pick(self, client_ip: str, now: float | None = None) -> Endpoint | None:
        if not self.endpoints:
            return None
        now = time.monotonic() if now is None else now
        if self.affinity_seconds:
            held = self._affinity.get(client_ip)
            if held is not None and now - held[1] < self.affinity_seconds:
                self._affinity[client_ip] = (held[0], now)
                return held[0]
        ep = self.endpoints[next(self._next) % len(self.endpoints)]
        if self.affinity_seconds:
            self._affinity[client_ip] = (ep, now)
        return ep


class _UdpRelay(asyncio.DatagramProtocol):
    """The service's UDP socket: one backend socket per client, replies sent back."""

    def __init__(self, proxier: UserspaceProxier, balancer: Balancer) -> None:
        self.proxier, self.balancer = proxier, balancer
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple, tuple[asyncio.DatagramTransport, float]] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        held = self.clients.get(addr)
        if held is not None:
            held[0].sendto(data)
            self.clients[addr] = (held[0], time.monotonic())
            return
        ep = self.balancer.pick(addr[0])
        if ep is not None:
            task = asyncio.ensure_future(self._open(addr, ep, data))
            self.proxier._tasks.add(task)
            task.add_done_callback(self.proxier._tasks.discard)

    async def _open(self, addr, ep: Endpoint, first: bytes) -> None:
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data, _from) -> None:
                if relay.transport is not None:
                    relay.transport.sendto(data, addr)

        sock = sockets.socket_in_netns(self.proxier.netns.path, socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect((ep.ip, ep.port))
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Back, sock=sock)
        self.clients[addr] = (transport, time.monotonic())
        transport.sendto(first)

    def expire(self, now: float) -> None:
        for addr, (transport, last) in list(self.clients.items()):
            if now - last > UDP_IDLE_TIMEOUT:
                transport.close()
                del self.clients[addr]

    def close(self) -> None:
        for transport, _ in self.clients.values():
            transport.close()
        self.clients.clear()
        if self.transport is not None:
            self.transport.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class UserspaceProxier:
    mode = "userspace"

    def __init__(self, netns: hosts.NodeHostNetns, *, node_ips: list[str] | None = None, **_: object) -> None:
        self.netns = netns
        self.node_ips = list(node_ips or [])
        self._balancers: dict[ServicePortName, Balancer] = {}
        self._listeners: dict[tuple[str, str, int], object] = {}  # (proto, ip, port) → server or relay
        self._addresses: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._link_ready = False

    async def _ensure_link(self) -> None:
        """Adopt addresses a previous run left (found by their label)."""
        if not self._link_ready:
            out = await self.netns.run("ip", "-o", "-4", "address", "show", "dev", LINK, "label", LABEL)
            self._addresses = {line.split()[3].split("/")[0] for line in out.splitlines() if line.strip()}
            self._link_ready = True

    async def sync(self, state: ProxyState, full: bool = False) -> None:
        await self._ensure_link()
        wanted: dict[tuple[str, str, int], ServicePortName] = {}
        for key, svc in state.services.items():
            eps = services.categorize(state.endpoints_of(key), svc)
            usable = eps.local if svc.internal_local else eps.cluster
            self._balancers.setdefault(key, Balancer()).update(usable, svc.affinity_seconds)
            wanted[(svc.proto, svc.cluster_ip, svc.port)] = key
            if svc.node_port:
                wanted[(svc.proto, "0.0.0.0", svc.node_port)] = key
        addresses = {ip for _, ip, _ in wanted if ip != "0.0.0.0"}
        for ip in sorted(addresses - self._addresses):
            await self.netns.run("ip", "address", "replace", f"{ip}/32", "dev", LINK, "label", LABEL)
        self._addresses |= addresses
        for listener_key in list(self._listeners):
            if listener_key not in wanted:
                self._close(self._listeners.pop(listener_key))
        for listener_key, key in wanted.items():
            if listener_key not in self._listeners:
                try:
                    self._listeners[listener_key] = await self._listen(listener_key, self._balancers[key])
                except OSError as e:
                    log.warning("userspace proxy: cannot listen on %s: %s", listener_key, e)
        for ip in sorted(self._addresses - addresses):
            await self.netns.run("ip", "address", "del", f"{ip}/32", "dev", LINK, check=False)
        self._addresses &= addresses
        for key in set(self._balancers) - set(state.services):
            del self._balancers[key]
        now = time.monotonic()
        for listener in self._listeners.values():
            if isinstance(listener, _UdpRelay):
                listener.expire(now)

    async def _listen(self, listener_key: tuple[str, str, int], balancer: Balancer) -> object:
        proto, ip, port = listener_key
        if proto == "udp":
            def make() -> socket.socket:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((ip, port))
                s.setblocking(False)
                return s
            sock = sockets.run_in_netns(self.netns.path, make)
            relay = _UdpRelay(self, balancer)
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: relay, sock=sock)
            return relay
        if proto != "tcp":
            raise OSError(f"protocol {proto} is not proxied in userspace mode")
        sock = sockets.listen_in_netns(self.netns.path, ip, port)
        return await asyncio.start_server(lambda r, w: self._serve(r, w, balancer), sock=sock)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, balancer: Balancer) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        upstream = None
        try:
            for _ in range(max(1, len(balancer.endpoints))):
                ep = balancer.pick(peer[0])
                if ep is None:
                    break
                try:
                    upstream = await sockets.open_connection_in_netns(self.netns.path, ep.ip, ep.port,
                                                                      timeout=CONNECT_TIMEOUT)
                    break
                except (OSError, TimeoutError) as e:
                    log.info("userspace proxy: %s unreachable: %s", ep, e)
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()

    def _close(self, listener: object) -> None:
        listener.close()

    async def cleanup(self) -> None:
        for listener in self._listeners.values():
            self._close(listener)
        for listener in self._listeners.values():
            if isinstance(listener, asyncio.Server):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.wait_closed(), 1)
        self._listeners.clear()
        for task in list(self._tasks):
            task.cancel()
        await self._ensure_link()
        for ip in sorted(self._addresses):
            await self.netns.run("ip", "address", "del", f"{ip}/32", "dev", LINK, check=False)
        self._addresses.clear()
        self._link_ready = False
