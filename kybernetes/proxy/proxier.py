"""kube-proxy's sync loop: informers on Services and EndpointSlices feeding one Proxier.

As kube-proxy's BoundedFrequencyRunner: informer handlers only mark the state
dirty; one loop recomputes the whole state from the caches and hands it to
the proxier, at most once per `min_sync_period` (1 s, coalescing bursts of
events into one sync), and does a full resync every `sync_period` (1 h) even
without events. A failed sync is retried after `min_sync_period`, as a full
one. The time from the first event of a batch to its rules being applied is
kept, as kube-proxy's network_programming_duration_seconds.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Protocol

from kybernetes.api import registry
from kybernetes.client import informer, rest
from kybernetes.proxy import hosts, iptables, nftables, services, userspace
from kybernetes.proxy.services import ProxyState

log = logging.getLogger(__name__)

SERVICES = registry.lookup("", "v1", "services")
ENDPOINT_SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")
MODES = ("iptables", "nftables", "userspace")
MIN_SYNC_PERIOD = 1.0
SYNC_PERIOD = 3600.0


class Proxier(Protocol):
    """One data plane: turns the whole state into rules (or listeners)."""

    mode: str

    async def sync(self, state: ProxyState, full: bool = False) -> None: ...

    async def cleanup(self) -> None: ...


def make_proxier(mode: str, netns: hosts.NodeHostNetns, *, cluster_cidr: str, node_ips: list[str],
                 masquerade_all: bool = False) -> Proxier:
    if mode == "iptables":
        return iptables.IptablesProxier(netns, cluster_cidr=cluster_cidr, node_ips=node_ips,
                                        masquerade_all=masquerade_all)
    if mode == "nftables":
        return nftables.NftablesProxier(netns, cluster_cidr=cluster_cidr, node_ips=node_ips,
                                        masquerade_all=masquerade_all)
    if mode == "userspace":
        return userspace.UserspaceProxier(netns, node_ips=node_ips)
    raise ValueError(f"unknown proxy mode {mode!r}; choose one of {', '.join(MODES)}")


class SyncRunner:
    """Coalesces change notifications into syncs of `proxier`."""

    def __init__(self, proxier: Proxier, *, node_name: str, min_sync_period: float = MIN_SYNC_PERIOD,
                 sync_period: float = SYNC_PERIOD) -> None:
        self.proxier = proxier
        self.node_name = node_name
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.synced = asyncio.Event()  # set after the first successful sync
        self.syncs = 0
        self.programming_latencies: collections.deque[float] = collections.deque(maxlen=10000)
        self._builder = services.StateBuilder(node_name)
        self._dirty = asyncio.Event()
        self._pending_since: float | None = None
        self._applied = asyncio.Condition()
        self._last_start, self._last_ok = 0.0, False

    def changed(self, *_: object) -> None:
        """An informer handler: any change to a Service or EndpointSlice."""
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        self._dirty.set()

    def handler(self) -> dict:
        return {"on_add": self.changed, "on_update": self.changed, "on_delete": self.changed}

    async def wait_applied(self, since: float, timeout: float | None = None) -> None:
        """Wait until a sync that started after monotonic time `since` has completed."""
        async with asyncio.timeout(timeout):
            async with self._applied:
                await self._applied.wait_for(lambda: self._last_start >= since and self._last_ok)

    async def run(self, service_store, slice_store) -> None:
        """Sync until cancelled; the stores are the informers' indexers, synced."""
        last_full = last_sync = -float("inf")
        full = True
        while True:
            now = time.monotonic()
            if now - last_full >= self.sync_period:
                full = True
            if not full and not self._dirty.is_set():
                try:
                    async with asyncio.timeout(max(0.0, last_full + self.sync_period - now)):
                        await self._dirty.wait()
                except TimeoutError:
                    full = True
            wait = last_sync + self.min_sync_period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            pending, self._pending_since = self._pending_since, None
            started = last_sync = time.monotonic()
            state = self._builder.build(service_store.list(), slice_store.list())
            try:
                await self.proxier.sync(state, full=full)
            except Exception as e:
                log.warning("%s sync failed (%s); retrying as a full sync", self.proxier.mode, e)
                self._pending_since = pending if self._pending_since is None else min(pending or started,
                                                                                        self._pending_since)
                self._dirty.set()
                full = True
                async with self._applied:
                    self._last_start, self._last_ok = started, False
                continue
            done = time.monotonic()
            if full:
                last_full = started
            full = False
            self.syncs += 1
            if pending is not None:
                self.programming_latencies.append(done - pending)
            log.debug("%s sync of %d service ports took %.3fs", self.proxier.mode, len(state.services),
                      done - started)
            self.synced.set()
            async with self._applied:
                self._last_start, self._last_ok = started, True
                self._applied.notify_all()


def _proxied_slice(obj: dict) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return services.HEADLESS_LABEL not in labels and services.PROXY_NAME_LABEL not in labels


async def run_proxy(client: rest.Client, *, node_name: str, netns: str, mode: str = "iptables",
                    cluster_cidr: str = "10.244.0.0/16", node_ips: list[str] | None = None,
                    min_sync_period: float = MIN_SYNC_PERIOD, sync_period: float = SYNC_PERIOD,
                    ready: asyncio.Event | None = None, runner_out: list | None = None) -> None:
    """kube-proxy for one node until cancelled: its rules go into the node host
    namespace `netns` (a `<prefix>-...` name or /run/netns path; anything else,
    and above all the machine's own namespace, is refused). `ready` is set after
    the first sync; `runner_out`, if given, receives the SyncRunner (benchmarks)."""
    target = hosts.NodeHostNetns(netns)
    proxier = make_proxier(mode, target, cluster_cidr=cluster_cidr, node_ips=list(node_ips or []))
    runner = SyncRunner(proxier, node_name=node_name, min_sync_period=min_sync_period, sync_period=sync_period)
    if runner_out is not None:
        runner_out.append(runner)
    svc_informer = informer.Informer(client, SERVICES)
    slice_informer = informer.Informer(client, ENDPOINT_SLICES)
    svc_informer.add_event_handler(**runner.handler())
    slice_informer.add_event_handler(**runner.handler())

    class _Proxied:
        """The slice cache as kube-proxy's label selector would have filtered it."""

        @staticmethod
        def list() -> list[dict]:
            return [s for s in slice_informer.store.list() if _proxied_slice(s)]

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(svc_informer.run())
            tg.create_task(slice_informer.run())
            await svc_informer.has_synced.wait()
            await slice_informer.has_synced.wait()
            tg.create_task(runner.run(svc_informer.store, _Proxied))
            if ready is not None:
                await runner.synced.wait()
                ready.set()
    finally:
        if mode == "userspace":
            # Its listeners die with the process anyway; the addresses go with them.
            await asyncio.shield(proxier.cleanup())
