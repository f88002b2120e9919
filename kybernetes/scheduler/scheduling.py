"""One scheduling attempt after another: schedule_one.go's scheduling and binding cycles.

``Scheduling.run`` pops pods from the queue and decides synchronously (the
cache cannot change under a decision: one event loop), assumes the pod onto
the chosen node, and binds it through ``pods/binding`` in a task of its own,
at most ``max_binds_in_flight`` at once, so decisions continue while binds
are on the wire. On success it records a ``Scheduled`` event ("Successfully
assigned ns/name to node"). A failed bind forgets the assumed pod, moves
unschedulable pods (as a pod deletion would) and goes through the failure
path with reason SchedulerError.

Failure (handleSchedulingFailure): the pod goes back to the queue, then gets
a Warning ``FailedScheduling`` event with the message (truncated to 1024
characters as the events API limits notes) and, through ``pods/status``, a
``PodScheduled`` condition False with reason ``Unschedulable`` (or
``SchedulerError``) and that message, patched only when it changed
(podutil.UpdatePodCondition).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from kybernetes.api import registry, status
from kybernetes.client import events, rest
from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import diagnosis, framework, queue

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")
NOTE_LENGTH_LIMIT = 1024
UNSCHEDULABLE, SCHEDULER_ERROR = "Unschedulable", "SchedulerError"


def truncate_message(message: str) -> str:
    """schedule_one.go truncateMessage."""
    if len(message) <= NOTE_LENGTH_LIMIT:
        return message
    suffix = " ..."
    return message[:NOTE_LENGTH_LIMIT - len(suffix)] + suffix


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduling:
    def __init__(self, client: rest.Client, fwk: framework.Framework, cluster: caches.Cache,
                 pods: queue.SchedulingQueue, recorder: events.EventRecorder,
                 current_pod: Callable[[str], dict[str, Any] | None], *,
                 max_binds_in_flight: int = 64):
        self.client = client
        self.fwk = fwk
        self.cache = cluster
        self.queue = pods
        self.recorder = recorder
        self.current_pod = current_pod
        self._binds = asyncio.Semaphore(max_binds_in_flight)
        self._tasks: set[asyncio.Task] = set()
        self.scheduled = 0
        self.failed = 0

    async def run(self) -> None:
        try:
            while True:
                await self._binds.acquire()
                qpi = await self.queue.pop()
                binding = False
                try:
                    binding = self.schedule_one(qpi)
                except Exception:
                    log.exception("scheduling %s failed", qpi.key)
                    self.queue.requeue(qpi, None)
                if not binding:
                    self._binds.release()
                # Let informer events and binds in between decisions.
                await asyncio.sleep(0)
        finally:
            for t in list(self._tasks):
                t.cancel()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_one(self, qpi: queue.QueuedPodInfo) -> bool:
        """Decide for one popped pod; True when a bind task now holds the bind slot."""
        pi = qpi.pod_info
        if pi.terminating or self.cache.is_assumed(pi.key):
            self.queue.done(pi.key)
            return False
        try:
            result = self.fwk.schedule(pi, self.cache)
        except framework.NoNodesAvailable as e:
            self.fail(qpi, str(e), set(), UNSCHEDULABLE)
            return False
        if result.node is None:
            post = diagnosis.preemption_message(self.fwk, pi, self.cache, result.statuses)
            message = diagnosis.fit_error_message(result.num_all_nodes, result.statuses, post)
            plugins = {st.plugin for st in result.statuses.values()}
            self.fail(qpi, message, plugins, UNSCHEDULABLE)
            return False
        self.cache.assume(pi, result.node)
        self._spawn(self._bind(qpi, result.node))
        return True

    async def _bind(self, qpi: queue.QueuedPodInfo, node: str) -> None:
        pi = qpi.pod_info
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": pi.name, "namespace": pi.namespace, "uid": pi.uid},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(PODS, binding, pi.namespace, subresource="binding", name=pi.name)
        except (status.StatusError, rest.ClientError) as e:
            self.cache.forget(pi.key)
            self.queue.move_all([queue.POD_DELETE])
            if isinstance(e, status.StatusError) and e.code == 404:
                self.queue.done(pi.key)
                return
            message = e.message if isinstance(e, status.StatusError) else str(e)
            log.info("binding %s to %s failed: %s", pi.key, node, message)
            self.fail(qpi, message, None, SCHEDULER_ERROR)
            return
        finally:
            self._binds.release()
        self.queue.done(pi.key)
        self.scheduled += 1
        self.recorder.event(pi.pod, "Normal", "Scheduled",
                            f"Successfully assigned {pi.namespace}/{pi.name} to {node}")

    def fail(self, qpi: queue.QueuedPodInfo, message: str, plugins: set[str] | None,
             reason: str) -> None:
        self.failed += 1
        pi = qpi.pod_info
        current = self.current_pod(pi.key)
        if current is not None and (current.get("spec") or {}).get("nodeName"):
            self.queue.done(pi.key)  # bound meanwhile (by someone else): nothing to retry
        else:
            self.queue.requeue(qpi, plugins if reason == UNSCHEDULABLE else None)
        pod = current or pi.pod
        self.recorder.event(pod, "Warning", "FailedScheduling", truncate_message(message))
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message}
        patch = _condition_patch(pod, condition)
        if patch is not None:
            self._spawn(self._patch_status(pi.namespace, pi.name, patch))

    async def _patch_status(self, namespace: str, name: str, patch: dict) -> None:
        try:
            await self.client.patch(PODS, name, patch, namespace=namespace, subresource="status",
                                    patch_type="strategic")
        except (status.StatusError, rest.ClientError) as e:
            log.info("updating PodScheduled of %s/%s failed: %s", namespace, name, e)


def _condition_patch(pod: dict[str, Any], condition: dict[str, Any]) -> dict | None:
    """The status patch setting ``condition``, or None if the pod already has it."""
    old = next((c for c in (pod.get("status") or {}).get("conditions") or ()
                if c.get("type") == condition["type"]), None)
    if old is not None and all(old.get(k) == condition[k] for k in ("status", "reason", "message")):
        return None
    changed = old is None or old.get("status") != condition["status"]
    new = dict(condition, lastProbeTime=None,
               lastTransitionTime=_now() if changed else old.get("lastTransitionTime"))
    return {"status": {"conditions": [new]}}
