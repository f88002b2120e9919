"""The Pod printer: READY, STATUS and RESTARTS exactly as ``kubectl get pods`` shows them.

STATUS is upstream's ``printPod`` reasoning: the phase (or ``status.reason``),
overridden by the first failing or waiting init container (``Init:0/2``,
``Init:CrashLoopBackOff``, ``Init:Error``), then by the containers' waiting or
terminated reasons (``ContainerCreating``, ``CrashLoopBackOff``,
``Completed``, ``Error``), then ``Terminating`` for a pod being deleted.
RESTARTS counts restarts and appends how long ago the last container
terminated (``3 (5m ago)``). Sidecars (init containers with
``restartPolicy: Always``) count as containers once started.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kybernetes.api import durations
from kybernetes.api.labels import format_labels
from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    containers_of,
    core,
    dig,
    name,
    num,
    text,
)

POD_COLUMNS = (
    NAME,
    Col("Ready", doc="The aggregate readiness state of this pod for accepting traffic."),
    Col("Status", doc="The aggregate status of the containers in this pod."),
    Col(
        "Restarts",
        doc="The number of times the containers in this pod have been restarted "
        "and when the last container in this pod has restarted.",
    ),
    AGE,
    Col("IP", doc=(core("PodStatus"), "podIP"), priority=1),
    Col("Node", doc=(core("PodSpec"), "nodeName"), priority=1),
    Col("Nominated Node", doc=(core("PodStatus"), "nominatedNodeName"), priority=1),
    Col("Readiness Gates", doc=(core("PodSpec"), "readinessGates"), priority=1),
)

_SUCCEEDED = [
    {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
]
_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]

# node.NodeUnreachablePodReason: the node controller's reason for pods on a lost node.
_NODE_LOST = "NodeLost"


def _restartable(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _finished_at(status: Any) -> datetime | None:
    terminated = dig(status, "lastState", "terminated")
    if not isinstance(terminated, dict):
        return None
    return durations.parse_timestamp(text(terminated.get("finishedAt")))


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or current < candidate else current


def _terminated_reason(terminated: dict, prefix: str) -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if num(terminated.get("signal")):
        return f"{prefix}Signal:{num(terminated.get('signal'))}"
    return f"{prefix}ExitCode:{num(terminated.get('exitCode'))}"


def _condition_true(status: Any, kind: str) -> bool:
    """The first condition of that type decides (isPodInitializedConditionTrue, hasPodReadyCondition)."""
    for cond in dig(status, "conditions", default=[]):
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def pod_status(pod: Obj, now: datetime) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) of one pod."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_specs = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    by_name = {c.get("name"): c for c in init_specs}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs if _restartable(c))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = text(status.get("phase"))
    reason = text(status.get("reason")) or phase
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        count = num(cs.get("restartCount"))
        restarts += count
        finished = _finished_at(cs)
        last_restart = _later(last_restart, finished)
        sidecar = _restartable(by_name.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(terminated, dict) and num(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            reason = _terminated_reason(terminated, "Init:")
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += num(cs.get("restartCount"))
            last_restart = _later(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = waiting["reason"]
            elif isinstance(terminated, dict):
                reason = _terminated_reason(terminated, "")
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        # A pod whose first container completed but another still runs is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = dig(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == _NODE_LOST:
        reason = "Unknown"
    elif deleting and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        restarts_text = f"{restarts} ({durations.human(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, restarts_text


def pod_cells(pod: Obj, now: datetime) -> list[Any]:
    ready, reason, restarts = pod_status(pod, now)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    pod_ip = text(dig(ips[0], "ip")) if ips else text(status.get("podIP"))
    gates = "<none>"
    readiness_gates = spec.get("readinessGates") or []
    if readiness_gates:
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        true_count = 0
        for gate in readiness_gates:
            for cond in conditions:
                if cond.get("type") == dig(gate, "conditionType"):
                    true_count += cond.get("status") == "True"
                    break
        gates = f"{true_count}/{len(readiness_gates)}"
    return [
        name(pod),
        ready,
        reason,
        restarts,
        age(pod, now),
        pod_ip or "<none>",
        text(spec.get("nodeName")) or "<none>",
        text(status.get("nominatedNodeName")) or "<none>",
        gates,
    ]


def pod_conditions(pod: Obj) -> list[dict[str, str]] | None:
    phase = dig(pod, "status", "phase")
    return _SUCCEEDED if phase == "Succeeded" else _FAILED if phase == "Failed" else None


POD_TEMPLATE_COLUMNS = (
    NAME,
    Col("Containers", doc="Names of each container in the template."),
    Col("Images", doc="Images referenced by each container in the template."),
    Col("Pod Labels", doc="The labels for the pod template."),
)


def pod_template_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_of(dig(obj, "template", "spec"))
    return [name(obj), names, images, format_labels(dig(obj, "template", "metadata", "labels"))]


PRINTERS = {
    ("", "Pod"): Printer(POD_COLUMNS, pod_cells, pod_conditions),
    ("", "PodTemplate"): Printer(POD_TEMPLATE_COLUMNS, pod_template_cells),
}
