"""Writing the objects a controller owns: pods from a template, deletions, and
ownership (adoption and release), as kube-controller-manager's RealPodControl
(controller_utils.go) and ControllerRefManager (controller_ref_manager.go).

Also the pod predicates every workload controller reads (active, ready,
available), the order in which surplus pods are deleted (ActivePodsWithRanks),
and ownerReference helpers. Objects are plain dicts; nothing here mutates an
object it is given.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta, timezone
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
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


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


# --- object meta ---

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


def is_being_deleted(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def has_status_cause(err: Exception, cause: str) -> bool:
    if not isinstance(err, status.StatusError):
        return False
    causes = (err.status.get("details") or {}).get("causes") or []
    return any(c.get("type") == cause or c.get("reason") == cause for c in causes)


# --- pod predicates (pkg/api/v1/pod, controller_utils.go) ---

def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def is_pod_active(pod: dict) -> bool:
    """Not terminal and not being deleted: it counts toward a controller's replicas."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_being_deleted(pod)


def ready_condition(pod: dict) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c
    return None


def is_pod_ready(pod: dict) -> bool:
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def is_pod_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least minReadySeconds (strictly before now, as upstream)."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time(ready_condition(pod).get("lastTransitionTime"))
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def pod_key(pod: dict) -> str:
    return f"{meta(pod).get('namespace', '')}/{meta(pod)['name']}"


# --- which pods to delete first (controller_utils.go ActivePodsWithRanks) ---

def deletion_cost(pod: dict) -> int:
    try:
        return int((meta(pod).get("annotations") or {}).get(POD_DELETION_COST, "0"))
    except ValueError:
        return 0


def _ready_time(pod: dict) -> datetime | None:
    if is_pod_ready(pod):
        return parse_time(ready_condition(pod).get("lastTransitionTime"))
    return None


def _max_restarts(pod: dict) -> int:
    return max((c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _log_rank_diff(t1: datetime, t2: datetime, now: datetime) -> int:
    def rank(t: datetime) -> int:
        ns = (now - t).total_seconds() * 1e9
        return int(math.log2(ns)) if ns > 0 else -1
    return rank(t1) - rank(t2)


def _newer_first(t1: datetime | None, t2: datetime | None, u1: str, u2: str, now: datetime | None) -> bool | None:
    """Compare two times, zero first, then later first (on a log scale when ``now`` is set,
    uids breaking ties); None when equal."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:
        return t1 is None
    if now is None:
        return t1 > t2
    diff = _log_rank_diff(t1, t2, now)
    return u1 < u2 if diff == 0 else diff < 0


def pod_less(a: dict, b: dict, rank_a: int, rank_b: int, now: datetime | None) -> bool:
    """True when ``a`` should be deleted before ``b``: unassigned < assigned; Pending <
    Unknown < Running; not ready < ready; lower pod-deletion-cost; more pods of the same
    owners on its node; ready more recently; more restarts; created more recently."""
    na, nb = (a.get("spec") or {}).get("nodeName", ""), (b.get("spec") or {}).get("nodeName", "")
    if na != nb and (not na or not nb):
        return not na
    pa, pb = _PHASE_ORDINAL.get(phase(a), 0), _PHASE_ORDINAL.get(phase(b), 0)
    if pa != pb:
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return not ra
    ca, cb = deletion_cost(a), deletion_cost(b)
    if ca != cb:
        return ca < cb
    if rank_a != rank_b:
        return rank_a > rank_b
    ua, ub = meta(a).get("uid", ""), meta(b).get("uid", "")
    if ra and rb:
        newer = _newer_first(_ready_time(a), _ready_time(b), ua, ub, now)
        if newer is not None:
            return newer
    if _max_restarts(a) != _max_restarts(b):
        return _max_restarts(a) > _max_restarts(b)
    ta = parse_time(meta(a).get("creationTimestamp"))
    tb = parse_time(meta(b).get("creationTimestamp"))
    newer = _newer_first(ta, tb, ua, ub, now)
    return bool(newer)


def pods_to_delete(pods: list[dict], related: list[dict], diff: int, now: datetime | None) -> list[dict]:
    """getPodsToDelete: the ``diff`` pods to delete first, ranked by how many active
    related pods (of the same owner's replica sets) share their node."""
    if diff >= len(pods):
        return pods[:diff]
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName", "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(p, on_node.get((p.get("spec") or {}).get("nodeName", ""), 0)) for p in pods]

    def cmp(x, y) -> int:
        if pod_less(x[0], y[0], x[1], y[1], now):
            return -1
        return 1 if pod_less(y[0], x[0], y[1], x[1], now) else 0
    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked[:diff]]


# --- pods from templates ---

def pods_prefix(owner_name: str) -> str:
    """getPodsPrefix: ``<owner>-`` unless that is not a valid generateName."""
    prefix = f"{owner_name}-"
    return owner_name if names.name_is_dns_subdomain(prefix, True) else prefix


def pod_from_template(template: dict, owner: dict, ref: dict | None) -> dict:
    """GetPodFromTemplate: labels, annotations and finalizers of the template, a
    generateName from the owner, the controller reference, and the spec."""
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {"generateName": pods_prefix(meta(owner)["name"])}
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

    async def create_pod(self, namespace: str, template: dict, owner: dict, ref: dict) -> dict:
        pod = pod_from_template(template, owner, ref)
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


def recheck_deletion_timestamp(get_fresh: Callable[[], Awaitable[dict]]) -> Callable[[], Awaitable[None]]:
    """RecheckDeletionTimestamp: before adopting, a quorum GET of the owner must show it
    still exists (same uid) and is not being deleted. Checked once per claim round."""
    result: list[Exception | None] = []

    async def can_adopt() -> None:
        if not result:
            try:
                fresh = await get_fresh()
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
    """Claims objects (pods, or a deployment's replica sets) for one owner: keeps those it
    controls that still match, adopts matching orphans, releases its own that no longer match."""

    def __init__(self, client: rest.Client, resource: registry.Resource, owner: dict,
                 selector: labels.Selector, api_version: str, kind: str,
                 can_adopt: Callable[[], Awaitable[None]]):
        self.client = client
        self.resource = resource
        self.owner = owner
        self.selector = selector
        self.api_version, self.kind = api_version, kind
        self.can_adopt = can_adopt

    async def claim(self, objects: Iterable[dict]) -> list[dict]:
        """The objects this owner now controls; errors (after trying every object) are raised."""
        claimed, errors = [], []
        for obj in objects:
            try:
                if await self._claim_one(obj):
                    claimed.append(obj)
            except (status.StatusError, rest.ClientError, RuntimeError) as e:
                errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _claim_one(self, obj: dict) -> bool:
        owner_meta, obj_meta = meta(self.owner), meta(obj)
        ref = controller_of(obj)
        matches = self.selector.matches(obj_meta.get("labels") or {})
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


async def gather_errors(coros: Iterable[Awaitable[Any]]) -> list[BaseException]:
    """Run coroutines concurrently; the exceptions (not CancelledError) they raised."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, asyncio.CancelledError):
            raise r
    return [r for r in results if isinstance(r, BaseException)]
