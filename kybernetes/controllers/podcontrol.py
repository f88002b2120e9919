"""Writing the objects a controller owns: pods from a template, deletions, and
ownership (adoption and release), as kube-controller-manager's RealPodControl
and SlowStartBatch (controller_utils.go) and ControllerRefManager
(controller_ref_manager.go). Every workload controller (replica sets,
deployments, daemon sets, stateful sets, jobs) claims through here.

Also the object-meta and ownerReference helpers every controller reads, and
timestamps as the API writes them. Pod predicates and the orders in which
pods are deleted are in ``podutil``; expectations in ``expectations``.
Objects are plain dicts; nothing here mutates an object it is given.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from kybernetes.api import labels, names, registry, status
from kybernetes.client import events, rest

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")

# Event reasons (controller_utils.go).
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_DELETE = "FailedDelete"
SUCCESSFUL_DELETE = "SuccessfulDelete"

NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


# --- time, as metav1.Time writes and reads it (RFC 3339, whole seconds) ---

def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- object meta and owner references ---

def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def controller_of(obj: dict) -> dict | None:
    """metav1.GetControllerOf: the ownerReference with controller: true, if any."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def controller_ref(owner: dict, api_version: str, kind: str) -> dict:
    """metav1.NewControllerRef: controller and blockOwnerDeletion both true."""
    m = meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: dict, owner: dict) -> bool:
    """metav1.IsControlledBy: the controller reference names ``owner``'s uid."""
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def owner_key(obj: dict, kind: str) -> str | None:
    """``namespace/name`` of the controller of ``obj`` when it is a ``kind`` (the
    work-queue key of an owner in the object's namespace), else None."""
    ref = controller_of(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    return f"{meta(obj).get('namespace', '')}/{ref.get('name', '')}"


def is_being_deleted(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def has_status_cause(err: Exception, cause: str) -> bool:
    """apierrors.HasStatusCause (matching the cause's type, or its reason)."""
    if not isinstance(err, status.StatusError):
        return False
    causes = (err.status.get("details") or {}).get("causes") or []
    return any(c.get("type") == cause or c.get("reason") == cause for c in causes)


# --- pods from templates ---

def pods_prefix(owner_name: str) -> str:
    """getPodsPrefix: ``<owner>-`` unless that is not a valid generateName."""
    prefix = f"{owner_name}-"
    return owner_name if names.name_is_dns_subdomain(prefix, True) else prefix


def pod_from_template(template: dict, owner: dict, ref: dict | None, *,
                      generate_name: str | None = None) -> dict:
    """GetPodFromTemplate: labels, annotations and finalizers of the template, a
    generateName (``generate_name``, else from the owner), the controller reference,
    and the spec. No namespace: the create names it."""
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {"generateName": generate_name or pods_prefix(meta(owner)["name"])}
    for field in ("labels", "annotations"):
        if tmeta.get(field):
            pod_meta[field] = dict(tmeta[field])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    if ref is not None:
        pod_meta["ownerReferences"] = [dict(ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


class PodControl:
    """Creates and deletes an owner's pods, recording an event about the owner for each."""

    def __init__(self, client: rest.Client, recorder: events.EventRecorder):
        self.client = client
        self.recorder = recorder

    async def create_pod(self, namespace: str, template: dict, owner: dict, ref: dict, *,
                         generate_name: str | None = None) -> dict:
        """CreatePods / CreatePodsWithGenerateName. A refusal because the namespace is
        terminating is raised without a FailedCreate event."""
        pod = pod_from_template(template, owner, ref, generate_name=generate_name)
        if not pod["metadata"].get("labels"):
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self.client.create(PODS, pod, namespace)
        except (status.StatusError, rest.ClientError) as e:
            if not has_status_cause(e, NAMESPACE_TERMINATING_CAUSE):
                self.recorder.event(owner, "Warning", FAILED_CREATE, f"Error creating: {e}")
            raise
        self.recorder.event(owner, "Normal", SUCCESSFUL_CREATE,
                            f"Created pod: {created['metadata']['name']}")
        return created

    async def delete_pod(self, namespace: str, name: str, owner: dict) -> None:
        """Delete one pod; NotFound is raised as is (the caller counts it as done)."""
        try:
            await self.client.delete(PODS, name, namespace)
        except status.StatusError as e:
            if e.code == 404:
                raise
            self.recorder.event(owner, "Warning", FAILED_DELETE, f"Error deleting: {e}")
            raise
        self.recorder.event(owner, "Normal", SUCCESSFUL_DELETE, f"Deleted pod: {name}")


async def gather_errors(coros: Iterable[Awaitable[Any]]) -> list[BaseException]:
    """Run coroutines concurrently; the exceptions (not CancelledError) they raised."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, asyncio.CancelledError):
            raise r
    return [r for r in results if isinstance(r, BaseException)]


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[object]]) -> tuple[int, BaseException | None]:
    """slowStartBatch: call ``fn`` ``count`` times in batches of 1, 2, 4, ... run concurrently;
    stop after the first batch with a failure. Returns (successes, first error): the other
    ``count - successes`` calls failed or were never made."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        errors = await gather_errors(fn() for _ in range(batch))
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# --- adoption and release (controller_ref_manager.go) ---

def recheck_deletion_timestamp(client: rest.Client, resource: registry.Resource,
                               owner: dict, kind: str) -> Callable[[], Awaitable[None]]:
    """RecheckDeletionTimestamp: before adopting, a quorum GET of the owner must show it
    still exists (same uid) and is not being deleted. Checked once per claim round."""
    m = meta(owner)
    result: list[Exception | None] = []

    async def can_adopt() -> None:
        if not result:
            try:
                fresh = await client.get(resource, m["name"], m["namespace"])
                if meta(fresh).get("uid") != m["uid"]:
                    raise RuntimeError(f"original {kind} {m['namespace']}/{m['name']} is gone: "
                                       f"got uid {meta(fresh).get('uid')}, wanted {m['uid']}")
                if is_being_deleted(fresh):
                    raise RuntimeError(f"{meta(fresh).get('namespace')}/{meta(fresh).get('name')} "
                                       f"has just been deleted at {meta(fresh)['deletionTimestamp']}")
                result.append(None)
            except (status.StatusError, rest.ClientError, RuntimeError) as e:
                result.append(RuntimeError(f"can't recheck DeletionTimestamp: {e}"))
        if result[0] is not None:
            raise result[0]
    return can_adopt


class ControllerRefManager:
    """Claims objects (pods, a deployment's replica sets, controller revisions) for one
    owner: keeps those it controls that still match, adopts matching orphans, releases
    its own that no longer match. ``can_adopt`` (see ``recheck_deletion_timestamp``) is
    awaited before the first adoption; without it orphans are adopted unchecked."""

    def __init__(self, client: rest.Client, resource: registry.Resource, owner: dict,
                 selector: labels.Selector, api_version: str, kind: str,
                 can_adopt: Callable[[], Awaitable[None]] | None = None):
        self.client = client
        self.resource = resource
        self.owner = owner
        self.selector = selector
        self.api_version, self.kind = api_version, kind
        self.can_adopt = can_adopt

    async def claim(self, objects: Iterable[dict],
                    accept: Callable[[dict], bool] | None = None) -> list[dict]:
        """The objects this owner now controls (not copies); errors (after trying every
        object) are raised. ``accept`` narrows what matches beyond the selector (ClaimPods'
        filters): an owned object it refuses is released."""
        claimed, errors = [], []
        for obj in objects:
            try:
                if await self._claim_one(obj, accept):
                    claimed.append(obj)
            except (status.StatusError, rest.ClientError, RuntimeError) as e:
                errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _claim_one(self, obj: dict, accept: Callable[[dict], bool] | None) -> bool:
        owner_meta, obj_meta = meta(self.owner), meta(obj)
        ref = controller_of(obj)
        matches = self.selector.matches(obj_meta.get("labels") or {}) and (accept is None or accept(obj))
        if ref is not None:
            if ref.get("uid") != owner_meta["uid"]:
                return False  # someone else's
            if matches:
                return True
            if is_being_deleted(self.owner):
                return False
            await self._release(obj)
            return False
        if is_being_deleted(self.owner) or not matches or is_being_deleted(obj):
            return False
        if owner_meta.get("namespace") and owner_meta["namespace"] != obj_meta.get("namespace"):
            return False
        try:
            await self._adopt(obj)
        except status.StatusError as e:
            if e.code == 404:
                return False
            raise
        return True

    async def _adopt(self, obj: dict) -> None:
        if self.can_adopt is not None:
            try:
                await self.can_adopt()
            except RuntimeError as e:
                m = meta(obj)
                raise RuntimeError(f"can't adopt {self.resource.kind} {m.get('namespace')}/{m['name']} "
                                   f"({m.get('uid')}): {e}") from e
        # Strategic merge on ownerReferences (merge key uid); the server refuses it when
        # another controller reference exists. The uid pins the object we looked at.
        body = {"metadata": {"ownerReferences": [controller_ref(self.owner, self.api_version, self.kind)],
                             "uid": meta(obj)["uid"]}}
        await self._patch(obj, body)

    async def _release(self, obj: dict) -> None:
        body = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": meta(self.owner)["uid"]}],
                             "uid": meta(obj)["uid"]}}
        log.info("releasing %s %s from %s %s", self.resource.kind, meta(obj)["name"], self.kind,
                 meta(self.owner)["name"])
        try:
            await self._patch(obj, body)
        except status.StatusError as e:
            # Gone, or recreated under another uid / no owner references left: nothing to release.
            if e.code in (404, 422):
                return
            raise

    async def _patch(self, obj: dict, body: dict) -> None:
        m = meta(obj)
        await self.client.patch(self.resource, m["name"], body, namespace=m.get("namespace"),
                                patch_type="strategic")
