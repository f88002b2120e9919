"""Node IPAM: distinct pod CIDRs per node, never handed out twice, given back on deletion."""

from __future__ import annotations

import ipaddress

import pytest

from kybernetes.api import registry
from kybernetes.client import controller
from kybernetes.controllers import nodeipam
from kybernetes.controllers.context import Settings
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import FakeClient, feed, unit_context

NODES = registry.lookup("", "v1", "nodes")
EVENTS = registry.lookup("", "v1", "events")


def net(text: str):
    return ipaddress.ip_network(text)


def test_cidr_set_allocates_in_order_and_wraps_past_released():
    s = nodeipam.CidrSet("10.244.0.0/22", 24)
    assert [str(s.allocate_next()) for _ in range(3)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    s.release(net("10.244.1.0/24"))
    assert str(s.allocate_next()) == "10.244.3.0/24"  # the search goes on from the last one
    assert str(s.allocate_next()) == "10.244.1.0/24"
    with pytest.raises(nodeipam.RangeFull):
        s.allocate_next()


def test_cidr_set_occupies_overlapping_blocks():
    s = nodeipam.CidrSet("10.244.0.0/16", 24)
    s.occupy(net("10.244.4.0/23"))
    assert s.used() == 2
    s.occupy(net("10.244.0.0/24"))
    assert str(s.allocate_next()) == "10.244.1.0/24"
    assert not s.contains(net("10.245.0.0/24"))
    with pytest.raises(ValueError):
        nodeipam.CidrSet("10.244.0.0/16", 8)


async def test_sync_skips_blocks_held_at_start():
    client = FakeClient()
    c = nodeipam.NodeIpamController(unit_context(client, cluster_cidr="10.244.0.0/16"))
    feed(c.nodes, client.put(NODES, {"metadata": {"name": "old"}, "spec": {"podCIDR": "10.244.0.0/24",
                                                                          "podCIDRs": ["10.244.0.0/24"]}}),
         client.put(NODES, {"metadata": {"name": "new"}}))
    c.occupy_existing()
    await c.sync("old")
    await c.sync("new")
    patches = client.verbs("patch")
    assert len(patches) == 1 and patches[0][3] == "new"
    assert patches[0][4] == ("strategic", {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}})
    await c.sync("new")  # the patch is on its way: no second block
    assert len(client.verbs("patch")) == 1


async def test_dual_stack_and_release_on_delete():
    client = FakeClient()
    c = nodeipam.NodeIpamController(unit_context(client, cluster_cidr="10.244.0.0/24,fd00:10::/56",
                                                 node_cidr_mask_size=25))
    node = client.put(NODES, {"metadata": {"name": "a"}})
    feed(c.nodes, node)
    await c.sync("a")
    assert client.verbs("patch")[0][4][1]["spec"]["podCIDRs"] == ["10.244.0.0/25", "fd00:10::/64"]
    feed(c.nodes, node, event="DELETED")
    await c.sync("a")
    assert c.cidr_sets[0].used() == 0 and c.cidr_sets[1].used() == 0


async def test_full_range_records_cidr_not_available():
    client = FakeClient()
    ctx = unit_context(client, cluster_cidr="10.9.0.0/24", node_cidr_mask_size=24)
    c = nodeipam.NodeIpamController(ctx)
    feed(c.nodes, client.put(NODES, {"metadata": {"name": "a"}}), client.put(NODES, {"metadata": {"name": "b"}}))
    await c.sync("a")
    with pytest.raises(controller.SyncError):
        await c.sync("b")
    await c.recorder.flush()
    events = [x[4] for x in client.verbs("create") if x[1] == "events"]
    assert [(e["reason"], e["message"], e["involvedObject"]["kind"]) for e in events] == [
        ("CIDRNotAvailable", "Node b status is now: CIDRNotAvailable", "Node")]


# --- against a real API server ---

async def test_nodes_get_distinct_blocks(client):
    await client.create(NODES, {"metadata": {"name": "ipam-pre"}, "spec": {
        "podCIDR": "10.250.0.0/24", "podCIDRs": ["10.250.0.0/24"]}})
    settings = Settings(cluster_cidr="10.250.0.0/22", node_cidr_mask_size=24)
    names = [f"ipam-{i}" for i in range(3)]
    try:
        async with Controllers(client, [nodeipam.NodeIpamController], settings=settings):
            for name in names:
                await client.create(NODES, {"metadata": {"name": name}})

            async def all_assigned():
                nodes = [await client.get(NODES, n) for n in names]
                return nodes if all(n["spec"].get("podCIDRs") for n in nodes) else None

            nodes = await eventually(all_assigned)
            cidrs = [n["spec"]["podCIDR"] for n in nodes]
            assert sorted(cidrs) == ["10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24"]
            assert all(n["spec"]["podCIDRs"] == [n["spec"]["podCIDR"]] for n in nodes)

            # The range is full: a fourth node waits, with an event, until one is deleted.
            await client.create(NODES, {"metadata": {"name": "ipam-late"}})

            async def not_available():
                events = await client.list(EVENTS, "default", field_selector="reason=CIDRNotAvailable")
                return [e for e in events["items"] if e["involvedObject"]["name"] == "ipam-late"]

            await eventually(not_available)
            freed = nodes[0]["spec"]["podCIDR"]
            await client.delete(NODES, names[0])

            async def late_assigned():
                return (await client.get(NODES, "ipam-late"))["spec"].get("podCIDR")

            assert await eventually(late_assigned, timeout=30) == freed
    finally:
        for name in ["ipam-pre", "ipam-late", *names]:
            try:
                await client.delete(NODES, name)
            except Exception:
                pass
