"""The node lifecycle controller: nodes that stop reporting go Unknown, get
tainted, and their pods are evicted, as kube-controller-manager's
nodelifecycle controller.

- Every ``node_monitor_period`` each node's signs of life (its Ready
  heartbeat, its Lease in kube-node-lease) are checked (``nodelifecycle_health``);
  past the grace period its conditions go Unknown through ``nodes/status``.
  A node leaving Ready gets a ``NodeNotReady`` event and its pods' Ready
  condition is set False (MarkPodsNotReady, with a ``NodeNotReady`` event per pod).
- NoExecute taints follow the Ready condition: ``not-ready`` for False,
  ``unreachable`` for Unknown (swapped at once when the other is there),
  removed when the node is Ready again. Adding one goes through a per-zone
  queue rate-limited by ``node_eviction_rate`` (burst 1); zones where most
  nodes are down slow down (``secondary_node_eviction_rate`` in large
  clusters, none in small ones), and when every node in every zone is down
  the controller assumes the fault is its own and removes the taints.
- ``sync(node name)``, on every node change, keeps the NoSchedule taints in
  line with the node's conditions and ``spec.unschedulable``
  (TaintNodesByCondition) and the beta os/arch labels with the stable ones.
- Pods newly bound to a node that is not Ready are marked NotReady
  (``sync_pod``); the eviction itself is ``nodelifecycle_eviction``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable

from kybernetes.api import status
from kybernetes.client import controller
from kybernetes.controllers import nodelifecycle_health as health_
from kybernetes.controllers import nodelifecycle_zones
from kybernetes.controllers.context import Context
from kybernetes.controllers.nodelifecycle_eviction import NODE_NAME_INDEX, TaintEvictionController, \
    ensure_node_name_index, informer_key
from kybernetes.controllers.nodelifecycle_health import NOT_READY_TAINT, UNREACHABLE_TAINT

log = logging.getLogger(__name__)

NODE_EVICTION_PERIOD = 0.1  # how often the taint queues are tried (scheduler.NodeEvictionPeriod)
HEALTH_UPDATE_RETRIES = 5
TAINT_RETRIES = 5
LABELS = (("kubernetes.io/os", "beta.kubernetes.io/os"), ("kubernetes.io/arch", "beta.kubernetes.io/arch"))


class NodeLifecycleController:
    name = "nodelifecycle"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.settings = ctx.settings
        self.clock = ctx.clock
        self.recorder = ctx.recorder("node-controller")
        self.nodes = ctx.informer("", "v1", "nodes")
        self.leases = ctx.informer("coordination.k8s.io", "v1", "leases", namespace="kube-node-lease")
        self.pods = ctx.informer("", "v1", "pods")
        ensure_node_name_index(self.pods)
        self.health: dict[str, health_.NodeHealth] = {}
        self.known: dict[str, dict] = {}
        self.zones = nodelifecycle_zones.Zones(ctx.settings, ctx.clock)
        self.retry: set[str] = set()
        self.node_queue = ctx.queue("node_lifecycle_controller")
        self.pod_queue = ctx.queue("node_lifecycle_controller_pods")
        self.eviction = TaintEvictionController(ctx, self.pods, self.nodes)
        self.nodes.add_event_handler(lambda n: self.node_queue.add(n["metadata"]["name"]),
                                     lambda old, new: self.node_queue.add(new["metadata"]["name"]))
        self.pods.add_event_handler(lambda p: self._pod(None, p), self._pod)

    def _pod(self, old: dict | None, new: dict) -> None:
        node = (new.get("spec") or {}).get("nodeName")
        if node and (old is None or (old.get("spec") or {}).get("nodeName") != node):
            self.pod_queue.add(informer_key(new))

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.eviction.run())
                tg.create_task(controller.run_workers(self.node_queue, self.sync, 8, self.name))
                tg.create_task(controller.run_workers(self.pod_queue, self.sync_pod, 4,
                                                      f"{self.name}-pods"))
                tg.create_task(self._every(NODE_EVICTION_PERIOD, self.no_execute_tainting_pass))
                tg.create_task(self._every(self.settings.node_monitor_period, self.monitor_node_health))
        finally:
            self.node_queue.shutdown()
            self.pod_queue.shutdown()

    async def _every(self, period: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await fn()
            except Exception:
                log.exception("%s: %s failed", self.name, getattr(fn, "__name__", fn))
            await self.clock.sleep(period)

    # --- node health ---

    async def monitor_node_health(self) -> None:
        nodes = self.nodes.store.list()
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            self.zones.tainter(node)
            if name not in self.known:
                self.known[name] = node
                self._node_event(node, "RegisteredNode",
                                 f"Node {name} event: Registered Node {name} in Controller")
                await self.mark_node_as_reachable(node)
        for name in [n for n in self.known if n not in names]:
            self._node_event(self.known.pop(name), "RemovingNode",
                             f"Node {name} event: Removing Node {name} from Controller")
            self.health.pop(name, None)
            self.retry.discard(name)
        zone_ready: dict[str, list[str | None]] = {}
        limit = asyncio.Semaphore(8)

        async def one(node: dict) -> None:
            async with limit:
                await self._monitor_node(node, zone_ready)

        await asyncio.gather(*(one(n) for n in nodes))
        await self._handle_disruption(zone_ready, nodes)

    async def _monitor_node(self, cached: dict, zone_ready: dict[str, list[str | None]]) -> None:
        name = cached["metadata"]["name"]
        node = copy.deepcopy(cached)
        lease = self.leases.store.get_by("kube-node-lease", name)
        s = self.settings
        for _ in range(HEALTH_UPDATE_RETRIES):
            now = self.clock.now()
            h, observed, current, write = health_.try_update_health(
                node, self.health.get(name), lease, now, s.node_startup_grace_period,
                s.node_monitor_grace_period)
            self.health[name] = h
            if not write:
                break
            try:
                node = await self.client.update(self.nodes.resource, node, subresource="status")
                self.health[name] = health_.NodeHealth(copy.deepcopy(node.get("status") or {}),
                                                       h.probe, now, lease)
                break
            except status.StatusError as e:
                log.info("error updating node %s status: %s", name, e)
                if e.code == 404:
                    return
                try:
                    node = await self.client.get(self.nodes.resource, name)
                except status.StatusError:
                    return
        else:
            log.warning("update health of node %s failed; no pods will be evicted", name)
            return
        if not health_.excluded_from_disruption(node):
            zone_ready.setdefault(health_.zone_key(node), []).append(current.get("status") if current else None)
        if current is None:
            return
        await self._taint_based_eviction(node, observed.get("status", ""))
        became_not_ready = current.get("status") != "True" and observed.get("status") == "True"
        if became_not_ready:
            self._node_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if became_not_ready or (name in self.retry and observed.get("status") != "True"):
            pods = self.pods.store.by_index(NODE_NAME_INDEX, name)
            if not await self.mark_pods_not_ready(pods, name):
                self.retry.add(name)
                return
        self.retry.discard(name)

    async def _taint_based_eviction(self, node: dict, observed: str) -> None:
        if observed == "False":
            if health_.has_taint(node, UNREACHABLE_TAINT):
                await self.swap_taints(node, [NOT_READY_TAINT], [UNREACHABLE_TAINT])
            else:
                self._mark_for_tainting(node, NOT_READY_TAINT)
        elif observed == "Unknown":
            if health_.has_taint(node, NOT_READY_TAINT):
                await self.swap_taints(node, [UNREACHABLE_TAINT], [NOT_READY_TAINT])
            else:
                self._mark_for_tainting(node, UNREACHABLE_TAINT)
        elif observed == "True":
            await self.mark_node_as_reachable(node)

    def _mark_for_tainting(self, node: dict, taint: dict) -> bool:
        tainter = self.zones.tainter(node)
        if not health_.has_taint(node, taint):
            tainter.remove(node["metadata"]["name"])
        return tainter.add(node["metadata"]["name"])

    async def mark_node_as_reachable(self, node: dict) -> bool:
        if health_.has_taint(node, UNREACHABLE_TAINT) or health_.has_taint(node, NOT_READY_TAINT):
            await self.swap_taints(node, [], [UNREACHABLE_TAINT, NOT_READY_TAINT])
        return self.zones.tainter(node).remove(node["metadata"]["name"])

    async def no_execute_tainting_pass(self) -> None:
        async def taint(name: str) -> tuple[bool, float]:
            node = self.nodes.store.get(name)
            if node is None:
                return True, 0.0
            ready = health_.ready_status(node)
            if ready is None:
                return False, 0.05
            if ready == "False":
                return await self.swap_taints(node, [NOT_READY_TAINT], [UNREACHABLE_TAINT]), 0.0
            if ready == "Unknown":
                return await self.swap_taints(node, [UNREACHABLE_TAINT], [NOT_READY_TAINT]), 0.0
            return True, 0.0  # Ready again: nothing to do

        for tainter in list(self.zones.tainters.values()):
            await tainter.try_(taint)

    async def _handle_disruption(self, zone_ready: dict[str, list[str | None]], nodes: list[dict]) -> None:
        change = self.zones.update(zone_ready)
        if change == nodelifecycle_zones.ENTER_MASTER_DISRUPTION:
            log.info("all nodes are not Ready: entering master disruption mode")
            for node in nodes:
                await self.mark_node_as_reachable(node)
        elif change == nodelifecycle_zones.EXIT_MASTER_DISRUPTION:
            log.info("some nodes are Ready: exiting master disruption mode")
            now = self.clock.now()
            for h in self.health.values():
                h.probe = h.ready_transition = now

    # --- writes ---

    async def swap_taints(self, node: dict, add: list[dict], remove: list[dict]) -> bool:
        """SwapNodeControllerTaint: one patch fenced by resourceVersion, retried on conflict."""
        name = node["metadata"]["name"]
        current = node
        for attempt in range(TAINT_RETRIES):
            if attempt:
                try:
                    current = await self.client.get(self.nodes.resource, name)
                except status.StatusError:
                    return False
            taints = (current.get("spec") or {}).get("taints") or []
            new = health_.with_taints(taints, add, remove, self.clock.now())
            if new == taints:
                return True
            body = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                    "spec": {"taints": new or None}}
            try:
                await self.client.patch(self.nodes.resource, name, body, patch_type="merge")
                return True
            except status.StatusError as e:
                if e.code != 409:
                    log.warning("failed to update taints of node %s: %s", name, e)
                    return False
        return False

    async def mark_pods_not_ready(self, pods: list[dict], node_name: str) -> bool:
        """MarkPodsNotReady: the pods' Ready condition False; True when all were written."""
        ok = True
        for cached in pods:
            if (cached.get("spec") or {}).get("nodeName") != node_name:
                continue
            ready = health_.condition(cached.get("status"), "Ready")
            if ready is None or ready.get("status") == "False":
                continue
            pod = copy.deepcopy(cached)
            cond = health_.condition(pod["status"], "Ready")
            cond.update(status="False", lastTransitionTime=health_.timestamp(self.clock.now()))
            try:
                await self.client.update(self.pods.resource, pod, subresource="status")
            except status.StatusError as e:
                if e.code == 404:
                    continue
                log.info("failed to update status for pod %s: %s", informer_key(pod), e)
                ok = False
                continue
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
        return ok

    def _node_event(self, node: dict, reason: str, message: str) -> None:
        meta = node["metadata"]
        self.recorder.event({"apiVersion": "v1", "kind": "Node", "name": meta["name"],
                             "uid": meta.get("uid", "")}, "Normal", reason, message)

    # --- syncs ---

    async def sync(self, key: str) -> None:
        """NoSchedule taints from conditions, and the beta os/arch labels."""
        node = self.nodes.store.get(key)
        if node is None:
            return
        want = health_.condition_taints(node)
        have = health_.managed_no_schedule(node)
        add = [t for t in want if not any(health_.same_taint(t, h) for h in have)]
        remove = [h for h in have if not any(health_.same_taint(h, t) for t in want)]
        if (add or remove) and not await self.swap_taints(node, add, remove):
            raise RuntimeError(f"failed to swap NoSchedule taints of node {key}")
        labels = node["metadata"].get("labels") or {}
        fix = {beta: labels[ga] for ga, beta in LABELS if ga in labels and labels.get(beta) != labels[ga]}
        if fix:
            await self.client.patch(self.nodes.resource, key, {"metadata": {"labels": fix}})

    async def sync_pod(self, key: str) -> None:
        """A pod bound to a node that is not Ready is marked NotReady (processPod)."""
        pod = self.pods.store.get(key)
        if pod is None:
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        h = self.health.get(node_name or "")
        if h is None:
            return  # not looked at yet, or gone
        if self.nodes.store.get(node_name) is None:
            raise RuntimeError(f"node {node_name} of pod {key} is not known yet")
        ready = health_.condition(h.status, "Ready")
        if ready is not None and ready.get("status") != "True":
            if not await self.mark_pods_not_ready([pod], node_name):
                raise RuntimeError(f"unable to mark pod {key} NotReady")
