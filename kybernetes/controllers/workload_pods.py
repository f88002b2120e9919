"""What the workload controllers (daemonset, statefulset, job) share about pods.

kube-controller-manager keeps these in ``pkg/controller/controller_utils.go``,
``pkg/api/v1/pod/util.go`` and ``ControllerRefManager``: pod readiness and
availability, controller references, building a pod from a template,
adopting orphans and releasing pods that no longer match, the
ActivePods ordering, timestamps as the API writes them, and
``Expectations`` (client-go's ControllerExpectations: a controller that has
just created or deleted pods waits until its informer has seen them before
acting again, so it never over-creates while its own writes are in flight).

The ReplicaSet engineer's ``podcontrol``/``expectations`` modules play the same
role for their controllers; these are private equivalents so the workload
controllers do not depend on work in progress.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from kybernetes.api import labels, registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import rest

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")

Obj = dict[str, Any]


# --- time, as metav1.Time serialises it ---

def timestamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- metadata ---

def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def controller_ref(obj: Obj) -> Obj | None:
    """metav1.GetControllerOf: the ownerReference with ``controller: true``."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    """metav1.NewControllerRef."""
    m = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owner_key(obj: Obj, kind: str) -> str | None:
    """``namespace/name`` of the controller of ``obj`` when it is a ``kind``."""
    ref = controller_ref(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    return f"{meta(obj).get('namespace', '')}/{ref.get('name', '')}"


def namespace_terminating(e: Exception) -> bool:
    """The API refused a create because the namespace is being deleted
    (``HasStatusCause(err, NamespaceTerminatingCause)``): nothing to retry."""
    if not isinstance(e, status.StatusError):
        return False
    causes = (e.status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


# --- pod state (pkg/api/v1/pod/util.go) ---

def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase", "")


def ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c
    return None


def is_ready(pod: Obj) -> bool:
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """IsPodAvailable: ready, and for at least minReadySeconds."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() > min_ready_seconds


def is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not finished and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def restarts(pod: Obj) -> int:
    st = pod.get("status") or {}
    return sum(c.get("restartCount", 0) for c in (st.get("containerStatuses") or []))


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def active_pods_key(pod: Obj) -> tuple:
    """controller.ActivePods ordering: pods sorting first are deleted first
    (unscheduled, pending, not ready, ready for less time, more restarts, newer)."""
    cond = ready_condition(pod) or {}
    ready_since = cond.get("lastTransitionTime") or "" if is_ready(pod) else ""
    created = meta(pod).get("creationTimestamp") or ""
    return (bool((pod.get("spec") or {}).get("nodeName")), _PHASE_RANK.get(phase(pod), 3),
            is_ready(pod), _Desc(ready_since), -restarts(pod), _Desc(created))


@dataclass(frozen=True, order=False)
class _Desc:
    """Sorts strings (RFC 3339 timestamps) in reverse: newer first."""
    value: str

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value


# --- building pods (controller.GetPodFromTemplate) ---

def pod_from_template(template: Obj, owner: Obj, ref: Obj, *, generate_name: str | None = None) -> Obj:
    """A new pod from a PodTemplateSpec, owned by ``owner`` through ``ref``."""
    tmeta = template.get("metadata") or {}
    m: Obj = {"namespace": meta(owner).get("namespace"),
              "generateName": generate_name or f"{meta(owner)['name']}-",
              "labels": dict(tmeta.get("labels") or {}),
              "ownerReferences": [dict(ref)]}
    if tmeta.get("annotations"):
        m["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        m["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m,
            "spec": copy.deepcopy(template.get("spec") or {})}


# --- ControllerRefManager.ClaimPods ---

async def claim(client: rest.Client, resource: registry.Resource, owner: Obj, ref: Obj,
                selector: labels.Selector, objects: list[Obj],
                accept: Callable[[Obj], bool] | None = None) -> list[Obj]:
    """The objects ``owner`` controls after adopting matching orphans and
    releasing owned objects that no longer match (the objects are not copied).
    ``accept`` narrows what matches beyond the selector (ClaimPods' filters)."""
    owner_uid = meta(owner).get("uid")
    deleting = bool(meta(owner).get("deletionTimestamp"))
    claimed = []
    for obj in objects:
        m = meta(obj)
        cref = controller_ref(obj)
        matches = selector.matches(m.get("labels")) and (accept is None or accept(obj))
        if cref is not None:
            if cref.get("uid") != owner_uid:
                continue
            if matches:
                claimed.append(obj)
            elif not deleting:
                await _patch_refs(client, resource, obj,
                                  [{"$patch": "delete", "uid": owner_uid}], missing_ok=True)
            continue
        if not matches or deleting or m.get("deletionTimestamp"):
            continue
        try:
            await _patch_refs(client, resource, obj, [ref])
        except status.StatusError as e:
            if e.code in (404, 422):  # gone, or adopted by someone else meanwhile
                continue
            raise
        claimed.append(obj)
    return claimed


async def _patch_refs(client: rest.Client, resource: registry.Resource, obj: Obj, refs: list[Obj],
                      missing_ok: bool = False) -> None:
    m = meta(obj)
    body = {"metadata": {"ownerReferences": refs, "uid": m.get("uid")}}
    try:
        await client.patch(resource, m["name"], body, namespace=m.get("namespace"),
                           patch_type="strategic")
    except status.StatusError as e:
        if not (missing_ok and e.code in (404, 422)):
            raise


# --- ControllerExpectations ---

EXPECTATIONS_TTL = 300.0


class Expectations:
    """How many creations and deletions each controller key still waits to see.

    ``satisfied`` is true when nothing is pending, or when the record is older
    than five minutes (as client-go's, so a lost watch event cannot wedge a
    controller forever)."""

    def __init__(self, clock: clocks.Clock):
        self._clock = clock
        self._records: dict[str, list[float]] = {}

    def expect(self, key: str, adds: int = 0, dels: int = 0) -> None:
        self._records[key] = [float(adds), float(dels), self._clock.monotonic()]

    def lower(self, key: str, adds: int = 0, dels: int = 0) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec[0] -= adds
            rec[1] -= dels

    def creation_observed(self, key: str) -> None:
        self.lower(key, adds=1)

    def deletion_observed(self, key: str) -> None:
        self.lower(key, dels=1)

    def satisfied(self, key: str) -> bool:
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec[0] <= 0 and rec[1] <= 0:
            return True
        return self._clock.monotonic() - rec[2] > EXPECTATIONS_TTL

    def delete(self, key: str) -> None:
        self._records.pop(key, None)


async def slow_start(count: int, create: Any, initial: int = 1) -> tuple[int, list[Exception]]:
    """controller.slowStartBatch: call ``create(i)`` in batches of 1, 2, 4 …,
    stopping after the first batch with an error. Returns (successes, errors);
    indexes never attempted are ``count - successes - len(errors)``."""
    done, errors, pos, batch = 0, [], 0, min(count, initial)
    while batch > 0:
        results = await asyncio.gather(*(create(i) for i in range(pos, pos + batch)),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, Exception)]
        errors.extend(failed)
        done += batch - len(failed)
        pos += batch
        if failed:
            break
        batch = min(2 * batch, count - pos)
    return done, errors
