"""Node lifecycle: health from heartbeats and Leases, NoExecute/NoSchedule taints,
zone rates, taint-based eviction; and a node that stops renewing its Lease on a real server."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta, timezone

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.controllers import nodelifecycle as nlc
from kybernetes.controllers import nodelifecycle_eviction as ev
from kybernetes.controllers import nodelifecycle_health as h
from kybernetes.controllers import nodelifecycle_zones as zones
from kybernetes.controllers.context import Settings
from tests import servers
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import FakeClient, feed, unit_context
from tests.e2e.cluster import API_ONLY

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
EVENTS = registry.lookup("", "v1", "events")
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str = "n1", ready: str | None = "True", heartbeat: datetime = T0, taints=None, **labels) -> dict:
    conditions = [] if ready is None else [
        {"type": "Ready", "status": ready, "lastHeartbeatTime": ts(heartbeat), "lastTransitionTime": ts(T0)},
        {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": ts(heartbeat),
         "lastTransitionTime": ts(T0)}]
    return {"metadata": {"name": name, "creationTimestamp": ts(T0), "labels": labels},
            "spec": {"taints": taints or []}, "status": {"conditions": conditions}}


def lease(name: str, renewed: datetime) -> dict:
    return {"metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}


# --- health ---

def test_health_goes_unknown_after_grace_and_lease_keeps_it_alive():
    n = node()
    health, observed, current, write = h.try_update_health(n, None, None, T0, 60, 50)
    assert not write and health.probe == T0
    # Heartbeat unchanged, Lease renewed at +40: still alive at +60.
    later = T0 + timedelta(seconds=40)
    health, *_ , write = h.try_update_health(copy.deepcopy(n), health, lease("n1", later), later, 60, 50)
    assert not write and health.probe == later
    at = T0 + timedelta(seconds=91)
    n2 = copy.deepcopy(n)
    health, observed, current, write = h.try_update_health(n2, health, lease("n1", later), at, 60, 50)
    assert write and observed["status"] == "True"
    assert current == {**current, "status": "Unknown", "reason": "NodeStatusUnknown",
                       "message": "Kubelet stopped posting node status.", "lastTransitionTime": ts(at)}
    statuses = {c["type"]: c["status"] for c in n2["status"]["conditions"]}
    assert statuses == {"Ready": "Unknown", "MemoryPressure": "Unknown", "DiskPressure": "Unknown",
                        "PIDPressure": "Unknown"}
    never = next(c for c in n2["status"]["conditions"] if c["type"] == "DiskPressure")
    assert never["reason"] == "NodeStatusNeverUpdated" and never["message"] == "Kubelet never posted node status."


def test_new_heartbeat_counts_as_life_and_unposted_node_gets_startup_grace():
    n = node()
    health, *_ = h.try_update_health(n, None, None, T0, 60, 50)
    beat = T0 + timedelta(seconds=45)
    health, _, _, write = h.try_update_health(node(heartbeat=beat), health, None, beat, 60, 50)
    assert not write and health.probe == beat
    fresh = node(ready=None)
    health, _, current, write = h.try_update_health(fresh, None, None, T0 + timedelta(seconds=59), 60, 50)
    assert not write and current is None
    health, _, current, write = h.try_update_health(node(ready=None), health, None, T0 + timedelta(seconds=61), 60, 50)
    assert write and current["reason"] == "NodeStatusNeverUpdated"


def test_taint_helpers():
    taints = [{"key": "other", "effect": "NoSchedule"}]
    out = h.with_taints(taints, [h.UNREACHABLE_TAINT], [h.NOT_READY_TAINT], T0)
    assert out == [taints[0], {"key": h.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(T0)}]
    assert h.with_taints(out, [h.UNREACHABLE_TAINT], [], T0 + timedelta(seconds=5)) == out  # keeps timeAdded
    assert h.with_taints(out, [], [h.UNREACHABLE_TAINT], T0) == taints
    n = node(ready="Unknown")
    n["spec"]["unschedulable"] = True
    n["status"]["conditions"].append({"type": "DiskPressure", "status": "True"})
    assert h.condition_taints(n) == [{"key": h.UNREACHABLE, "effect": "NoSchedule"},
                                     {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
                                     {"key": h.UNSCHEDULABLE, "effect": "NoSchedule"}]
    n["spec"]["taints"] = [{"key": h.NOT_READY, "effect": "NoSchedule"}, {"key": "mine", "effect": "NoSchedule"},
                           {"key": h.UNREACHABLE, "effect": "NoExecute"}]
    assert h.managed_no_schedule(n) == [{"key": h.NOT_READY, "effect": "NoSchedule"}]


def test_zone_state_and_key():
    assert h.zone_state(["True", "False"], 0.55) == (1, h.NORMAL)
    assert h.zone_state([None, "False", "Unknown"], 0.55) == (3, h.FULL_DISRUPTION)
    assert h.zone_state(["True", "False", "False", "Unknown"], 0.55) == (3, h.PARTIAL_DISRUPTION)
    assert h.zone_key(node(**{"topology.kubernetes.io/zone": "a", "topology.kubernetes.io/region": "r"})) \
        == "r:\x00:a"
    assert h.zone_key(node()) == ""


async def test_zone_tainter_rate_and_membership():
    clock = clocks.FakeClock()
    t = zones.ZoneTainter(0.1, clock)
    done = []

    async def fn(name):
        done.append(name)
        return True, 0.0

    assert t.add("a") and t.add("b") and not t.add("a")
    await t.try_(fn)
    assert done == ["a"]  # burst 1
    clock.step(10)
    await t.try_(fn)
    assert done == ["a", "b"]
    assert not t.add("a")  # still a member: tainted once until removed
    assert t.remove("a") and t.add("a")
    t.swap_limiter(0)
    clock.step(100)
    await t.try_(fn)
    assert done == ["a", "b"]


def test_zones_enter_and_exit_master_disruption():
    z = zones.Zones(Settings(), clocks.FakeClock())
    z.tainter(node())
    assert z.update({"": ["True", "Unknown"]}) == ""
    assert z.states == {"": h.NORMAL} and z.tainters[""].qps == 0.1
    assert z.update({"": ["Unknown", "Unknown"]}) == zones.ENTER_MASTER_DISRUPTION
    assert z.tainters[""].qps == 0
    assert z.update({"": ["Unknown", "Unknown"]}) == ""
    assert z.update({"": ["True", "Unknown"]}) == zones.EXIT_MASTER_DISRUPTION
    assert z.tainters[""].qps == 0.1
    assert z.update({"": ["True"] + ["Unknown"] * 3}) == ""  # small cluster, partial: no evictions
    assert z.states[""] == h.PARTIAL_DISRUPTION and z.tainters[""].qps == 0


# --- eviction ---

def test_eviction_time_per_taint():
    t0 = {"key": h.UNREACHABLE, "effect": "NoExecute"}
    added = {(h.UNREACHABLE, "NoExecute"): T0}
    assert ev.eviction_time([t0], [], added) < T0
    assert ev.eviction_time([t0], [{"operator": "Exists"}], added) is None
    tol = {"key": h.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    assert ev.eviction_time([t0], [tol], added) == T0 + timedelta(seconds=300)
    assert ev.eviction_time([t0], [{**tol, "tolerationSeconds": -5}], added) == T0
    other = {"key": "x", "value": "1", "effect": "NoExecute"}
    both = {**added, ("x", "NoExecute"): T0 + timedelta(seconds=100)}
    tol_x = {"key": "x", "operator": "Equal", "value": "1", "tolerationSeconds": 60}
    assert ev.eviction_time([t0, other], [tol, tol_x], both) == T0 + timedelta(seconds=160)
    assert ev.eviction_time([other], [{**tol_x, "value": "2"}], both) < T0


async def test_taint_eviction_sync_deletes_when_due_and_cancels():
    client = FakeClient()
    ctx = unit_context(client)
    pods = ctx.informer("", "v1", "pods")
    nodes = ctx.informer("", "v1", "nodes")
    c = ev.TaintEvictionController(ctx, pods, nodes)
    taint = {"key": h.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(ctx.clock.now())}
    feed(nodes, node(taints=[taint]))
    tol = {"key": h.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    for name, tolerations in (("now", []), ("later", [tol]), ("never", [{"operator": "Exists"}])):
        feed(pods, client.put(PODS, {"metadata": {"name": name, "namespace": "ns"},
                                     "spec": {"nodeName": "n1", "tolerations": tolerations},
                                     "status": {"phase": "Running"}}))
    for key in ("ns/now", "ns/later", "ns/never"):
        await c.sync(key)
    assert [d[3] for d in client.verbs("delete")] == ["now"]
    status_update = client.verbs("update/status")[0][4]
    assert status_update["status"]["conditions"][-1]["reason"] == "DeletionByTaintManager"
    assert c.queue._waiting["ns/later"] == 30
    ctx.clock.step(30)
    await c.sync("ns/later")
    assert [d[3] for d in client.verbs("delete")] == ["now", "later"]
    await c.recorder.flush()
    messages = [x[4]["message"] for x in client.verbs("create") if x[1] == "events"]
    assert messages == ["Marking for deletion Pod ns/now", "Marking for deletion Pod ns/later"]
    # Scheduled, then the taint goes: cancelled with an event.
    feed(pods, client.put(PODS, {"metadata": {"name": "saved", "namespace": "ns"},
                                 "spec": {"nodeName": "n1",
                                          "tolerations": [{**tol, "tolerationSeconds": 300}]}}))
    await c.sync("ns/saved")
    feed(nodes, node(taints=[]), event="MODIFIED")
    assert "ns/saved" in c.queue._queue
    await c.sync("ns/saved")
    await c.recorder.flush()
    assert [x[4]["message"] for x in client.verbs("create") if x[1] == "events"][-1] == \
        "Cancelling deletion of Pod ns/saved"


# --- the controller on a fake API ---

async def test_monitor_marks_unknown_taints_and_marks_pods_not_ready():
    client = FakeClient()
    ctx = unit_context(client, node_monitor_grace_period=50)
    c = nlc.NodeLifecycleController(ctx)
    feed(c.nodes, client.put(NODES, node("alive")), client.put(NODES, node("dead")))
    feed(c.pods, client.put(PODS, {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "dead"},
                                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
    await c.monitor_node_health()
    assert not client.verbs("update/status")
    ctx.clock.step(51)
    feed(c.nodes, client.put(NODES, node("alive", heartbeat=T0 + timedelta(seconds=50))), event="MODIFIED")
    await c.monitor_node_health()
    updates = {u[3]: u[4] for u in client.verbs("update/status")}
    assert set(updates) == {"dead", "p"}
    assert h.ready_status(updates["dead"]) == "Unknown"
    assert h.condition(updates["p"]["status"], "Ready")["status"] == "False"
    # Next pass sees Unknown: the node is queued for the unreachable taint, applied by the tainting pass.
    feed(c.nodes, client.put(NODES, updates["dead"]), event="MODIFIED")
    await c.monitor_node_health()
    await c.no_execute_tainting_pass()
    taint_patch = [p for p in client.verbs("patch") if p[3] == "dead"][-1][4][1]
    assert taint_patch["spec"]["taints"] == [{"key": h.UNREACHABLE, "effect": "NoExecute",
                                              "timeAdded": ts(ctx.clock.now())}]
    await c.recorder.flush()
    reasons = [(x[4]["reason"], x[4]["message"]) for x in client.verbs("create") if x[1] == "events"]
    assert ("NodeNotReady", "Node dead status is now: NodeNotReady") in reasons
    assert ("NodeNotReady", "Node is not ready") in reasons
    assert ("RegisteredNode", "Node alive event: Registered Node alive in Controller") in reasons


async def test_not_ready_node_gets_not_ready_taint_swapped_at_once():
    client = FakeClient()
    ctx = unit_context(client)
    c = nlc.NodeLifecycleController(ctx)
    feed(c.nodes, client.put(NODES, node("ok")), client.put(NODES, node("sick", ready="False")))
    await c.monitor_node_health()
    await c.no_execute_tainting_pass()
    patches = [p[4][1] for p in client.verbs("patch") if p[3] == "sick"]
    assert patches[-1]["spec"]["taints"] == [{"key": h.NOT_READY, "effect": "NoExecute", "timeAdded": ts(T0)}]
    # Tainted unreachable while the kubelet says NotReady: swapped straight away, no queue.
    client.calls.clear()
    feed(c.nodes, client.put(NODES, node("sick", ready="False", taints=[
        {"key": h.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(T0)}])), event="MODIFIED")
    await c.monitor_node_health()
    patches = [p[4][1] for p in client.verbs("patch") if p[3] == "sick"]
    assert [t["key"] for t in patches[0]["spec"]["taints"]] == [h.NOT_READY]


async def test_sync_sets_no_schedule_taints_from_conditions():
    client = FakeClient()
    c = nlc.NodeLifecycleController(unit_context(client))
    n = node(ready="False", taints=[{"key": h.UNREACHABLE, "effect": "NoSchedule"}],
             **{"kubernetes.io/os": "linux"})
    feed(c.nodes, client.put(NODES, n))
    await c.sync("n1")
    patches = [p[4][1] for p in client.verbs("patch")]
    assert [t["key"] for t in patches[0]["spec"]["taints"]] == [h.NOT_READY]
    assert patches[1] == {"metadata": {"labels": {"beta.kubernetes.io/os": "linux"}}}


# --- against a real API server ---

# Pods without explicit tolerations get unreachable/not-ready for 3 s (admission).
server = servers.server_fixture("kyb-controllers", [*API_ONLY, "--default-unreachable-toleration-seconds", "3",
                                                    "--default-not-ready-toleration-seconds", "3"])


def now() -> datetime:
    return datetime.now(timezone.utc)


async def heartbeat(client, name: str) -> None:
    """What a kubelet does: renew the Lease, post Ready with a new heartbeat."""
    try:
        lease_obj = await client.get(LEASES, name, "kube-node-lease")
        lease_obj["spec"]["renewTime"] = now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await client.update(LEASES, lease_obj)
    except Exception:
        await client.create(LEASES, lease(name, now()), "kube-node-lease")
    n = await client.get(NODES, name)
    stamp = ts(now())
    conds = [c for c in (n.get("status") or {}).get("conditions") or [] if c["type"] != "Ready"]
    old = h.condition(n.get("status"), "Ready")
    moved = old is None or old.get("status") != "True"
    conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                  "lastHeartbeatTime": stamp, "lastTransitionTime": stamp if moved else old["lastTransitionTime"]})
    n.setdefault("status", {})["conditions"] = conds
    await client.update(NODES, n, subresource="status")


async def kubelet(client, name: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await heartbeat(client, name)
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def test_lost_node_tainted_pods_evicted_and_node_recovers(client, namespace):
    zone = {"topology.kubernetes.io/zone": namespace}
    for name in ("nl-alive", "nl-dying"):
        await client.create(NODES, {"metadata": {"name": name, "labels": zone}})
        await heartbeat(client, name)
    spec = {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "nl-dying"}
    unreachable = {"key": h.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    pods = {"p-zero": [{**unreachable, "tolerationSeconds": 0}],
            "p-default": None,  # admission: 3 s
            "p-long": [{**unreachable, "tolerationSeconds": 8}],
            "p-forever": [unreachable]}
    for name, tolerations in pods.items():
        body = {"metadata": {"name": name}, "spec": {**spec, **({"tolerations": tolerations} if tolerations else {})}}
        p = await client.create(PODS, body, namespace)
        p["status"]["phase"] = "Running"
        p["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ts(now())}]
        await client.update(PODS, p, subresource="status")

    settings = Settings(node_monitor_period=1.0, node_monitor_grace_period=3.0, node_startup_grace_period=3.0)
    stop = asyncio.Event()
    alive = asyncio.create_task(kubelet(client, "nl-alive", stop))
    try:
        async with Controllers(client, [nlc.NodeLifecycleController], settings=settings):
            lost_at = now()  # nl-dying posts nothing from here on

            async def tainted():
                n = await client.get(NODES, "nl-dying")
                return n if h.has_taint(n, h.UNREACHABLE_TAINT) else None

            n = await eventually(tainted, timeout=15)
            assert (now() - lost_at).total_seconds() < 10
            statuses = {c["type"]: (c["status"], c.get("reason")) for c in n["status"]["conditions"]}
            assert statuses["Ready"] == ("Unknown", "NodeStatusUnknown")
            assert {statuses[t][0] for t in ("MemoryPressure", "DiskPressure", "PIDPressure")} == {"Unknown"}
            taint = next(t for t in n["spec"]["taints"] if t["key"] == h.UNREACHABLE and t["effect"] == "NoExecute")
            assert taint.get("timeAdded")
            await eventually(lambda: _has_no_schedule(client), timeout=5)
            alive_node = await client.get(NODES, "nl-alive")
            assert not alive_node["spec"].get("taints")

            async def evicted(name):
                p = await client.get(PODS, name, namespace)
                return p["metadata"].get("deletionTimestamp")

            await eventually(lambda: evicted("p-zero"), timeout=5)
            p = await client.get(PODS, "p-forever", namespace)
            assert h.condition(p["status"], "Ready")["status"] == "False"
            await eventually(lambda: evicted("p-default"), timeout=10)
            assert not await evicted("p-long")
            await eventually(lambda: evicted("p-long"), timeout=12)
            assert not await evicted("p-forever")

            events = (await client.list(EVENTS, namespace))["items"]
            messages = {(e["reason"], e["message"]) for e in events}
            assert ("TaintManagerEviction", f"Marking for deletion Pod {namespace}/p-zero") in messages
            assert ("NodeNotReady", "Node is not ready") in messages

            # The kubelet comes back: taints go.
            back = asyncio.create_task(kubelet(client, "nl-dying", stop))

            async def untainted():
                n = await client.get(NODES, "nl-dying")
                return not n["spec"].get("taints")

            await eventually(untainted, timeout=15)
            node_events = (await client.list(EVENTS, "default", field_selector="reason=NodeNotReady"))["items"]
            assert any(e["involvedObject"]["name"] == "nl-dying" and
                       e["message"] == "Node nl-dying status is now: NodeNotReady" for e in node_events)
            stop.set()
            await back
    finally:
        stop.set()
        await alive
        for name in ("nl-alive", "nl-dying"):
            await client.delete(NODES, name)


async def _has_no_schedule(client) -> bool:
    n = await client.get(NODES, "nl-dying")
    return h.has_taint(n, {"key": h.UNREACHABLE, "effect": "NoSchedule"})
