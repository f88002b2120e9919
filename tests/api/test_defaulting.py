"""Defaults match what kube-apiserver 1.32 returns (fields it assigns itself, such as uid, left out)."""

from typing import Any

import pytest

from kybernetes.api.defaulting import default

CONTAINER_DEFAULTS = {"resources": {}, "terminationMessagePath": "/dev/termination-log",
                      "terminationMessagePolicy": "File"}
POD_SPEC_DEFAULTS = {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                     "securityContext": {}, "schedulerName": "default-scheduler"}


def defaulted(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    default(group, kind, obj)
    return obj


def test_minimal_pod() -> None:
    pod = defaulted("", "Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
                                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}})
    assert pod == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx", "imagePullPolicy": "Always", **CONTAINER_DEFAULTS}],
                 "enableServiceLinks": True, **POD_SPEC_DEFAULTS},
        "status": {},
    }


def test_minimal_deployment() -> None:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}
    d = defaulted("apps", "Deployment", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                         "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}})
    assert d["spec"] == {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                     "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                                              "ports": [{"containerPort": 80, "protocol": "TCP"}], **CONTAINER_DEFAULTS}],
                              **POD_SPEC_DEFAULTS}},
    }
    assert "enableServiceLinks" not in d["spec"]["template"]["spec"]  # a Pod-only default
    assert d["status"] == {}


def test_minimal_service() -> None:
    svc = defaulted("", "Service", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert svc["spec"] == {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                           "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}
    assert svc["status"] == {"loadBalancer": {}}


def test_service_type_specific_defaults() -> None:
    spec = defaulted("", "Service", {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                                              "ports": [{"port": 443, "targetPort": "https"}]}})["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster" and spec["allocateLoadBalancerNodePorts"] is True
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert spec["ports"][0]["targetPort"] == "https"


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("registry.local:5000/app", "Always"), ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = defaulted("", "Pod", {"spec": {"containers": [{"name": "c", "image": image}]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_requests_default_to_limits_and_are_canonical() -> None:
    c = {"name": "c", "image": "x", "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"},
                                                  "requests": {"cpu": "0.0001"}}}
    pod = defaulted("", "Pod", {"spec": {"containers": [c]}})
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "1Gi"},
                                                         "requests": {"cpu": "1m", "memory": "1Gi"}}


def test_probes_env_and_volumes() -> None:
    c = {"name": "c", "image": "x", "livenessProbe": {"httpGet": {"port": 8080}},
         "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}
    spec = defaulted("", "Pod", {"spec": {"containers": [c], "volumes": [
        {"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}, {"name": "c", "hostPath": {"path": "/x"}},
        {"name": "d", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}})["spec"]
    probe = spec["containers"][0]["livenessProbe"]
    assert probe == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                     "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert spec["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert spec["volumes"][0] == {"name": "a", "emptyDir": {}}
    assert spec["volumes"][1]["configMap"]["defaultMode"] == 420
    assert spec["volumes"][2]["hostPath"]["type"] == ""
    assert spec["volumes"][3]["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}


def test_host_network_pods_get_host_ports() -> None:
    spec = defaulted("", "Pod", {"spec": {"hostNetwork": True, "containers": [
        {"name": "c", "image": "x", "ports": [{"containerPort": 53}]}]}})["spec"]
    assert spec["containers"][0]["ports"][0]["hostPort"] == 53


def test_statefulset_and_daemonset() -> None:
    ss = defaulted("apps", "StatefulSet", {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}})["spec"]
    assert ss["podManagementPolicy"] == "OrderedReady" and ss["replicas"] == 1 and ss["revisionHistoryLimit"] == 10
    assert ss["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert ss["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert ss["volumeClaimTemplates"][0] == {"metadata": {"name": "data", "creationTimestamp": None},
                                             "spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}
    ds = defaulted("apps", "DaemonSet", {"spec": {}})["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["revisionHistoryLimit"] == 10


def test_job_and_cronjob() -> None:
    job = defaulted("batch", "Job", {"spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {}}}})
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": False}
    assert job["metadata"]["labels"] == {"app": "x"}
    cj = defaulted("batch", "CronJob", {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {}}}}})
    assert cj["spec"]["concurrencyPolicy"] == "Allow" and cj["spec"]["suspend"] is False
    assert (cj["spec"]["successfulJobsHistoryLimit"], cj["spec"]["failedJobsHistoryLimit"]) == (3, 1)
    assert "completions" not in cj["spec"]["jobTemplate"]["spec"]  # SetDefaults_Job is not applied to templates


def test_replication_controller_takes_selector_and_labels_from_template() -> None:
    rc = defaulted("", "ReplicationController", {"metadata": {"name": "rc"}, "spec": {
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": {}}}})
    assert rc["spec"]["selector"] == {"app": "x"} and rc["metadata"]["labels"] == {"app": "x"}
    assert rc["spec"]["replicas"] == 1


def test_core_kinds() -> None:
    ns = defaulted("", "Namespace", {"metadata": {"name": "team"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"} and ns["status"] == {"phase": "Active"}
    assert "finalizers" not in ns["spec"]  # set by the API server's namespace strategy
    assert defaulted("", "Secret", {})["type"] == "Opaque"
    pv = defaulted("", "PersistentVolume", {"spec": {"hostPath": {"path": "/d"}}})
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["status"] == {"phase": "Pending"}
    pvc = defaulted("", "PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "1024Mi"}}}})
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    ep = defaulted("", "Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    lr = defaulted("", "LimitRange", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}]}})
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"} and item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}
    node = defaulted("", "Node", {"spec": {"podCIDR": "10.244.1.0/24"}, "status": {"capacity": {"cpu": "2"}}})
    assert node["spec"]["podCIDRs"] == ["10.244.1.0/24"] and node["status"]["allocatable"] == {"cpu": "2"}


def test_other_groups() -> None:
    es = defaulted("discovery.k8s.io", "EndpointSlice", {"ports": [{"port": 80}]})
    assert es["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    np_ = defaulted("networking.k8s.io", "NetworkPolicy", {"spec": {"egress": [{"ports": [{"port": 53}]}]}})
    assert np_["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np_["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    rb = defaulted("rbac.authorization.k8s.io", "RoleBinding", {"roleRef": {"kind": "Role", "name": "r"}, "subjects": [
        {"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "sa"}]})
    assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert [s["apiGroup"] for s in rb["subjects"]] == ["rbac.authorization.k8s.io", ""]
    assert defaulted("scheduling.k8s.io", "PriorityClass", {"value": 1})["preemptionPolicy"] == "PreemptLowerPriority"
    sc = defaulted("storage.k8s.io", "StorageClass", {"provisioner": "x"})
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")


def test_hpa_v2_defaults() -> None:
    hpa = defaulted("autoscaling", "HorizontalPodAutoscaler", {"apiVersion": "autoscaling/v2", "spec": {
        "maxReplicas": 5, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}})
    spec = hpa["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                             "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert spec["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
    v1 = defaulted("autoscaling", "HorizontalPodAutoscaler", {"apiVersion": "autoscaling/v1", "spec": {}})
    assert v1["spec"] == {"minReplicas": 1}


def test_unknown_kinds_are_left_alone() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}
    assert defaulted("example.com", "Widget", obj) == {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}
