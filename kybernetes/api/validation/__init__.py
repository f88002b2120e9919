"""Validation of API objects as kube-apiserver 1.32 does it, with its exact causes and messages.

``validate(group, kind, obj, old=None, subresource="")`` returns the field
errors the API server would report for a create (``old`` is None), an update,
or a status update (``subresource="status"``) of a *defaulted* object (the
server defaults before it validates, so e.g. an undefaulted pod lacks its
required ``restartPolicy``). Each error is a ``Cause`` dict, the shape of
``Status.details.causes[]``; :func:`invalid_message` builds the message of the
422 ``Invalid`` error (``Pod "x" is invalid: ...``, which kubectl prints as
``The Pod "x" is invalid: ...``); ``kybernetes.api.status.invalid`` wraps both.

The pipeline follows the generic registry: on create the kind's rules run
first and the generic metadata rules (names as path segments, labels,
annotations, owner references, finalizers) only when those pass; on update
the generic metadata and metadata-update rules run before the kind's update
rules (so some causes appear twice, and :func:`invalid_message` dedupes them,
as upstream's aggregate does).

Not done here (the API server's job): generating names, namespaces (taken
from the URL), job selectors and labels, service IP and node port
allocation, and resetting fields the status/spec strategies ignore.
Kinds without rules of their own get metadata validation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from kybernetes.api import names
from kybernetes.api.validation import (
    apps, autoscaling, batch, cluster, config, endpoints, networking, pod_updates, pods, policy, rbac, services,
    storage, workloads,
)
from kybernetes.api.validation.field import Cause, error_text, go_quote
from kybernetes.api.validation.meta import validate_object_meta, validate_object_meta_update

__all__ = ["Cause", "validate", "invalid_message", "has_rules", "qualified_kind"]

Obj = Mapping[str, Any]
Create = Callable[[Obj], list[Cause]]
Update = Callable[[Obj, Obj], list[Cause]]


@dataclass(frozen=True)
class Rules:
    create: Create
    update: Update
    status: Update | None = None
    subresources: tuple[tuple[str, Update], ...] = ()


def _metadata(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _meta_update(new: Obj, old: Obj) -> list[Cause]:
    return validate_object_meta_update(_metadata(new), _metadata(old))


def _event_rules(group: str) -> Rules:
    return Rules(lambda o: cluster.validate_event(o, group), lambda n, o: cluster.validate_event_update(n, o, group))


RULES: dict[tuple[str, str], Rules] = {
    ("", "Pod"): Rules(pods.validate_pod_create, pod_updates.validate_pod_update, pod_updates.validate_pod_status_update,
                       (("ephemeralcontainers", pod_updates.validate_ephemeral_containers_update),)),
    ("", "Binding"): Rules(pod_updates.validate_binding, lambda n, o: pod_updates.validate_binding(n)),
    ("", "PodTemplate"): Rules(apps.validate_pod_template, apps.validate_pod_template_update),
    ("", "ReplicationController"): Rules(workloads.validate_rc, workloads.validate_rc_update,
                                         workloads.validate_replicas_status_update),
    ("", "Service"): Rules(services.validate_service_create, services.validate_service_update,
                           services.validate_service_status_update),
    ("", "Endpoints"): Rules(endpoints.validate_endpoints, endpoints.validate_endpoints_update),
    ("", "ConfigMap"): Rules(config.validate_config_map, config.validate_config_map_update),
    ("", "Secret"): Rules(config.validate_secret, config.validate_secret_update),
    ("", "ServiceAccount"): Rules(config.validate_service_account, config.validate_service_account_update),
    ("", "Namespace"): Rules(cluster.validate_namespace, cluster.validate_namespace_update,
                             cluster.validate_namespace_status_update,
                             (("finalize", cluster.validate_namespace_finalize_update),)),
    ("", "Node"): Rules(cluster.validate_node, cluster.validate_node_update, cluster.validate_node_update),
    ("", "Event"): _event_rules(""),
    ("events.k8s.io", "Event"): _event_rules("events.k8s.io"),
    ("", "PersistentVolume"): Rules(storage.validate_pv, storage.validate_pv_update),
    ("", "PersistentVolumeClaim"): Rules(storage.validate_pvc, storage.validate_pvc_update,
                                         storage.validate_pvc_status_update),
    ("", "ResourceQuota"): Rules(policy.validate_resource_quota, policy.validate_resource_quota_update,
                                 policy.validate_resource_quota_status_update),
    ("", "LimitRange"): Rules(policy.validate_limit_range, policy.validate_limit_range_update),
    ("apps", "Deployment"): Rules(workloads.validate_deployment, workloads.validate_deployment_update,
                                  workloads.validate_deployment_status_update),
    ("apps", "ReplicaSet"): Rules(workloads.validate_rs, workloads.validate_rs_update,
                                  workloads.validate_replicas_status_update),
    ("apps", "StatefulSet"): Rules(apps.validate_statefulset, apps.validate_statefulset_update,
                                   apps.validate_statefulset_status_update),
    ("apps", "DaemonSet"): Rules(apps.validate_daemonset, apps.validate_daemonset_update,
                                 apps.validate_daemonset_status_update),
    ("apps", "ControllerRevision"): Rules(apps.validate_controller_revision, apps.validate_controller_revision_update),
    ("batch", "Job"): Rules(batch.validate_job, batch.validate_job_update, batch.validate_job_status_update),
    ("batch", "CronJob"): Rules(batch.validate_cronjob, batch.validate_cronjob_update),
    ("networking.k8s.io", "Ingress"): Rules(networking.validate_ingress, networking.validate_ingress_update),
    ("networking.k8s.io", "IngressClass"): Rules(networking.validate_ingress_class,
                                                 networking.validate_ingress_class_update),
    ("networking.k8s.io", "NetworkPolicy"): Rules(networking.validate_network_policy,
                                                  networking.validate_network_policy_update),
    ("discovery.k8s.io", "EndpointSlice"): Rules(endpoints.validate_endpoint_slice,
                                                 endpoints.validate_endpoint_slice_update),
    ("rbac.authorization.k8s.io", "Role"): Rules(rbac.validate_role, rbac.validate_role_update),
    ("rbac.authorization.k8s.io", "ClusterRole"): Rules(rbac.validate_cluster_role,
                                                        lambda n, o: rbac.validate_role_update(n, o, False)),
    ("rbac.authorization.k8s.io", "RoleBinding"): Rules(rbac.validate_binding, rbac.validate_binding_update),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Rules(
        lambda o: rbac.validate_binding(o, False), lambda n, o: rbac.validate_binding_update(n, o, False)),
    ("policy", "PodDisruptionBudget"): Rules(policy.validate_pdb, policy.validate_pdb_update,
                                             policy.validate_pdb_status_update),
    ("autoscaling", "HorizontalPodAutoscaler"): Rules(autoscaling.validate_hpa, autoscaling.validate_hpa_update,
                                                      autoscaling.validate_hpa_status_update),
    ("autoscaling", "Scale"): Rules(autoscaling.validate_scale, lambda n, o: autoscaling.validate_scale(n)),
    ("scheduling.k8s.io", "PriorityClass"): Rules(cluster.validate_priority_class,
                                                  cluster.validate_priority_class_update),
    ("storage.k8s.io", "StorageClass"): Rules(storage.validate_storage_class, storage.validate_storage_class_update),
    ("coordination.k8s.io", "Lease"): Rules(cluster.validate_lease, cluster.validate_lease_update),
}

_UNKNOWN = Rules(lambda o: validate_object_meta(_metadata(o), names.name_is_dns_subdomain),
                 _meta_update, _meta_update)


def has_rules(group: str, kind: str) -> bool:
    """Whether kybernetes knows this kind's own validation (otherwise metadata only)."""
    return (group, kind) in RULES


def _generic_meta(obj: Obj) -> list[Cause]:
    """The registry's common ObjectMeta checks (ValidateObjectMetaAccessor with path segment names)."""
    return validate_object_meta(_metadata(obj), names.name_is_path_segment, kube_finalizers=False)


def validate(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None, *,
             subresource: str = "") -> list[Cause]:
    """The causes kube-apiserver reports for this create or update (empty when valid)."""
    rules = RULES.get((group, kind), _UNKNOWN)
    if old is None:
        errs = rules.create(obj)
        return errs or _generic_meta(obj)
    errs = _generic_meta(obj)
    errs += validate_object_meta_update(_metadata(obj), _metadata(old), kube_finalizers=False)
    if subresource == "status":
        check = rules.status or _meta_update
    else:
        check = dict(rules.subresources).get(subresource, rules.update)
    return errs + check(obj, old)


def qualified_kind(kind: str, group: str = "") -> str:
    """schema.GroupKind.String(): `Pod`, `Deployment.apps`."""
    return f"{kind}.{group}" if group else kind


def invalid_message(kind: str, name: str, causes: Iterable[Cause], group: str = "") -> str:
    """errors.NewInvalid's message: `Pod "x" is invalid: <field>: <msg>` or `... is invalid: [a, b]`."""
    seen: list[str] = []
    for cause in causes:
        text = error_text(cause)
        if text not in seen:
            seen.append(text)
    head = f"{qualified_kind(kind, group)} {go_quote(name)} is invalid"
    if not seen:
        return head
    if len(seen) == 1:
        return f"{head}: {seen[0]}"
    return f"{head}: [{', '.join(seen)}]"
