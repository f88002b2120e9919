"""Node health bookkeeping for the node lifecycle controller: pure functions, no I/O.

- ``try_update_health``: upstream's tryUpdateNodeHealth. The controller keeps,
  per node, when it last saw a sign of life (a new Ready heartbeat or a
  renewed Lease in kube-node-lease) by its own clock; past the grace period
  (``node_startup_grace_period`` before the kubelet ever posted Ready,
  ``node_monitor_grace_period`` after) the node's Ready, MemoryPressure,
  DiskPressure and PIDPressure conditions become Unknown (NodeStatusUnknown,
  "Kubelet stopped posting node status.").
- Taints: the NoExecute templates, the NoSchedule taints the node's
  conditions call for (TaintNodesByCondition), and applying adds/removes.
- Zones: upstream's zone key and zone state (Normal, PartialDisruption,
  FullDisruption) that set how fast nodes may be NoExecute-tainted.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kybernetes.api import durations

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
UNREACHABLE_TAINT = {"key": UNREACHABLE, "effect": "NoExecute"}
NOT_READY_TAINT = {"key": NOT_READY, "effect": "NoExecute"}

# NodeConditionType -> {status: taint key}, as nodeConditionToTaintKeyStatusMap.
CONDITION_TAINTS = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
CONDITION_TAINT_KEYS = {key for m in CONDITION_TAINTS.values() for key in m.values()}
# NetworkUnavailable is managed by the network plugin: the controller leaves it alone.
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

INITIAL, NORMAL, FULL_DISRUPTION, PARTIAL_DISRUPTION = ("Initial", "Normal", "FullDisruption",
                                                        "PartialDisruption")
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == type_), None)


def ready_status(node: dict[str, Any]) -> str | None:
    c = condition(node.get("status"), "Ready")
    return c.get("status") if c else None


@dataclass
class NodeHealth:
    """What the controller last saw of a node, and when (nodeHealthData)."""

    status: dict[str, Any]
    probe: datetime  # last time a sign of life was observed
    ready_transition: datetime
    lease: dict[str, Any] | None = None


def _renew_time(lease: dict[str, Any] | None) -> datetime | None:
    return durations.parse_timestamp(((lease or {}).get("spec") or {}).get("renewTime") or "")


def try_update_health(node: dict[str, Any], health: NodeHealth | None, lease: dict[str, Any] | None,
                      now: datetime, startup_grace: float, monitor_grace: float
                      ) -> tuple[NodeHealth, dict[str, Any], dict[str, Any] | None, bool]:
    """Update ``node`` (a private copy) as tryUpdateNodeHealth does.

    Returns (health, observed Ready condition, current Ready condition, whether
    the node's status must be written).
    """
    status = node.setdefault("status", {})
    current = condition(status, "Ready")
    created_text = node["metadata"].get("creationTimestamp") or timestamp(now)
    created = durations.parse_timestamp(created_text) or now
    if current is None:
        # Never posted: a fake Unknown condition dated at creation, and the startup grace.
        observed = {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created_text,
                    "lastTransitionTime": created_text}
        grace = startup_grace
        if health is not None:
            health.status = copy.deepcopy(status)
        else:
            health = NodeHealth(copy.deepcopy(status), created, created)
    else:
        observed = dict(current)
        grace = monitor_grace
    saved = condition(health.status, "Ready") if health else None
    saved_lease = health.lease if health else None
    if health is None or (saved is None) != (current is None):
        health = NodeHealth(copy.deepcopy(status), now, now)
    elif saved is not None and current is not None \
            and saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
        transition = now if saved.get("lastTransitionTime") != current.get("lastTransitionTime") \
            else health.ready_transition
        health = NodeHealth(copy.deepcopy(status), now, transition, health.lease)
    # A renewed Lease always counts as a sign of life.
    renewed = _renew_time(lease)
    if lease is not None and renewed is not None and (
            saved_lease is None or (_renew_time(saved_lease) or renewed) < renewed):
        health.lease = lease
        health.probe = now
    if now <= health.probe + timedelta(seconds=grace):
        return health, observed, current, False
    now_text = timestamp(now)
    conditions = status.setdefault("conditions", [])
    for type_ in MONITORED_CONDITIONS:
        c = condition(status, type_)
        if c is None:
            conditions.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": created_text, "lastTransitionTime": now_text})
        elif c.get("status") != "Unknown":
            c.update(status="Unknown", reason="NodeStatusUnknown",
                     message="Kubelet stopped posting node status.", lastTransitionTime=now_text)
    current = condition(status, "Ready")
    return health, observed, current, current != observed


# --- taints ---

def same_taint(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """MatchTaint: the same key and effect."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def has_taint(node: dict[str, Any], template: dict[str, Any]) -> bool:
    return any(same_taint(t, template) for t in (node.get("spec") or {}).get("taints") or [])


def with_taints(taints: list[dict[str, Any]], add: list[dict[str, Any]], remove: list[dict[str, Any]],
                now: datetime) -> list[dict[str, Any]]:
    """``taints`` without ``remove`` and with ``add`` (timeAdded now); a taint already
    there with the same value keeps its timeAdded."""
    out = [t for t in taints if not any(same_taint(t, r) for r in remove)]
    for a in add:
        old = next((t for t in out if same_taint(t, a)), None)
        if old is not None and old.get("value", "") == a.get("value", ""):
            continue
        out = [t for t in out if not same_taint(t, a)]
        out.append({**a, "timeAdded": timestamp(now)})
    return out


def condition_taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The NoSchedule taints the node's conditions (and spec.unschedulable) call for."""
    out = []
    for c in (node.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get(c.get("type", ""), {}).get(c.get("status", ""))
        if key:
            out.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        out.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
    return out


def managed_no_schedule(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The node's NoSchedule taints that the controller owns."""
    return [t for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") == "NoSchedule"
            and (t.get("key") == UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)]


# --- zones ---

def zone_key(node: dict[str, Any]) -> str:
    labels = node["metadata"].get("labels") or {}
    zone = labels.get("topology.kubernetes.io/zone", labels.get("failure-domain.beta.kubernetes.io/zone", ""))
    region = labels.get("topology.kubernetes.io/region",
                        labels.get("failure-domain.beta.kubernetes.io/region", ""))
    return "" if not region and not zone else f"{region}:\x00:{zone}"


def excluded_from_disruption(node: dict[str, Any]) -> bool:
    return EXCLUDE_DISRUPTION_LABEL in (node["metadata"].get("labels") or {})


def zone_state(ready: list[str | None], unhealthy_threshold: float) -> tuple[int, str]:
    """ComputeZoneState: (not ready count, state) from the nodes' Ready statuses."""
    ready_count = sum(1 for s in ready if s == "True")
    not_ready = len(ready) - ready_count
    if ready_count == 0 and not_ready > 0:
        return not_ready, FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready_count) >= unhealthy_threshold:
        return not_ready, PARTIAL_DISRUPTION
    return not_ready, NORMAL
