"""Validation of the remaining kinds: namespaces, nodes, events, leases, RBAC, policy, storage, networking."""

import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api.validation import validate


def errors(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None,
           subresource: str = "") -> list[str]:
    obj = copy.deepcopy(obj)
    default(group, kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        default(group, kind, old)
    return [f"{c['field']}: {c['message']}" for c in validate(group, kind, obj, old, subresource=subresource)]


def meta(name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "resourceVersion": "1", **extra}


def test_namespace() -> None:
    assert errors("", "Namespace", {"metadata": meta("team-a"), "spec": {"finalizers": ["kubernetes"]}}) == []
    old = {"metadata": meta("team-a")}
    new = {"metadata": meta("team-a"), "status": {"phase": "Terminating"}}
    assert errors("", "Namespace", new, old, subresource="status") == [
        "status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"]


def test_node_taints_and_pod_cidr() -> None:
    node = {"metadata": meta("node-1"), "spec": {"podCIDR": "10.244.1.0/24", "taints": [
        {"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}, {"key": "k2", "effect": "Sometimes"}]}}
    errs = errors("", "Node", node)
    assert errs[0].startswith('metadata.taints[1]: Duplicate value: core.Taint{Key:"k"')
    assert errs[0].endswith(": taints must be unique by key and effect pair")
    assert errs[1] == ('metadata.taints[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
                       '"PreferNoSchedule", "NoExecute"')
    old = {"metadata": meta("node-1"), "spec": {"podCIDR": "10.244.1.0/24"}}
    new = {"metadata": meta("node-1"), "spec": {"podCIDR": "10.244.2.0/24"}}
    assert errors("", "Node", new, old) == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']


def test_core_events_are_checked_leniently() -> None:
    ev = {"metadata": {"name": "e.1", "namespace": "default"}, "involvedObject": {"kind": "Pod", "namespace": "other"},
          "reason": "Started", "message": "hi"}
    assert errors("", "Event", ev) == ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']
    ev["involvedObject"]["namespace"] = "default"
    assert errors("", "Event", ev) == []


def test_events_k8s_io_are_checked_strictly() -> None:
    ev = {"metadata": {"name": "e.1", "namespace": "default"}, "regarding": {"kind": "Pod", "namespace": "default"},
          "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "kubelet", "reportingInstance": "n1",
          "action": "Pull", "reason": "Pulled", "type": "Normal"}
    assert errors("events.k8s.io", "Event", ev) == []
    ev["type"] = "Fatal"
    assert errors("events.k8s.io", "Event", ev) == ['type: Invalid value: "": has invalid value: Fatal']


def test_lease() -> None:
    lease = {"metadata": meta("kube-controller-manager"), "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}
    assert errors("coordination.k8s.io", "Lease", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"]


def test_rbac_role_binding_ref_required_and_immutable() -> None:
    rb = {"metadata": meta("rb"), "roleRef": {"kind": "Role", "name": ""},
          "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Robot", "name": "r"}]}
    assert errors("rbac.authorization.k8s.io", "RoleBinding", rb) == [
        "roleRef.name: Required value",
        'subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']
    old = {"metadata": meta("rb"), "roleRef": {"kind": "ClusterRole", "name": "view"}}
    new = {"metadata": meta("rb"), "roleRef": {"kind": "ClusterRole", "name": "edit"}}
    assert errors("rbac.authorization.k8s.io", "RoleBinding", new, old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
        'Name:"edit"}: cannot change roleRef']


def test_rbac_rules_and_names() -> None:
    role = {"metadata": meta("system:reader"), "rules": [{"apiGroups": [""], "resources": ["pods"]},
                                                        {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}
    assert errors("rbac.authorization.k8s.io", "Role", role) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        'rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs']
    cr = {"metadata": meta("a/b"), "rules": []}
    assert errors("rbac.authorization.k8s.io", "ClusterRole", cr) == [
        "metadata.name: Invalid value: \"a/b\": may not contain '/'"]


def test_priority_and_storage_classes() -> None:
    pc = {"metadata": meta("high"), "value": 2000000000}
    assert errors("scheduling.k8s.io", "PriorityClass", pc) == [
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    sc = {"metadata": meta("fast"), "provisioner": ""}
    assert errors("storage.k8s.io", "StorageClass", sc) == ["provisioner: Required value"]


def test_hpa_and_pdb() -> None:
    hpa = {"apiVersion": "autoscaling/v2", "metadata": meta("web"),
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 3, "maxReplicas": 2}}
    assert errors("autoscaling", "HorizontalPodAutoscaler", hpa) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
    pdb = {"metadata": meta("web"), "spec": {"maxUnavailable": "150%", "selector": {"matchLabels": {"app": "web"}}}}
    assert errors("policy", "PodDisruptionBudget", pdb) == [
        'spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: '
        "must not be greater than 100%"]


def test_quota_and_limit_range() -> None:
    rq = {"metadata": meta("q"), "spec": {"hard": {"pods": "1.5", "cpu": "4", "widgets": "1"}}}
    errs = errors("", "ResourceQuota", rq)
    assert errs[0].startswith("spec.hard[pods]: Invalid value: resource.Quantity{") and errs[0].endswith("must be an integer")
    assert errs[1] == 'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified'
    lr = {"metadata": meta("lr"), "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
    errs = errors("", "LimitRange", lr)
    assert errs[0].startswith("spec.limits[0].min[cpu]: Invalid value: resource.Quantity{")
    assert errs[0].endswith(": min value 2 is greater than max value 1")


def test_pvc() -> None:
    pvc = {"metadata": meta("data"), "spec": {"resources": {"requests": {"storage": "0"}}}}
    assert errors("", "PersistentVolumeClaim", pvc) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        'spec.resources[storage]: Invalid value: "0": must be greater than zero']


def test_network_policy_and_ingress() -> None:
    np_ = {"metadata": meta("deny"), "spec": {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"port": 99999}]}]}}
    assert errors("networking.k8s.io", "NetworkPolicy", np_) == [
        "spec.ingress[0].ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive",
        "spec.ingress[0].from[0]: Required value: must specify a peer"]
    ing = {"metadata": meta("web"), "spec": {"rules": [{"host": "10.0.0.1", "http": {"paths": [
        {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
    assert errors("networking.k8s.io", "Ingress", ing) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
