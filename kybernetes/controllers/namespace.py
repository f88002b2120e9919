"""The namespace controller: a deleted namespace is emptied, then removed.

kube-controller-manager's namespace controller with its
NamespacedResourcesDeleter. A namespace with a deletionTimestamp is queued
(after ``namespace_deletion_grace_period``, 5 s upstream, so late creations
land first); ``sync`` then

1. reads the namespace again from the server (quorum), moves status.phase to
   Terminating if it is not already;
2. deletes everything in it: every namespaced, deletable resource the
   registry serves, one version per group (the preferred one) and one
   resource per storage (events.k8s.io Events are core Events), by
   DELETECOLLECTION with Background propagation where served, else item by
   item; then lists what is left;
3. records the five deletion conditions (NamespaceDeletionDiscoveryFailure,
   NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
   NamespaceContentRemaining, NamespaceFinalizersRemaining) with upstream's
   reasons and messages;
4. while content remains that is still within its grace period (pods) or
   held by finalizers, requeues after estimate/2+1 seconds; once empty,
   removes the ``kubernetes`` finalizer through ``namespaces/{name}/finalize``
   and the API server deletes the namespace.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from kybernetes.api import durations, registry, status
from kybernetes.client import controller, ratelimiters, workqueue
from kybernetes.controllers.context import Context, resource

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# Upstream's finalizerEstimateSeconds: how long to wait for finalizers before looking again.
FINALIZER_ESTIMATE = 15

CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                   "NamespaceDeletionContentFailure", "NamespaceContentRemaining",
                   "NamespaceFinalizersRemaining")
OK = {  # type -> (reason, message) when all is well (status False), as status_condition_utils.go
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentRemoved", "All content successfully removed"),
}


def deletable_resources() -> list[registry.Resource]:
    """What a namespace holds: namespaced, deletable, listable, stored resources, the
    preferred version of each group, one resource per storage."""
    out = []
    for r in registry.all_resources():
        if not r.namespaced or r.virtual or not r.stored or r.stored_as is not None:
            continue
        if "delete" not in r.verbs or "list" not in r.verbs:
            continue
        if r.version != registry.preferred_version(r.group):
            continue
        out.append(r)
    return out


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def update_conditions(conditions: list[dict], new: dict[str, dict], now: str) -> tuple[list[dict], bool]:
    """The namespace's conditions with each deleter condition set to ``new[type]`` or its
    OK form; lastTransitionTime moves only when the status flips (upstream updateConditions)."""
    result = [dict(c) for c in conditions]
    changed = False
    for type_ in CONDITION_TYPES:
        want = new.get(type_)
        if want is None:
            reason, message = OK[type_]
            want = {"type": type_, "status": "False", "reason": reason, "message": message}
        old = next((c for c in result if c.get("type") == type_), None)
        if old is None:
            result.append({**want, "lastTransitionTime": now})
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != \
                (want["status"], want["reason"], want["message"]):
            if old.get("status") != want["status"]:
                old["lastTransitionTime"] = now
            old.update(status=want["status"], reason=want["reason"], message=want["message"])
            changed = True
    return result, changed


class NamespaceController:
    name = "namespace"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.settings = ctx.settings
        self.clock = ctx.clock
        self.namespaces_resource = resource("", "v1", "namespaces")
        self.pods_resource = resource("", "v1", "pods")
        self.namespaces = ctx.informer("", "v1", "namespaces")
        # nsControllerRateLimiter: retry at least every minute, never longer.
        self.queue = workqueue.WorkQueue("namespace", clock=ctx.clock, rate_limiter=ratelimiters.MaxOfRateLimiter(
            ratelimiters.ItemExponentialFailureRateLimiter(0.005, 60.0),
            ratelimiters.BucketRateLimiter(10.0, 100, ctx.clock)))
        self.resources = deletable_resources()
        self.namespaces.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new))

    def _enqueue(self, ns: dict) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            # Delayed so HA API servers observe the deletion and last-minute creations land.
            self.queue.add_after(ns["metadata"]["name"], self.settings.namespace_deletion_grace_period)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.settings.workers, self.name, shutdown=True)

    async def sync(self, key: str) -> None:
        if self.namespaces.store.get(key) is None:
            return
        try:  # several controllers edit a terminating namespace: start from the latest
            ns = await self.client.get(self.namespaces_resource, key)
        except status.StatusError as e:
            if e.code == 404:
                return
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return
        ns = await self._ensure_terminating(ns)
        if ns is None or FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        estimate, errors = await self._delete_all_content(ns)
        if errors:
            raise RuntimeError("; ".join(errors))
        if estimate > 0:
            log.debug("content remains in namespace %s, estimate %ds", key, estimate)
            self.queue.add_after(key, estimate // 2 + 1)
            return
        await self._finalize(ns)

    async def _ensure_terminating(self, ns: dict) -> dict | None:
        if (ns.get("status") or {}).get("phase") == "Terminating":
            return ns
        new = {**ns, "status": {**(ns.get("status") or {}), "phase": "Terminating"}}
        try:
            return await self.client.update(self.namespaces_resource, new, subresource="status")
        except status.StatusError as e:
            if e.code == 404:
                return None
            raise  # a conflict: retried with the latest

    async def _finalize(self, ns: dict) -> None:
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = sorted({f for f in spec.get("finalizers") or [] if f != FINALIZER})
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": ns["metadata"], "spec": spec}
        try:
            await self.client.update(self.namespaces_resource, body, subresource="finalize")
        except status.StatusError as e:
            if e.code != 404:  # already gone: another deleter finished first
                raise

    async def _delete_all_content(self, ns: dict) -> tuple[int, list[str]]:
        """Delete every resource in the namespace; returns (estimate seconds, errors)."""
        name = ns["metadata"]["name"]
        deleted_at = durations.parse_timestamp(ns["metadata"]["deletionTimestamp"])
        results = await asyncio.gather(*(self._delete_resource(r, name, deleted_at)
                                         for r in self.resources), return_exceptions=True)
        estimate, errors = 0, []
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for r, result in zip(self.resources, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                errors.append(str(result))
                continue
            est, left, by_finalizer, err = result
            estimate = max(estimate, est)
            if left:
                remaining[f"{r.plural}.{r.group}"] = left
                for f, n in by_finalizer.items():
                    finalizers[f] = finalizers.get(f, 0) + n
            if err:
                errors.append(err)
        conditions: dict[str, dict] = {}
        if remaining:
            conditions["NamespaceContentRemaining"] = {
                "type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                "message": "Some resources are remaining: " + ", ".join(sorted(
                    f"{gr} has {n} resource instances" for gr, n in remaining.items()))}
        if finalizers:
            conditions["NamespaceFinalizersRemaining"] = {
                "type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizerRemain",
                "message": "Some finalizers are remaining: " + ", ".join(sorted(
                    f"{f} in {n} resource instances" for f, n in finalizers.items()))}
        if errors:
            conditions["NamespaceDeletionContentFailure"] = {
                "type": "NamespaceDeletionContentFailure", "status": "True",
                "reason": "ContentDeletionFailed",
                "message": f"Failed to delete all resource types, {len(errors)} remaining: "
                           + ", ".join(sorted(errors))}
        await self._write_conditions(ns, conditions)
        return estimate, errors

    async def _write_conditions(self, ns: dict, conditions: dict[str, dict]) -> None:
        current = (ns.get("status") or {}).get("conditions") or []
        new, changed = update_conditions(current, conditions, timestamp(self.clock.now()))
        if not changed:
            return
        body = {**ns, "status": {**(ns.get("status") or {}), "conditions": new}}
        try:
            await self.client.update(self.namespaces_resource, body, subresource="status")
        except status.StatusError as e:  # upstream logs this and carries on
            log.info("couldn't update status condition for namespace %s: %s", ns["metadata"]["name"], e)

    async def _delete_resource(self, r: registry.Resource, namespace: str,
                               deleted_at: datetime | None) -> tuple[int, int, dict[str, int], str]:
        """deleteAllContentForGroupVersionResource: (estimate, remaining, finalizers, error)."""
        estimate = await self._estimate(r, namespace, deleted_at)
        if "deletecollection" in r.verbs:
            await self.client.delete_collection(r, namespace, propagation_policy="Background")
        else:
            for item in (await self.client.list(r, namespace)).get("items") or []:
                try:
                    await self.client.delete(r, item["metadata"]["name"], namespace,
                                             propagation_policy="Background")
                except status.StatusError as e:
                    if e.code not in (404, 405):
                        raise
        items = (await self.client.list(r, namespace)).get("items") or []
        if not items:
            return 0, 0, {}, ""
        finalizers: dict[str, int] = {}
        for item in items:
            for f in item["metadata"].get("finalizers") or []:
                finalizers[f] = finalizers.get(f, 0) + 1
        if estimate:
            return estimate, len(items), finalizers, ""
        if finalizers:
            return FINALIZER_ESTIMATE, len(items), finalizers, ""
        return 0, len(items), {}, (f"unexpected items still remain in namespace: {namespace} "
                                   f"for gvr: {r.group}/{r.version}, Resource={r.plural}")

    async def _estimate(self, r: registry.Resource, namespace: str, deleted_at: datetime | None) -> int:
        """Pods get their grace period (the longest of any non-terminal pod), counted
        from the namespace's deletion; everything else is expected to go at once."""
        if r.group != "" or r.plural != "pods":
            return 0
        estimate = 0
        for pod in (await self.client.list(r, namespace)).get("items") or []:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if grace is not None and grace > estimate:
                estimate = int(grace)
        if deleted_at is not None and (self.clock.now() - deleted_at).total_seconds() >= estimate:
            return 0
        return estimate
