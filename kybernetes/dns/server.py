"""``kyb dns``: the cluster DNS addon put together.

An API client like any other component: informers on Namespaces, Services and
EndpointSlices feed ``records``; a change drops the packed answers that depend
on it; the UDP and TCP listeners answer from them and forward the rest. As
CoreDNS, it starts answering once the informers have synced, or after
``sync_timeout`` without them (name errors are SERVFAIL until then), and
reports ready on ``/ready`` once synced.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

from kybernetes.api import registry
from kybernetes.client import informer, rest
from kybernetes.dns import answers, forwarding, health, lookup, records, serving

log = logging.getLogger(__name__)

NAMESPACES = registry.lookup("", "v1", "namespaces")
SERVICES = registry.lookup("", "v1", "services")
ENDPOINT_SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")


@dataclass
class Settings:
    bind: str = "0.0.0.0"
    port: int = 53
    cluster_domain: str = "cluster.local"
    upstreams: list[tuple[str, int]] = field(default_factory=list)
    ttl: int = 5  # the kubernetes plugin's default
    cache_max_ttl: int = 30  # the default Corefile's "cache 30"
    upstream_timeout: float = 2.0
    health_bind: str = "0.0.0.0"
    health_port: int = 8080
    ready_port: int = 8181
    sync_timeout: float = 5.0


class DNSServer:
    def __init__(self, client: rest.Client, settings: Settings):
        self.client = client
        self.settings = settings
        self.packed = answers.PackedAnswers()
        self.records = records.Records(on_change=self.packed.invalidate)
        self.zone = lookup.Zone(self.records, settings.cluster_domain, ttl=settings.ttl)
        upstreams = settings.upstreams or forwarding.resolv_conf_nameservers()
        self.forwarder = forwarding.Forwarder(upstreams, timeout=settings.upstream_timeout,
                                              max_ttl=settings.cache_max_ttl)
        self.handler = serving.Handler(self.zone, self.packed, self.forwarder)
        self.serving = asyncio.Event()  # the listeners are bound (``port`` is known)
        self.ready = asyncio.Event()  # synced and serving
        self.port = settings.port
        self.health: health.Endpoints | None = None

    def _informers(self, factory: informer.SharedInformerFactory) -> list[informer.Informer]:
        r = self.records
        ns = factory.informer(NAMESPACES)
        ns.add_event_handler(r.namespace_added, r.namespace_updated, r.namespace_deleted)
        svc = factory.informer(SERVICES)
        svc.add_event_handler(r.service_added, r.service_updated, r.service_deleted)
        eps = factory.informer(ENDPOINT_SLICES)
        eps.add_event_handler(r.slice_added, r.slice_updated, r.slice_deleted)
        return [ns, svc, eps]

    async def _bind(self) -> tuple[asyncio.DatagramTransport, serving.UDPServer, asyncio.Server]:
        """UDP and TCP on the same port (a free one for port 0)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.settings.bind else socket.AF_INET
        for attempt in range(20):
            udp = serving.UDPServer(self.handler)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: udp, local_addr=(self.settings.bind, self.settings.port), family=family)
            port = transport.get_extra_info("sockname")[1]
            try:
                tcp = await asyncio.start_server(serving.tcp_client(self.handler), self.settings.bind, port,
                                                 family=family, reuse_address=True)
            except OSError:
                transport.close()
                if self.settings.port != 0 or attempt == 19:
                    raise
                continue
            self.port = port
            return transport, udp, tcp
        raise OSError("no free port")

    async def run(self) -> None:
        """Serve until cancelled."""
        s = self.settings
        self.health = health.Endpoints(s.health_bind, s.health_port, s.ready_port, self.ready)
        async with informer.SharedInformerFactory(self.client) as factory:
            informers = self._informers(factory)
            factory.start()
            if not await factory.wait_for_sync(s.sync_timeout):
                log.warning("starting with unsynced Kubernetes API")
            transport, udp, tcp = await self._bind()
            try:
                await self.health.start()
                self.serving.set()
                log.info("dns: serving %s on %s:%d (udp, tcp), forwarding to %s", s.cluster_domain,
                         s.bind, self.port, self.forwarder.upstreams)
                await asyncio.gather(*(inf.has_synced.wait() for inf in informers))
                self.zone.synced = True
                self.packed.clear()
                self.ready.set()
                await asyncio.Event().wait()
            finally:
                udp.close()
                tcp.close()
                await tcp.wait_closed()
                await self.health.stop()
