"""Defaulting of API objects as kube-apiserver 1.32 does when it decodes a request.

``default(group, kind, obj)`` fills in, in place, what upstream's generated
``SetObjectDefaults_<Kind>`` functions fill in for the versions kybernetes
serves (core/v1, apps/v1, batch/v1, networking.k8s.io/v1, discovery.k8s.io/v1,
rbac.authorization.k8s.io/v1, scheduling.k8s.io/v1, storage.k8s.io/v1,
autoscaling/v1 and v2; the version, where it matters, is read from
``obj["apiVersion"]``). The API server calls it on a copy of every decoded
create and update body, before validation. Kinds without defaults are left
unchanged.

Besides SetDefaults_*, container resource quantities are written in canonical
form (as Go re-serializes them) and a few always-serialized Go zero values are
filled in (a container's ``resources: {}``, a template's
``creationTimestamp: null``, empty ``status`` structs), so objects read back
like kube-apiserver's.

Left to the API server, because upstream assigns them outside defaulting:
generated names, uid/resourceVersion/creationTimestamp/generation, a Pod's
initial status phase and QoS class, admission defaults (service account and
its token volume, default tolerations, priority), Service cluster IPs, IP
families, ipFamilyPolicy and node ports, Job selectors and controller-uid
labels, and a Namespace's ``spec.finalizers: ["kubernetes"]``.
"""

from __future__ import annotations

from typing import Any, Callable

from kybernetes.api.defaulting import core, others, pods, workloads

__all__ = ["default", "has_defaults"]

DEFAULTERS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("", "Pod"): pods.default_pod,
    ("", "PodTemplate"): core.default_pod_template_object,
    ("", "ReplicationController"): core.default_replication_controller,
    ("", "Service"): core.default_service,
    ("", "Namespace"): core.default_namespace,
    ("", "Secret"): core.default_secret,
    ("", "Node"): core.default_node,
    ("", "Endpoints"): core.default_endpoints,
    ("", "PersistentVolume"): core.default_persistent_volume,
    ("", "PersistentVolumeClaim"): core.default_persistent_volume_claim,
    ("", "LimitRange"): core.default_limit_range,
    ("", "ResourceQuota"): core.default_resource_quota,
    ("apps", "Deployment"): workloads.default_deployment,
    ("apps", "ReplicaSet"): workloads.default_replica_set,
    ("apps", "StatefulSet"): workloads.default_stateful_set,
    ("apps", "DaemonSet"): workloads.default_daemon_set,
    ("batch", "Job"): workloads.default_job,
    ("batch", "CronJob"): workloads.default_cron_job,
    ("discovery.k8s.io", "EndpointSlice"): others.default_endpoint_slice,
    ("networking.k8s.io", "NetworkPolicy"): others.default_network_policy,
    ("networking.k8s.io", "Ingress"): others.default_ingress,
    ("rbac.authorization.k8s.io", "RoleBinding"): others.default_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): others.default_binding,
    ("scheduling.k8s.io", "PriorityClass"): others.default_priority_class,
    ("storage.k8s.io", "StorageClass"): others.default_storage_class,
    ("autoscaling", "HorizontalPodAutoscaler"): others.default_hpa,
}


def has_defaults(group: str, kind: str) -> bool:
    return (group, kind) in DEFAULTERS


def default(group: str, kind: str, obj: dict[str, Any]) -> None:
    """Apply kube-apiserver's defaults to `obj` in place (the caller passes a copy)."""
    defaulter = DEFAULTERS.get((group, kind))
    if defaulter is not None and isinstance(obj, dict):
        defaulter(obj)
