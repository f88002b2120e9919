"""kube-scheduler: watches pods without a node and binds each to the best node.

``Scheduler(client).run()`` campaigns for the ``kube-scheduler`` Lease in
kube-system (15 s lease, 10 s renew deadline, 2 s retry, handed back on
shutdown) unless ``leader_elect=False``; while leading it runs informers on
nodes, namespaces and non-terminal pods (``status.phase!=Succeeded,
status.phase!=Failed``, as kube-scheduler's pod informer), the scheduling
queue, the event recorder and the scheduling loop. Losing the lease stops
all of it and the scheduler campaigns again from scratch (kube-scheduler
exits instead; its supervisor restarts it).

The informer handlers only route objects, as eventhandlers.go does:
assigned pods go to the cache (confirming assumed ones), unassigned pods
whose ``spec.schedulerName`` is ours go to the queue (others are ignored;
pods with ``spec.schedulingGates`` wait outside it until the gates are gone),
and node, namespace and assigned-pod changes move unschedulable pods back
when they might help them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.client import events, informer, leaderelection, rest
from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import plugins, podinfo, queue, scheduling

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
NAMESPACES = registry.lookup("", "v1", "namespaces")
LOCK_NAME, LOCK_NAMESPACE = "kube-scheduler", "kube-system"
NON_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"
EVENT_QUEUE_SIZE = 10000


class Scheduler:
    def __init__(self, client: rest.Client, *, scheduler_name: str = "default-scheduler",
                 leader_elect: bool = True, identity: str | None = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 retry_period: float = 2.0, percentage_of_nodes_to_score: int = 0,
                 max_binds_in_flight: int = 64, clock: clocks.Clock | None = None,
                 rng: random.Random | None = None):
        self.client = client
        self.scheduler_name = scheduler_name
        self.leader_elect = leader_elect
        self.identity = identity or leaderelection.default_identity()
        self.lease = (lease_duration, renew_deadline, retry_period)
        self.percentage = percentage_of_nodes_to_score
        self.max_binds_in_flight = max_binds_in_flight
        self.clock = clock or clocks.RealClock()
        self.rng = rng
        self.ready = asyncio.Event()  # set once leading and the caches have synced
        self.cache: caches.Cache | None = None
        self.queue: queue.SchedulingQueue | None = None
        self.scheduling: scheduling.Scheduling | None = None

    async def run(self) -> None:
        if not self.leader_elect:
            await self._lead()
            return
        duration, deadline, retry = self.lease
        while True:
            elector = leaderelection.LeaderElector(
                self.client, LOCK_NAME, LOCK_NAMESPACE, identity=self.identity,
                lease_duration=duration, renew_deadline=deadline, retry_period=retry,
                release_on_cancel=True, clock=self.clock)
            await elector.run(self._lead)
            log.warning("%s: leader election lost; campaigning again", self.identity)
            self.ready.clear()

    async def _lead(self) -> None:
        """Everything a leading scheduler runs, with fresh state each term."""
        self.cache = caches.Cache()
        self.queue = queue.SchedulingQueue(self.clock)
        factory = informer.SharedInformerFactory(self.client, clock=self.clock)
        nodes = factory.informer(NODES)
        namespaces = factory.informer(NAMESPACES)
        pods = factory.informer(PODS, field_selector=NON_TERMINAL)
        nodes.add_event_handler(self._node_added, self._node_updated, self._node_deleted)
        pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

        def namespace_labels(name: str) -> dict | None:
            ns = namespaces.store.get(name)
            return (ns.get("metadata") or {}).get("labels") if ns else None

        def current_pod(key: str) -> dict[str, Any] | None:
            return pods.store.get(key)

        # A Scheduled event per pod: room for a burst of them (the recorder writes one at a time).
        recorder = events.EventRecorder(self.client, self.scheduler_name, clock=self.clock,
                                        queue_size=EVENT_QUEUE_SIZE)
        fwk = plugins.default_framework(namespace_labels, rng=self.rng,
                                        percentage_of_nodes_to_score=self.percentage)
        self.scheduling = scheduling.Scheduling(self.client, fwk, self.cache, self.queue, recorder,
                                                current_pod,
                                                max_binds_in_flight=self.max_binds_in_flight)
        async with factory, asyncio.TaskGroup() as tg:
            factory.start()
            tg.create_task(recorder.run())
            await factory.wait_for_sync()
            log.info("%s: caches synced (%d nodes, %d pods queued)", self.scheduler_name,
                     len(self.cache.node_list), len(self.queue))
            tg.create_task(self.queue.run())
            tg.create_task(self.scheduling.run())
            self.ready.set()

    # --- pods ---

    def _responsible(self, pi: podinfo.PodInfo) -> bool:
        return pi.scheduler_name == self.scheduler_name

    def _pod_added(self, pod: dict) -> None:
        pi = podinfo.PodInfo(pod)
        if pi.node_name:
            self.cache.add_pod(pi)
            self.queue.move_all([queue.POD_ADD])
        elif self._responsible(pi) and not pi.gated:
            self.queue.add(pi)

    def _pod_updated(self, old: dict, new: dict) -> None:
        pi = podinfo.PodInfo(new)
        was_assigned = bool((old.get("spec") or {}).get("nodeName"))
        if pi.node_name:
            if not was_assigned:
                self.queue.delete(pi.key)
                self.cache.add_pod(pi)
                self.queue.move_all([queue.POD_ADD])
                return
            before = self.cache.pods.get(pi.key)
            self.cache.update_pod(pi)
            if before is not None and _assigned_change_matters(before[0], pi):
                self.queue.move_all([queue.POD_UPDATE])
        elif self._responsible(pi):
            if pi.gated:  # SchedulingGates' PreEnqueue: not before every gate is removed
                self.queue.delete(pi.key)
            else:
                self.queue.update(pi)

    def _pod_deleted(self, pod: dict) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        if (pod.get("spec") or {}).get("nodeName") or self.cache.is_assumed(key):
            self.cache.remove_pod(key)
            self.queue.move_all([queue.POD_DELETE])
        self.queue.delete(key)

    # --- nodes ---

    def _node_added(self, node: dict) -> None:
        self.cache.add_node(node)
        self.queue.move_all([queue.NODE_ADD])

    def _node_updated(self, old: dict, new: dict) -> None:
        self.cache.update_node(new)
        changes = node_changes(old, new)
        if changes:
            self.queue.move_all(changes)

    def _node_deleted(self, node: dict) -> None:
        self.cache.remove_node(node["metadata"]["name"])
        self.queue.move_all([queue.NODE_DELETE])


def node_changes(old: dict, new: dict) -> set[str]:
    """The cluster events a node update amounts to (labels, taints, allocatable)."""
    out = set()
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    if om.get("labels") != nm.get("labels"):
        out.add(queue.NODE_LABEL)
    os_, ns_ = old.get("spec") or {}, new.get("spec") or {}
    if os_.get("taints") != ns_.get("taints") or os_.get("unschedulable") != ns_.get("unschedulable"):
        out.add(queue.NODE_TAINT)
    if (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"):
        out.add(queue.NODE_ALLOCATABLE)
    return out


def _assigned_change_matters(before: podinfo.PodInfo, after: podinfo.PodInfo) -> bool:
    """An assigned pod's update that may unblock others: new labels, or smaller requests."""
    if before.labels != after.labels or before.terminating != after.terminating:
        return True
    b, a = before.requests, after.requests
    return a.cpu < b.cpu or a.memory < b.memory or a.ephemeral < b.ephemeral
