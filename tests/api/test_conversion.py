"""Objects read through the other version of a shared storage look as upstream shows them."""

from __future__ import annotations

import copy
import json

import pytest

from kybernetes.api import conversion

CORE_EVENT = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "p.17a", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u1"},
    "reason": "Pulled", "message": "Successfully pulled image", "type": "Normal",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:05:00Z",
    "count": 3, "reportingComponent": "kubelet", "reportingInstance": "node-1",
}


def test_core_event_read_as_events_k8s_io() -> None:
    before = copy.deepcopy(CORE_EVENT)
    new = conversion.convert(CORE_EVENT, "events.k8s.io/v1")
    assert CORE_EVENT == before
    assert new["apiVersion"] == "events.k8s.io/v1" and new["kind"] == "Event"
    assert new["regarding"] == CORE_EVENT["involvedObject"]
    assert new["note"] == "Successfully pulled image"
    assert new["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert new["deprecatedFirstTimestamp"] == "2024-05-01T10:00:00Z"
    assert new["deprecatedLastTimestamp"] == "2024-05-01T10:05:00Z"
    assert new["deprecatedCount"] == 3
    assert new["reportingController"] == "kubelet"
    assert new["eventTime"] is None  # MicroTime without omitempty: Go writes null
    for old_name in ("involvedObject", "message", "source", "count", "reportingComponent"):
        assert old_name not in new


def test_events_k8s_io_event_stored_as_core_and_back() -> None:
    new = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "ns"},
        "eventTime": "2024-05-01T10:00:00.000000Z", "reportingController": "my-ctl",
        "reportingInstance": "my-ctl-1", "action": "Scale", "reason": "Scaled",
        "regarding": {"kind": "Deployment", "name": "d"}, "note": "scaled up", "type": "Normal",
        "series": {"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000000Z"},
    }
    core = conversion.convert(new, "v1")
    assert core["involvedObject"] == {"kind": "Deployment", "name": "d"}
    assert core["message"] == "scaled up"
    assert core["reportingComponent"] == "my-ctl"
    assert core["series"] == new["series"] and core["action"] == "Scale"
    assert core["source"] == {} and core["firstTimestamp"] is None
    back = conversion.convert(core, "events.k8s.io/v1")
    for key, value in new.items():
        assert back[key] == value, key


HPA_V2 = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 60}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                "type": "AverageValue", "averageValue": "10"}}},
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                   "policies": [{"type": "Percent", "value": 100,
                                                 "periodSeconds": 15}]}},
    },
    "status": {
        "currentReplicas": 2, "desiredReplicas": 3,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 75, "averageValue": "150m"}}}],
        "conditions": [{"type": "AbleToScale", "status": "True",
                        "lastTransitionTime": "2024-05-01T10:00:00Z", "reason": "Ready"}],
    },
}


def test_hpa_v2_read_as_v1_keeps_the_rest_in_annotations() -> None:
    v1 = conversion.convert(HPA_V2, "autoscaling/v1")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": HPA_V2["spec"]["scaleTargetRef"], "minReplicas": 1,
                          "maxReplicas": 10, "targetCPUUtilizationPercentage": 60}
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3,
                            "currentCPUUtilizationPercentage": 75}
    notes = v1["metadata"]["annotations"]
    assert notes["team"] == "a"
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
        {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}},
    ]
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/current-metrics"]) == [
        {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 75,
                                          "currentAverageValue": "150m"}}]
    assert json.loads(notes["autoscaling.alpha.kubernetes.io/conditions"])[0]["type"] == \
        "AbleToScale"
    # The behavior annotation holds upstream's internal type: Go field names.
    behavior = json.loads(notes["autoscaling.alpha.kubernetes.io/behavior"])
    assert behavior["ScaleDown"]["StabilizationWindowSeconds"] == 300
    assert behavior["ScaleUp"] is None


def test_hpa_round_trips_through_v1() -> None:
    back = conversion.convert(conversion.convert(HPA_V2, "autoscaling/v1"), "autoscaling/v2")
    assert back["metadata"]["annotations"] == {"team": "a"}
    metrics = back["spec"]["metrics"]
    assert metrics[-1] == HPA_V2["spec"]["metrics"][0]  # the CPU target comes back last
    assert {json.dumps(m, sort_keys=True) for m in metrics} == \
        {json.dumps(m, sort_keys=True) for m in HPA_V2["spec"]["metrics"]}
    assert back["spec"]["behavior"] == HPA_V2["spec"]["behavior"]
    assert back["status"]["currentMetrics"] == HPA_V2["status"]["currentMetrics"]
    assert back["status"]["conditions"] == HPA_V2["status"]["conditions"]


def test_hpa_v1_without_target_gets_the_implicit_80_percent() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "h"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 5},
          "status": {"currentReplicas": 1, "desiredReplicas": 1,
                     "currentCPUUtilizationPercentage": 40}}
    v2 = conversion.convert(v1, "autoscaling/v2")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert v2["status"]["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 40}}}]
    assert "annotations" not in v2["metadata"]


def test_hpa_v1_written_by_a_v1_client_drops_stale_round_trip_annotations() -> None:
    v1 = conversion.convert(HPA_V2, "autoscaling/v1")
    v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"] = "not json"
    v2 = conversion.convert(v1, "autoscaling/v2")
    assert v2["metadata"]["annotations"] == {"team": "a"}
    assert v2["spec"]["metrics"] == [HPA_V2["spec"]["metrics"][0]]


def test_same_version_passes_through_and_unknown_pairs_are_refused() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert conversion.convert(pod, "v1") is pod
    with pytest.raises(conversion.NotConvertible):
        conversion.convert(pod, "apps/v1")
    assert conversion.convertible("Event", "v1", "events.k8s.io/v1")
    assert not conversion.convertible("Pod", "v1", "v2")
