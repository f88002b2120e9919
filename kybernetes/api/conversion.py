"""Conversion between the versions of a kind that share one storage.

kube-apiserver serves some objects under two group versions: events.k8s.io/v1
Events are core/v1 Events (stored as core/v1), and autoscaling/v1 HPAs are
autoscaling/v2 HPAs (stored as v2). The server stores the storage version and
converts on the way in and out, exactly as upstream's conversion functions do:
renamed Event fields, and for HPAs the v2 fields v1 cannot hold carried in
``autoscaling.alpha.kubernetes.io/*`` annotations so they survive a round trip.

Pure functions on plain dicts; the input is never mutated.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

Obj = dict[str, Any]

METRIC_SPECS = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (METRIC_SPECS, METRIC_STATUSES, CONDITIONS, BEHAVIOR)
DEFAULT_CPU_UTILIZATION = 80


class NotConvertible(ValueError):
    """No conversion exists between the object's version and the one asked for."""


def convert(obj: Obj, to_api_version: str) -> Obj:
    """``obj`` in ``to_api_version`` ("v1", "events.k8s.io/v1", "autoscaling/v2").

    Returns ``obj`` itself when it already is in that version; raises
    ``NotConvertible`` for a pair of versions no served kind has.
    """
    source = obj.get("apiVersion", "")
    if source == to_api_version:
        return obj
    convert_fn = _CONVERSIONS.get((obj.get("kind", ""), source, to_api_version))
    if convert_fn is None:
        raise NotConvertible(f"no conversion for {obj.get('kind')} from {source!r} "
                             f"to {to_api_version!r}")
    return convert_fn(obj)


def convertible(kind: str, from_api_version: str, to_api_version: str) -> bool:
    return from_api_version == to_api_version or \
        (kind, from_api_version, to_api_version) in _CONVERSIONS


def _dumps(value: Any) -> str:
    # Go's json.Marshal: compact, no spaces; key order is the struct's field order.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pick(src: Obj, *names: str) -> Obj:
    return {n: copy.deepcopy(src[n]) for n in names if src.get(n) is not None}


# --- Events: core/v1 <-> events.k8s.io/v1 (pkg/apis/events/v1/conversion.go) ---

# (core name, events.k8s.io name) for fields that are only renamed.
_EVENT_RENAMES = (
    ("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"), ("reportingComponent", "reportingController"),
)
_EVENT_SAME = ("metadata", "eventTime", "series", "reportingInstance", "action", "reason",
               "related", "type")


def _event_rename(obj: Obj, pairs: tuple[tuple[str, str], ...]) -> Obj:
    out = _pick(obj, *_EVENT_SAME)
    for src, dst in pairs:
        if obj.get(src) not in (None, "", 0) or src in ("involvedObject", "regarding"):
            out[dst] = copy.deepcopy(obj.get(src))
    return out


def core_event_to_events_v1(obj: Obj) -> Obj:
    out = _event_rename(obj, _EVENT_RENAMES)
    # Fields Go always serializes (struct-typed or without omitempty), as a GET shows them.
    out.setdefault("eventTime", None)
    out["regarding"] = out.get("regarding") or {}
    out.setdefault("deprecatedSource", {})
    out.setdefault("deprecatedFirstTimestamp", None)
    out.setdefault("deprecatedLastTimestamp", None)
    return {"kind": "Event", "apiVersion": "events.k8s.io/v1", **out}


def events_v1_to_core_event(obj: Obj) -> Obj:
    out = _event_rename(obj, tuple((b, a) for a, b in _EVENT_RENAMES))
    out["involvedObject"] = out.get("involvedObject") or {}
    out.setdefault("source", {})
    out.setdefault("firstTimestamp", None)
    out.setdefault("lastTimestamp", None)
    out.setdefault("eventTime", None)
    out.setdefault("reportingComponent", "")
    out.setdefault("reportingInstance", "")
    return {"kind": "Event", "apiVersion": "v1", **out}


# --- HPAs: autoscaling/v1 <-> autoscaling/v2 (pkg/apis/autoscaling/v1/conversion.go) ---

def _is_cpu(metric: Obj, part: str) -> bool:
    body = metric.get("resource") or {}
    return metric.get("type") == "Resource" and body.get("name") == "cpu" and \
        (body.get(part) or {}).get("averageUtilization") is not None


def _v2_metric_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    if (r := m.get("resource")) is not None:
        t = r.get("target") or {}
        out["resource"] = {"name": r.get("name", ""), **_ren(t, averageUtilization="targetAverageUtilization",
                                                            averageValue="targetAverageValue")}
    if (c := m.get("containerResource")) is not None:
        t = c.get("target") or {}
        out["containerResource"] = {"name": c.get("name", ""),
                                    **_ren(t, averageUtilization="targetAverageUtilization",
                                           averageValue="targetAverageValue"),
                                    "container": c.get("container", "")}
    if (p := m.get("pods")) is not None:
        ident, t = p.get("metric") or {}, p.get("target") or {}
        out["pods"] = {"metricName": ident.get("name", ""),
                       "targetAverageValue": t.get("averageValue") or "0", **_pick(ident, "selector")}
    if (o := m.get("object")) is not None:
        ident, t = o.get("metric") or {}, o.get("target") or {}
        out["object"] = {"target": _cross_ref(o.get("describedObject") or {}),
                         "metricName": ident.get("name", ""), "targetValue": t.get("value") or "0",
                         **_pick(ident, "selector"), **_pick(t, "averageValue")}
    if (e := m.get("external")) is not None:
        ident, t = e.get("metric") or {}, e.get("target") or {}
        out["external"] = {"metricName": ident.get("name", ""),
                           **_ren(ident, selector="metricSelector"),
                           **_ren(t, value="targetValue", averageValue="targetAverageValue")}
    return out


def _v1_metric_to_v2(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    for part in ("resource", "containerResource"):
        if (r := m.get(part)) is not None:
            util = r.get("targetAverageUtilization")
            target = {"type": "Utilization" if util is not None else "AverageValue",
                      **_ren(r, targetAverageUtilization="averageUtilization",
                             targetAverageValue="averageValue")}
            out[part] = {"name": r.get("name", ""), "target": target,
                         **({"container": r.get("container", "")} if part != "resource" else {})}
    if (p := m.get("pods")) is not None:
        out["pods"] = {"metric": {"name": p.get("metricName", ""), **_pick(p, "selector")},
                       "target": {"type": "AverageValue",
                                  "averageValue": p.get("targetAverageValue", "0")}}
    if (o := m.get("object")) is not None:
        kind = "Value" if o.get("averageValue") is None else "AverageValue"
        out["object"] = {"describedObject": _cross_ref(o.get("target") or {}),
                         "target": {"type": kind, "value": o.get("targetValue", "0"),
                                    **_pick(o, "averageValue")},
                         "metric": {"name": o.get("metricName", ""), **_pick(o, "selector")}}
    if (e := m.get("external")) is not None:
        kind = "AverageValue" if e.get("targetValue") is None else "Value"
        out["external"] = {"metric": {"name": e.get("metricName", ""),
                                      **_ren(e, metricSelector="selector")},
                           "target": {"type": kind, **_ren(e, targetValue="value",
                                                          targetAverageValue="averageValue")}}
    return out


def _v2_status_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    for part in ("resource", "containerResource"):
        if (r := m.get(part)) is not None:
            cur = r.get("current") or {}
            out[part] = {"name": r.get("name", ""),
                         **_ren(cur, averageUtilization="currentAverageUtilization"),
                         "currentAverageValue": cur.get("averageValue") or "0",
                         **({"container": r.get("container", "")} if part != "resource" else {})}
    if (p := m.get("pods")) is not None:
        ident, cur = p.get("metric") or {}, p.get("current") or {}
        out["pods"] = {"metricName": ident.get("name", ""),
                       "currentAverageValue": cur.get("averageValue") or "0", **_pick(ident, "selector")}
    if (o := m.get("object")) is not None:
        ident, cur = o.get("metric") or {}, o.get("current") or {}
        out["object"] = {"target": _cross_ref(o.get("describedObject") or {}),
                         "metricName": ident.get("name", ""), "currentValue": cur.get("value") or "0",
                         **_pick(ident, "selector"), **_pick(cur, "averageValue")}
    if (e := m.get("external")) is not None:
        ident, cur = e.get("metric") or {}, e.get("current") or {}
        out["external"] = {"metricName": ident.get("name", ""),
                           **_ren(ident, selector="metricSelector"),
                           "currentValue": cur.get("value") or "0",
                           **_ren(cur, averageValue="currentAverageValue")}
    return out


def _v1_status_to_v2(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    for part in ("resource", "containerResource"):
        if (r := m.get(part)) is not None:
            cur = {**_ren(r, currentAverageValue="averageValue",
                          currentAverageUtilization="averageUtilization")}
            out[part] = {"name": r.get("name", ""), "current": cur,
                         **({"container": r.get("container", "")} if part != "resource" else {})}
    if (p := m.get("pods")) is not None:
        out["pods"] = {"metric": {"name": p.get("metricName", ""), **_pick(p, "selector")},
                       "current": {"averageValue": p.get("currentAverageValue", "0")}}
    if (o := m.get("object")) is not None:
        out["object"] = {"metric": {"name": o.get("metricName", ""), **_pick(o, "selector")},
                         "current": {"value": o.get("currentValue", "0"), **_pick(o, "averageValue")},
                         "describedObject": _cross_ref(o.get("target") or {})}
    if (e := m.get("external")) is not None:
        out["external"] = {"metric": {"name": e.get("metricName", ""),
                                      **_ren(e, metricSelector="selector")},
                           "current": {"value": e.get("currentValue", "0"),
                                       **_ren(e, currentAverageValue="averageValue")}}
    return out


def _ren(src: Obj, **names: str) -> Obj:
    """The fields of ``src`` named by the keywords, under their new names (unset ones left out)."""
    return {new: copy.deepcopy(src[old]) for old, new in names.items() if src.get(old) is not None}


def _cross_ref(ref: Obj) -> Obj:
    return {"kind": ref.get("kind", ""), "name": ref.get("name", ""), **_pick(ref, "apiVersion")}


def _condition(c: Obj) -> Obj:
    return {"type": c.get("type", ""), "status": c.get("status", ""),
            "lastTransitionTime": c.get("lastTransitionTime"), **_pick(c, "reason", "message")}


# The behavior annotation holds upstream's *internal* type, marshalled without
# json tags: Go field names. Go's json.Unmarshal matches them case-insensitively.
_BEHAVIOR_KEYS = {"scaleUp": "ScaleUp", "scaleDown": "ScaleDown",
                  "stabilizationWindowSeconds": "StabilizationWindowSeconds",
                  "selectPolicy": "SelectPolicy", "policies": "Policies", "type": "Type",
                  "value": "Value", "periodSeconds": "PeriodSeconds"}


def _behavior_to_go(behavior: Obj) -> Obj:
    def rules(r: Obj | None) -> Obj | None:
        if r is None:
            return None
        return {"StabilizationWindowSeconds": r.get("stabilizationWindowSeconds"),
                "SelectPolicy": r.get("selectPolicy"),
                "Policies": [{"Type": p.get("type", ""), "Value": p.get("value", 0),
                              "PeriodSeconds": p.get("periodSeconds", 0)}
                             for p in r.get("policies") or []] or None}
    return {"ScaleUp": rules(behavior.get("scaleUp")), "ScaleDown": rules(behavior.get("scaleDown"))}


def _behavior_from_go(value: Any) -> Any:
    if isinstance(value, list):
        return [_behavior_from_go(v) for v in value]
    if not isinstance(value, dict):
        return value
    lower = {k.lower(): k for k in _BEHAVIOR_KEYS}
    return {lower[k.lower()]: _behavior_from_go(v) for k, v in value.items()
            if k.lower() in lower and v is not None}


def _without_round_trip(annotations: Obj | None) -> Obj:
    return {k: v for k, v in (annotations or {}).items() if k not in ROUND_TRIP_ANNOTATIONS}


def _metadata(obj: Obj, annotations: Obj) -> Obj:
    meta = copy.deepcopy(obj.get("metadata") or {})
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    return meta


def hpa_v2_to_v1(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metrics = spec.get("metrics") or []
    annotations = _without_round_trip((obj.get("metadata") or {}).get("annotations"))
    other = [_v2_metric_to_v1(m) for m in metrics if not _is_cpu(m, "target")]
    if other:
        annotations[METRIC_SPECS] = _dumps(other)
    if status.get("currentMetrics"):
        annotations[METRIC_STATUSES] = _dumps([_v2_status_to_v1(m) for m in status["currentMetrics"]])
    if status.get("conditions"):
        annotations[CONDITIONS] = _dumps([_condition(c) for c in status["conditions"]])
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR] = _dumps(_behavior_to_go(spec["behavior"]))
    v1_spec: Obj = {"scaleTargetRef": _cross_ref(spec.get("scaleTargetRef") or {}),
                    **_pick(spec, "minReplicas"), "maxReplicas": spec.get("maxReplicas", 0)}
    cpu = next((m for m in metrics if m.get("type") == "Resource"
                and (m.get("resource") or {}).get("name") == "cpu"), None)
    if cpu is not None and _is_cpu(cpu, "target"):
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    v1_status: Obj = {**_pick(status, "observedGeneration", "lastScaleTime"),
                      "currentReplicas": status.get("currentReplicas", 0),
                      "desiredReplicas": status.get("desiredReplicas", 0)}
    for m in status.get("currentMetrics") or []:
        if _is_cpu(m, "current"):
            v1_status["currentCPUUtilizationPercentage"] = m["resource"]["current"]["averageUtilization"]
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
            "metadata": _metadata(obj, annotations), "spec": v1_spec, "status": v1_status}


def _annotation_list(annotations: Obj, key: str) -> list[Any] | None:
    try:
        value = json.loads(annotations[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if isinstance(value, list) else None


def hpa_v1_to_v2(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    metrics: list[Obj] = []
    if (cpu := spec.get("targetCPUUtilizationPercentage")) is not None:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}})
    if (other := _annotation_list(annotations, METRIC_SPECS)) is not None:
        metrics = [_v1_metric_to_v2(m) for m in other if isinstance(m, dict)] + metrics
    if not metrics:
        # autoscaling/v1's implicit default, made explicit as upstream's conversion does.
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    v2_spec: Obj = {"scaleTargetRef": _cross_ref(spec.get("scaleTargetRef") or {}),
                    **_pick(spec, "minReplicas"), "maxReplicas": spec.get("maxReplicas", 0),
                    "metrics": metrics}
    try:
        behavior = _behavior_from_go(json.loads(annotations[BEHAVIOR]))
    except (KeyError, TypeError, ValueError):
        behavior = None
    if isinstance(behavior, dict) and behavior:
        v2_spec["behavior"] = behavior
    v2_status: Obj = {**_pick(status, "observedGeneration", "lastScaleTime"),
                      **({"currentReplicas": status["currentReplicas"]}
                         if status.get("currentReplicas") else {}),
                      "desiredReplicas": status.get("desiredReplicas", 0)}
    current = _annotation_list(annotations, METRIC_STATUSES)
    if current is not None:
        v2_status["currentMetrics"] = [_v1_status_to_v2(m) for m in current if isinstance(m, dict)]
    elif (util := status.get("currentCPUUtilizationPercentage")) is not None:
        v2_status["currentMetrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": util}}}]
    if (conditions := _annotation_list(annotations, CONDITIONS)) is not None:
        v2_status["conditions"] = [_condition(c) for c in conditions if isinstance(c, dict)]
    if not v2_status.get("currentMetrics"):
        v2_status.pop("currentMetrics", None)
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
            "metadata": _metadata(obj, _without_round_trip(annotations)),
            "spec": v2_spec, "status": v2_status}


_CONVERSIONS: dict[tuple[str, str, str], Callable[[Obj], Obj]] = {
    ("Event", "v1", "events.k8s.io/v1"): core_event_to_events_v1,
    ("Event", "events.k8s.io/v1", "v1"): events_v1_to_core_event,
    ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
    ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
}
