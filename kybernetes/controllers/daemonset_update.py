"""DaemonSet updates: template history and the RollingUpdate plan (``daemon/update.go``).

``construct_history`` finds (or creates) the ControllerRevision of the
current template; its ``controller-revision-hash`` label is the hash every
new daemon pod is labelled with, and pods with another hash are old.
``rolling_update_plan`` chooses, within maxUnavailable (without surge) or
maxSurge (with surge), which old pods to delete and which nodes get a new
pod next to an old one; the manage loop does the rest. ``cleanup_history``
keeps ``revisionHistoryLimit`` unused old revisions.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

from kybernetes.api import labels, registry, status
from kybernetes.client import indexer, rest
from kybernetes.controllers import daemonset_nodes as dsn
from kybernetes.controllers import history, podcontrol, podutil

DAEMONSETS = registry.lookup("apps", "v1", "daemonsets")
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"

Obj = dict[str, Any]


def pod_template(ds: Obj, hash_: str) -> Obj:
    """util.CreatePodTemplate: the template with the daemon tolerations, the
    revision hash label and (if set) the deprecated template generation label."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    dsn.add_daemon_tolerations(template.setdefault("spec", {}))
    tlabels = template.setdefault("metadata", {}).setdefault("labels", {})
    generation = (podcontrol.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    if generation is not None:
        tlabels[TEMPLATE_GENERATION_LABEL] = generation
    if hash_:
        tlabels[history.REVISION_LABEL] = hash_
    return template


def scaled(value: int | str | None, total: int, default: int = 0) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounding up."""
    if value is None:
        return default
    if isinstance(value, str):
        if not value.endswith("%"):
            raise ValueError(f"invalid value for IntOrString: invalid value {value!r}")
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable); never both zero when pods are wanted."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    surge = scaled(ru.get("maxSurge"), desired)
    unavailable = scaled(ru.get("maxUnavailable"), desired, default=1)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def allows_surge(ds: Obj) -> bool:
    return surge_and_unavailable(ds, 1)[0] > 0


def is_updated(pod: Obj, hash_: str, ds: Obj) -> bool:
    """util.IsPodUpdated: the hash label, or the deprecated template generation."""
    pod_labels = podcontrol.meta(pod).get("labels") or {}
    generation = (podcontrol.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    if generation is not None and pod_labels.get(TEMPLATE_GENERATION_LABEL) == generation:
        return True
    return bool(hash_) and pod_labels.get(history.REVISION_LABEL) == hash_


def _new_and_old(ds: Obj, pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """findUpdatedPodsOnNode: at most one new and one old live pod, else ok=False."""
    new = old = None
    for pod in pods:
        if podcontrol.is_being_deleted(pod):
            continue
        if is_updated(pod, hash_, ds):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update_plan(ds: Obj, node_to_pods: dict[str, list[Obj]], wanted: dict[str, bool],
                        hash_: str, now: datetime) -> tuple[list[str], list[str]]:
    """(pods to delete, nodes to create a new pod on). ``wanted`` maps every
    node to whether the daemon pod should run there."""
    desired = sum(1 for v in wanted.values() if v)
    pods_by_node = {n: node_to_pods.get(n, []) for n, run in wanted.items() if run}
    for n, pods in node_to_pods.items():
        pods_by_node.setdefault(n, pods)
    max_surge, max_unavailable = surge_and_unavailable(ds, desired)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return podutil.is_pod_available(pod, min_ready, now)

    if max_surge == 0:
        unavailable, replace, candidates = 0, [], []
        for node, pods in pods_by_node.items():
            new, old, ok = _new_and_old(ds, pods, hash_)
            if not ok or (old is None) == (new is None):
                unavailable += 1  # the manage loop creates or prunes here
            elif new is not None:
                unavailable += 0 if available(new) else 1
            elif not available(old):
                replace.append(podcontrol.meta(old)["name"])
                unavailable += 1
            elif unavailable < max_unavailable:
                candidates.append(podcontrol.meta(old)["name"])
        room = max(0, min(max_unavailable - unavailable, len(candidates)))
        return replace + candidates[:room], []

    to_delete, sunset, candidates, allowed = [], [], [], []
    surging = available_count = 0
    for node, pods in pods_by_node.items():
        new, old, ok = _new_and_old(ds, pods, hash_)
        if not ok:
            surging += 1
            continue
        if (old is not None and available(old)) or (old is None and new is not None and available(new)):
            available_count += 1
        if old is None:
            continue
        if new is None:
            if not wanted.get(node, False):
                (to_delete if not available(old) else sunset).append(podcontrol.meta(old)["name"])
            elif not available(old):
                allowed.append(node)
            elif surging < max_surge:
                candidates.append(node)
        elif not available(new):
            surging += 1
        else:
            to_delete.append(podcontrol.meta(old)["name"])
    # With surge the owner expects full availability: a pod on a node it no longer
    # fits is deleted only once enough pods elsewhere are available.
    deletable = min(max(0, available_count - desired), len(sunset))
    to_delete += sunset[:deletable]
    room = max(0, min(max_surge - surging, len(candidates)))
    return to_delete, allowed + candidates[:room]


async def construct_history(client: rest.Client, store: indexer.Indexer, pods: list[Obj],
                            ds: Obj, ref: Obj) -> tuple[Obj, list[Obj]]:
    """(current revision, old revisions), creating the current one if needed."""
    selector = labels.from_label_selector((ds.get("spec") or {}).get("selector"))
    current, old = [], []
    for rev in await history.claimed(client, store, ds, ref, selector):
        if history.REVISION_LABEL not in (podcontrol.meta(rev).get("labels") or {}):
            rev = copy.deepcopy(rev)
            rev["metadata"].setdefault("labels", {})[history.REVISION_LABEL] = rev["metadata"]["name"]
            rev = await client.update(history.CONTROLLER_REVISIONS, rev)
        (current if history.matches(ds, rev) else old).append(rev)
    number = history.next_revision(old)
    if not current:
        return await _snapshot(client, ds, ref, number), old
    keep = max(current, key=lambda r: r.get("revision", 0))
    keep_hash = podcontrol.meta(keep)["labels"][history.REVISION_LABEL]
    if len(current) > 1:
        for pod in pods:
            if (podcontrol.meta(pod).get("labels") or {}).get(history.REVISION_LABEL) != keep_hash:
                m = podcontrol.meta(pod)
                await client.patch(podcontrol.PODS, m["name"], {"metadata": {"labels": {
                    history.REVISION_LABEL: keep_hash}}}, namespace=m.get("namespace"))
        for rev in current:
            if rev is not keep:
                await history.delete(client, rev)
    if keep.get("revision", 0) < number:
        keep = await history.set_revision_number(client, keep, number)
    return keep, old


async def _snapshot(client: rest.Client, ds: Obj, ref: Obj, number: int) -> Obj:
    collision = (ds.get("status") or {}).get("collisionCount")
    hash_ = history.template_hash((ds.get("spec") or {}).get("template") or {}, collision)
    rev = history.new_revision(ds, ref, number, hash_, history.REVISION_LABEL, hash_)
    try:
        return await client.create(history.CONTROLLER_REVISIONS, rev)
    except status.StatusError as e:
        if e.code != 409 or e.reason != "AlreadyExists":
            raise
        outer = e
    m = podcontrol.meta(ds)
    existing = await client.get(history.CONTROLLER_REVISIONS, rev["metadata"]["name"], m["namespace"])
    if history.matches(ds, existing):
        return existing
    # A hash collision with another template: bump collisionCount so the next hash differs.
    fresh = await client.get(DAEMONSETS, m["name"], m["namespace"])
    if (fresh.get("status") or {}).get("collisionCount") != collision:
        raise RuntimeError(f"stale collision count of DaemonSet {m['name']}; will retry")
    fresh.setdefault("status", {})["collisionCount"] = (collision or 0) + 1
    await client.update(DAEMONSETS, fresh, subresource="status")
    raise outer


async def cleanup_history(client: rest.Client, ds: Obj, old: list[Obj],
                          pods: list[Obj]) -> None:
    """Delete the oldest unused revisions beyond revisionHistoryLimit."""
    limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
    to_kill = len(old) - (10 if limit is None else int(limit))
    if to_kill <= 0:
        return
    live = {(podcontrol.meta(p).get("labels") or {}).get(history.REVISION_LABEL) for p in pods}
    for rev in sorted(old, key=history.sort_key):
        if to_kill <= 0:
            break
        if (podcontrol.meta(rev).get("labels") or {}).get(history.REVISION_LABEL) in live:
            continue
        await history.delete(client, rev)
        to_kill -= 1


def daemon_status(ds: Obj, node_to_pods: dict[str, list[Obj]], wanted: dict[str, bool],
                  hash_: str, now: datetime) -> dict[str, int]:
    """updateDaemonSetStatus's counts (the oldest pod on each node stands for it)."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
                            "numberReady", "updatedNumberScheduled", "numberAvailable"), 0)
    for node, run in wanted.items():
        pods = node_to_pods.get(node) or []
        if not run:
            counts["numberMisscheduled"] += 1 if pods else 0
            continue
        counts["desiredNumberScheduled"] += 1
        if not pods:
            continue
        counts["currentNumberScheduled"] += 1
        pod = sorted(pods, key=by_creation)[0]
        if podutil.is_pod_ready(pod):
            counts["numberReady"] += 1
            if podutil.is_pod_available(pod, min_ready, now):
                counts["numberAvailable"] += 1
        if is_updated(pod, hash_, ds):
            counts["updatedNumberScheduled"] += 1
    counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
    return counts


def by_creation(pod: Obj) -> tuple:
    """podByCreationTimestampAndPhase: scheduled first, then oldest, then by name."""
    m = podcontrol.meta(pod)
    return (not (pod.get("spec") or {}).get("nodeName"), m.get("creationTimestamp") or "",
            m.get("name", ""))

