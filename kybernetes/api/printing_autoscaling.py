"""Table printers for HorizontalPodAutoscaler and PodDisruptionBudget.

TARGETS is upstream's ``formatHPAMetrics``: ``cpu: 50%/80%`` for utilization,
``memory: 90Mi/100Mi`` for average values, ``<unknown>`` until the status
reports a current value, two metrics at most then ``+ N more...``. An
autoscaling/v1 object's single CPU target reads the same as its v2 form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api.printing_base import (
    AGE,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    dig,
    int_or_string,
    name,
    num,
    quantity,
    text,
)

HPA = "io.k8s.api.autoscaling.v2."

HPA_COLUMNS = (
    NAME,
    Col("Reference", doc=(HPA + "HorizontalPodAutoscalerSpec", "scaleTargetRef")),
    Col("Targets", doc=(HPA + "HorizontalPodAutoscalerSpec", "metrics")),
    Col("MinPods", doc=(HPA + "HorizontalPodAutoscalerSpec", "minReplicas")),
    Col("MaxPods", doc=(HPA + "HorizontalPodAutoscalerSpec", "maxReplicas")),
    Col("Replicas", doc=(HPA + "HorizontalPodAutoscalerStatus", "currentReplicas")),
    AGE,
)
PDB_COLUMNS = (
    NAME,
    Col("Min Available", doc="The minimum number of pods that must be available."),
    Col("Max Unavailable", doc="The maximum number of pods that may be unavailable."),
    Col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
)

# MetricSpec.type -> the field of MetricSpec/MetricStatus holding that source.
_SOURCES = {"External": "external", "Pods": "pods", "Object": "object", "Resource": "resource",
            "ContainerResource": "containerResource"}


def _hpa_metrics(obj: Obj) -> tuple[list, list]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if "metrics" in spec or "targetCPUUtilizationPercentage" not in spec:
        return spec.get("metrics") or [], status.get("currentMetrics") or []
    # autoscaling/v1: one CPU utilization target.
    metric = {"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}}}
    current = []
    if status.get("currentCPUUtilizationPercentage") is not None:
        current = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    return [metric], current


def format_hpa_metrics(specs: list, statuses: list, max_items: int = 2) -> str:
    if not specs:
        return "<none>"
    items: list[str] = []
    for i, spec in enumerate(specs):
        kind = spec.get("type")
        field = _SOURCES.get(kind)
        if field is None:
            items.append("<unknown type>")
            continue
        source = spec.get(field) or {}
        target = source.get("target") or {}
        got = statuses[i].get(field) if i < len(statuses) and isinstance(statuses[i], dict) else None
        current = (got or {}).get("current") or {}
        prefix = f"{text(source.get('name'))}: " if kind in ("Resource", "ContainerResource") else ""
        if kind == "Pods":
            now_value = quantity(current.get("averageValue")) if got is not None else "<unknown>"
            items.append(f"{now_value}/{quantity(target.get('averageValue'))}")
        elif target.get("averageValue") is not None:
            if kind in ("Resource", "ContainerResource"):
                now_value = quantity(current.get("averageValue")) if got is not None else "<unknown>"
            else:
                now_value = quantity(current["averageValue"]) if current.get("averageValue") is not None else "<unknown>"
            suffix = " (avg)" if kind in ("External", "Object") else ""
            items.append(f"{prefix}{now_value}/{quantity(target['averageValue'])}{suffix}")
        elif kind in ("Resource", "ContainerResource"):
            util = current.get("averageUtilization")
            now_value = f"{num(util)}%" if util is not None else "<unknown>"
            goal = target.get("averageUtilization")
            items.append(f"{prefix}{now_value}/{f'{num(goal)}%' if goal is not None else '<auto>'}")
        else:
            now_value = quantity(current.get("value")) if got is not None else "<unknown>"
            items.append(f"{now_value}/{quantity(target.get('value'))}")
    if len(items) > max_items:
        return ", ".join(items[:max_items]) + f" + {len(items) - max_items} more..."
    return ", ".join(items)


def hpa_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [
        name(obj),
        f"{text(ref.get('kind'))}/{text(ref.get('name'))}",
        format_hpa_metrics(*_hpa_metrics(obj)),
        str(num(min_replicas)) if min_replicas is not None else "<unset>",
        num(spec.get("maxReplicas")),
        num(dig(obj, "status", "currentReplicas")),
        age(obj, now),
    ]


def pdb_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [
        name(obj),
        int_or_string(min_available) if min_available is not None else "N/A",
        int_or_string(max_unavailable) if max_unavailable is not None else "N/A",
        num(dig(obj, "status", "disruptionsAllowed")),
        age(obj, now),
    ]


PRINTERS = {
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(HPA_COLUMNS, hpa_cells),
    ("policy", "PodDisruptionBudget"): Printer(PDB_COLUMNS, pdb_cells),
}
