"""Fields whose zero value survives protobuf decoding: Go pointers.

gogo-protobuf writes every non-pointer scalar, zero or not
(``ObjectMeta.generateName = ""``, ``Container.stdin = false``), while
encoding/json drops them (``omitempty``). A Go pointer (``*int32``,
``*bool``, ``*intstr.IntOrString``) is written only when set, so a zero on the
wire for one of these is the user's explicit zero (``replicas: 0``,
``automountServiceAccountToken: false``, ``maxUnavailable: 0``) and must not
turn into "unset", which defaulting would replace (replicas 1,
enableServiceLinks true, ...).

``kybernetes.api.protobuf`` drops zero scalars (``""``, ``0``, ``false``, zero
IntOrString) except for the fields listed here and the fields the schema lists
in ``required`` (non-omitempty in Go: ``ServicePort.port``,
``PriorityClass.value``, ``RoleRef.apiGroup``). The list names the pointer
fields of upstream's types.go (1.32) whose zero means something different from
absent; pointers whose zero is invalid or equal to the default are left out.
"""

from __future__ import annotations

from typing import Mapping

_CORE = "io.k8s.api.core.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def _table(prefix: str, **kinds: str) -> dict[str, frozenset[str]]:
    return {prefix + kind: frozenset(names.split()) for kind, names in kinds.items()}


KEEP_ZERO: Mapping[str, frozenset[str]] = {
    **_table(
        _META,
        ObjectMeta="deletionGracePeriodSeconds",
        OwnerReference="controller blockOwnerDeletion",
        DeleteOptions="gracePeriodSeconds orphanDependents "
                      "ignoreStoreReadErrorWithClusterBreakingPotential",
        Preconditions="uid resourceVersion",
        ListMeta="remainingItemCount",
    ),
    **_table(
        _CORE,
        PodSpec="terminationGracePeriodSeconds activeDeadlineSeconds automountServiceAccountToken "
                "priority shareProcessNamespace enableServiceLinks setHostnameAsFQDN hostUsers",
        PodSecurityContext="runAsUser runAsGroup runAsNonRoot fsGroup",
        SecurityContext="privileged runAsUser runAsGroup runAsNonRoot readOnlyRootFilesystem "
                        "allowPrivilegeEscalation",
        WindowsSecurityContextOptions="hostProcess",
        Probe="terminationGracePeriodSeconds",
        Toleration="tolerationSeconds",
        TopologySpreadConstraint="minDomains",
        ReplicationControllerSpec="replicas",
        ContainerStatus="started",
        ServiceSpec="allocateLoadBalancerNodePorts",
        ClientIPConfig="timeoutSeconds",
        ServiceAccount="automountServiceAccountToken",
        ConfigMap="immutable",
        Secret="immutable",
        # "" is "no class at all", nil is "the default class".
        PersistentVolumeClaimSpec="storageClassName",
        SecretVolumeSource="defaultMode optional",
        ConfigMapVolumeSource="defaultMode optional",
        ProjectedVolumeSource="defaultMode",
        DownwardAPIVolumeSource="defaultMode",
        KeyToPath="mode",
        DownwardAPIVolumeFile="mode",
        ServiceAccountTokenProjection="expirationSeconds",
        ConfigMapProjection="optional",
        SecretProjection="optional",
        ConfigMapKeySelector="optional",
        SecretKeySelector="optional",
        ConfigMapEnvSource="optional",
        SecretEnvSource="optional",
        ClusterTrustBundleProjection="optional",
        CSIVolumeSource="readOnly",
    ),
    **_table(
        "io.k8s.api.apps.v1.",
        DeploymentSpec="replicas revisionHistoryLimit progressDeadlineSeconds",
        RollingUpdateDeployment="maxUnavailable maxSurge",
        ReplicaSetSpec="replicas",
        StatefulSetSpec="replicas revisionHistoryLimit",
        RollingUpdateStatefulSetStrategy="partition maxUnavailable",
        DaemonSetSpec="revisionHistoryLimit",
        RollingUpdateDaemonSet="maxUnavailable maxSurge",
        DeploymentStatus="collisionCount",
        StatefulSetStatus="collisionCount",
        DaemonSetStatus="collisionCount",
    ),
    **_table(
        "io.k8s.api.batch.v1.",
        JobSpec="parallelism completions activeDeadlineSeconds backoffLimit backoffLimitPerIndex "
                "maxFailedIndexes manualSelector ttlSecondsAfterFinished suspend",
        CronJobSpec="startingDeadlineSeconds suspend successfulJobsHistoryLimit failedJobsHistoryLimit",
        SuccessPolicyRule="succeededCount",
        JobStatus="ready terminating",
    ),
    **_table(
        "io.k8s.api.autoscaling.v1.",
        HorizontalPodAutoscalerSpec="minReplicas targetCPUUtilizationPercentage",
        HorizontalPodAutoscalerStatus="currentCPUUtilizationPercentage",
    ),
    **_table(
        "io.k8s.api.autoscaling.v2.",
        HorizontalPodAutoscalerSpec="minReplicas",
        HPAScalingRules="stabilizationWindowSeconds",
        MetricTarget="averageUtilization",
        MetricValueStatus="averageUtilization",
    ),
    **_table("io.k8s.api.policy.v1.", PodDisruptionBudgetSpec="minAvailable maxUnavailable"),
    **_table(
        "io.k8s.api.discovery.v1.",
        EndpointConditions="ready serving terminating",
        # An unnamed port is name "" (a *string), which kube-proxy matches on.
        EndpointPort="name port",
    ),
    **_table("io.k8s.api.coordination.v1.", LeaseSpec="leaseDurationSeconds leaseTransitions"),
    **_table("io.k8s.api.networking.v1.", NetworkPolicyPort="port endPort"),
    **_table(
        "io.k8s.api.storage.v1.",
        StorageClass="allowVolumeExpansion",
        CSIDriverSpec="attachRequired podInfoOnMount storageCapacity requiresRepublish seLinuxMount",
        TokenRequest="expirationSeconds",
        VolumeNodeResources="count",
    ),
    **_table("io.k8s.api.authentication.v1.", TokenRequestSpec="expirationSeconds"),
    **_table("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.", ServiceReference="port"),
}
