"""Node IPAM: every node gets a pod CIDR of its own, as kube-controller-manager's
nodeipam controller with the RangeAllocator.

The cluster CIDR (``Settings.cluster_cidr``, comma-separated for dual stack)
is cut into blocks of ``node_cidr_mask_size`` (IPv4; /64 for IPv6). At start
the blocks nodes already hold are marked used, so no block is handed out
twice; ``sync(node name)`` then gives a node without ``spec.podCIDRs`` the next
free block of each family (the search goes on from the last block handed
out, as upstream's CidrSet) and writes ``podCIDR`` and ``podCIDRs`` with a
patch. A node that goes away (or is being deleted) gives its blocks back.
When a range is exhausted the node gets a ``CIDRNotAvailable`` event.
"""

from __future__ import annotations

import ipaddress
import logging

from kybernetes.api import status
from kybernetes.client import controller
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

IPV6_MASK = 64
UPDATE_RETRIES = 3  # cidrUpdateRetries

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangeFull(Exception):
    """No block of the cluster CIDR is free."""


class CidrSet:
    """The blocks of one cluster CIDR, as upstream's cidrset: allocate, occupy, release."""

    def __init__(self, cluster_cidr: str, mask_size: int):
        self.network: Network = ipaddress.ip_network(cluster_cidr, strict=False)
        if mask_size < self.network.prefixlen or mask_size > self.network.max_prefixlen:
            raise ValueError(f"node CIDR mask /{mask_size} does not fit in {self.network}")
        self.mask_size = mask_size
        self.max_blocks = 1 << (mask_size - self.network.prefixlen)
        self._step = 1 << (self.network.max_prefixlen - mask_size)
        self._used: set[int] = set()
        self._next = 0

    def contains(self, cidr: Network) -> bool:
        return cidr.version == self.network.version and cidr.subnet_of(self.network)  # type: ignore[arg-type]

    def block(self, index: int) -> Network:
        base = int(self.network.network_address) + index * self._step
        return ipaddress.ip_network((base, self.mask_size))

    def _index(self, cidr: Network) -> int:
        return (int(cidr.network_address) - int(self.network.network_address)) // self._step

    def allocate_next(self) -> Network:
        for offset in range(self.max_blocks):
            index = (self._next + offset) % self.max_blocks
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.max_blocks
                return self.block(index)
        raise RangeFull(f"CIDR allocation failed; there are no remaining CIDRs left to allocate "
                        f"in the accepted range {self.network}")

    def occupy(self, cidr: Network) -> None:
        """Mark every block ``cidr`` overlaps as used."""
        first = max(self._index(cidr), 0)
        last = self._index(ipaddress.ip_network((int(cidr.broadcast_address), self.mask_size),
                                                strict=False))
        for index in range(first, min(last, self.max_blocks - 1) + 1):
            self._used.add(index)

    def release(self, cidr: Network) -> None:
        self._used.discard(self._index(cidr))

    def used(self) -> int:
        return len(self._used)


def parse(cidrs: list[str]) -> list[Network]:
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c, strict=False))
        except ValueError:
            log.warning("ignoring unparsable pod CIDR %r", c)
    return out


def node_cidrs(node: dict) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class NodeIpamController:
    name = "nodeipam"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.settings = ctx.settings
        self.recorder = ctx.recorder("cidrAllocator")
        self.nodes = ctx.informer("", "v1", "nodes")
        self.queue = ctx.queue("nodeipam")
        self.cidr_sets = []
        for i, cidr in enumerate(c.strip() for c in ctx.settings.cluster_cidr.split(",") if c.strip()):
            net = ipaddress.ip_network(cidr, strict=False)
            self.cidr_sets.append(CidrSet(cidr, ctx.settings.node_cidr_mask_size
                                          if net.version == 4 else max(IPV6_MASK, net.prefixlen)))
        # What this controller believes each node (name -> (uid, blocks)) holds, to give
        # the blocks back when the node goes.
        self.allocated: dict[str, tuple[str, list[Network]]] = {}
        self.nodes.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)

    def _enqueue(self, node: dict) -> None:
        self.queue.add(node["metadata"]["name"])

    def occupy_existing(self) -> None:
        """Mark the blocks of every node already known as used (before any allocation)."""
        for node in self.nodes.store.list():
            self._occupy(node, parse(node_cidrs(node)))

    def _occupy(self, node: dict, cidrs: list[Network]) -> None:
        if not cidrs:
            return
        for cidr in cidrs:
            for s in self.cidr_sets:
                if s.contains(cidr):
                    s.occupy(cidr)
        self.allocated[node["metadata"]["name"]] = (node["metadata"].get("uid", ""), cidrs)

    def _release(self, name: str) -> None:
        for cidr in self.allocated.pop(name, ("", []))[1]:
            for s in self.cidr_sets:
                if s.contains(cidr):
                    s.release(cidr)

    async def run(self) -> None:
        if not self.settings.allocate_node_cidrs:
            return
        self.occupy_existing()
        await controller.run_workers(self.queue, self.sync, self.settings.workers, self.name, shutdown=True)

    async def sync(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None or node["metadata"].get("deletionTimestamp"):
            self._release(key)
            return
        uid = node["metadata"].get("uid", "")
        held = self.allocated.get(key)
        if held is not None and held[0] != uid:  # deleted and made again meanwhile
            self._release(key)
            held = None
        existing = parse(node_cidrs(node))
        if existing:
            if held is None or held[1] != existing:
                self._release(key)
                self._occupy(node, existing)
            return
        if held is not None:  # our patch is on its way; don't hand out a second block
            return
        cidrs = []
        try:
            for s in self.cidr_sets:
                cidrs.append(s.allocate_next())
        except RangeFull as e:
            for done, s in zip(cidrs, self.cidr_sets):
                s.release(done)
            # upstream's RecordNodeStatusChange(..., "CIDRNotAvailable")
            self.recorder.event(_node_reference(node), "Normal", "CIDRNotAvailable",
                                f"Node {key} status is now: CIDRNotAvailable")
            raise controller.SyncError(f"failed to allocate cidr for node {key}: {e}") from e
        self.allocated[key] = (uid, cidrs)
        try:
            await self._patch(key, node, cidrs)
        except Exception:
            self._release(key)
            raise

    async def _patch(self, key: str, node: dict, cidrs: list[Network]) -> None:
        texts = [str(c) for c in cidrs]
        body = {"spec": {"podCIDR": texts[0], "podCIDRs": texts}}
        for attempt in range(UPDATE_RETRIES):
            try:
                await self.client.patch(self.nodes.resource, key, body, patch_type="strategic")
                log.info("set node %s podCIDRs to %s", key, texts)
                return
            except status.StatusError as e:
                if e.code == 404:
                    return  # the node went away; its delete event releases the blocks
                if attempt == UPDATE_RETRIES - 1:
                    self.recorder.event(_node_reference(node), "Warning", "CIDRAssignmentFailed",
                                        f"Node {key} status is now: CIDRAssignmentFailed")
                    raise


def _node_reference(node: dict) -> dict:
    meta = node["metadata"]
    return {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta.get("uid", "")}
