"""Pod garbage collection, as kube-controller-manager's podgc controller.

Every ``pod_gc_period`` (20 s upstream) one pass over the pod and node caches
force-deletes (gracePeriodSeconds 0):

- terminated pods (phase Succeeded or Failed) beyond
  ``terminated_pod_gc_threshold``, oldest first (by creationTimestamp, then
  name); a threshold of 0 disables this;
- terminating pods on nodes that are not Ready and carry the
  ``node.kubernetes.io/out-of-service`` taint;
- orphaned pods: bound to a node that is not in the cache, once the node has
  stayed missing for ``pod_gc_quarantine`` (40 s upstream) and a quorum GET
  confirms it is gone; they are first marked Failed with a DisruptionTarget
  condition (DeletionByPodGC, "PodGC: node no longer exists");
- terminating pods that were never scheduled.

Pods not yet terminal are marked Failed before they go, so whoever owns them
sees why. The pass is the sync: ``sync("")`` runs it once (unit tests call
it on filled caches with a fake clock).
"""

from __future__ import annotations

import asyncio
import logging

from kybernetes.api import status
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
FIELD_MANAGER = "PodGC"


def terminated(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Pending", "Running", "Unknown", None, "")


def node_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def by_creation(pod: dict) -> tuple[str, str]:
    return pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"]


class PodGCController:
    name = "podgc"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.settings = ctx.settings
        self.clock = ctx.clock
        self.pods = ctx.informer("", "v1", "pods")
        self.nodes = ctx.informer("", "v1", "nodes")
        # node name -> monotonic time it was first seen missing (the quarantine queue).
        self.missing_since: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.sync("")
            except Exception:
                log.exception("pod GC pass failed")
            await self.clock.sleep(self.settings.pod_gc_period)

    async def sync(self, key: str = "") -> None:
        pods = self.pods.store.list()
        if self.settings.terminated_pod_gc_threshold > 0:
            await self._gc_terminated(pods)
        await self._gc_out_of_service(pods)
        await self._gc_orphaned(pods)
        await self._gc_unscheduled_terminating(pods)

    async def _gc_terminated(self, pods: list[dict]) -> None:
        done = [p for p in pods if terminated(p)]
        excess = len(done) - self.settings.terminated_pod_gc_threshold
        if excess <= 0:
            return
        log.info("garbage collecting %d terminated pods", excess)
        await self._delete_all(sorted(done, key=by_creation)[:excess])

    async def _gc_out_of_service(self, pods: list[dict]) -> None:
        doomed = []
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                continue
            node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is None:
                continue
            taints = (node.get("spec") or {}).get("taints") or []
            if not node_ready(node) and any(t.get("key") == OUT_OF_SERVICE for t in taints):
                doomed.append(pod)
        await self._delete_all(sorted(doomed, key=by_creation))

    async def _gc_orphaned(self, pods: list[dict]) -> None:
        now = self.clock.monotonic()
        missing = {(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""}
        missing = {n for n in missing if self.nodes.store.get(n) is None}
        for name in list(self.missing_since):
            if name not in missing:
                del self.missing_since[name]
        gone = set()
        for name in missing:
            since = self.missing_since.setdefault(name, now)
            if now - since >= self.settings.pod_gc_quarantine and not await self._node_exists(name):
                gone.add(name)
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                     "message": "PodGC: node no longer exists"}
        orphans = [p for p in pods if (p.get("spec") or {}).get("nodeName") in gone]
        for pod in orphans:
            log.info("found orphaned pod %s/%s assigned to node %s, deleting", pod["metadata"]["namespace"],
                     pod["metadata"]["name"], pod["spec"]["nodeName"])
        await self._delete_all(orphans, condition)

    async def _gc_unscheduled_terminating(self, pods: list[dict]) -> None:
        await self._delete_all([p for p in pods if p["metadata"].get("deletionTimestamp")
                                and not (p.get("spec") or {}).get("nodeName")])

    async def _node_exists(self, name: str) -> bool:
        try:
            await self.client.get(self.nodes.resource, name)
        except status.StatusError as e:
            if e.code == 404:
                return False
            log.warning("pod GC: cannot get node %s: %s", name, e)
            return True  # try again next pass
        return True

    async def _delete_all(self, pods: list[dict], condition: dict | None = None) -> None:
        results = await asyncio.gather(*(self._mark_failed_and_delete(p, condition) for p in pods),
                                       return_exceptions=True)
        for pod, result in zip(pods, results):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, Exception):
                log.warning("pod GC: deleting %s/%s failed: %s", pod["metadata"]["namespace"],
                            pod["metadata"]["name"], result)

    async def _mark_failed_and_delete(self, pod: dict, condition: dict | None) -> None:
        """markFailedAndDeletePodWithCondition: a pod no kubelet will finish is marked
        Failed (and given the condition), then force-deleted."""
        meta = pod["metadata"]
        patch: dict = {}
        if condition is not None:
            patch["conditions"] = [{**condition, "lastTransitionTime":
                                    self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}]
        if not terminated(pod):
            patch["phase"] = "Failed"
        try:
            if patch:
                await self.client.patch(self.pods.resource, meta["name"], {"status": patch},
                                        namespace=meta["namespace"], patch_type="strategic",
                                        subresource="status", field_manager=FIELD_MANAGER)
            # The uid precondition keeps a re-created namesake (a StatefulSet pod) safe.
            await self.client.delete(self.pods.resource, meta["name"], meta["namespace"],
                                     grace_period_seconds=0,
                                     preconditions={"uid": meta["uid"]} if meta.get("uid") else None)
        except status.StatusError as e:
            if e.code not in (404, 409):
                raise
