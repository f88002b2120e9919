"""Pod validation: spec rules, updates and status updates, with kube-apiserver's messages."""

import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api.validation import validate


def pod(**spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "resourceVersion": "1"},
            "spec": base}


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None, subresource: str = "") -> list[str]:
    obj = copy.deepcopy(obj)
    default("", "Pod", obj)
    if old is not None:
        old = copy.deepcopy(old)
        default("", "Pod", old)
    return [f"{c['field']}: {c['message']}" for c in validate("", "Pod", obj, old, subresource=subresource)]


def test_minimal_defaulted_pod_is_valid() -> None:
    assert errors(pod()) == []


def test_undefaulted_pod_reports_required_policies() -> None:
    raw = pod()
    fields = [c["field"] for c in validate("", "Pod", raw)]
    assert "spec.restartPolicy" in fields and "spec.containers[0].imagePullPolicy" in fields


def test_containers_required_and_image_required() -> None:
    assert errors(pod(containers=[])) == ["spec.containers: Required value"]
    assert errors(pod(containers=[{"name": "app"}])) == ["spec.containers[0].image: Required value"]


def test_container_names_unique_across_init_containers() -> None:
    errs = errors(pod(initContainers=[{"name": "app", "image": "busybox"}]))
    assert errs == ['spec.initContainers[0].name: Duplicate value: "app"']
    errs = errors(pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]))
    assert errs == ['spec.containers[1].name: Duplicate value: "a"']


def test_ports() -> None:
    c = {"name": "app", "image": "x", "ports": [{"containerPort": 0}, {"containerPort": 70000, "name": "web"},
                                                  {"containerPort": 81, "name": "web", "protocol": "ICMP"}]}
    assert errors(pod(containers=[c])) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[2].name: Duplicate value: "web"',
        'spec.containers[0].ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    ]


def test_env_names_and_sources() -> None:
    c = {"name": "app", "image": "x", "env": [
        {"name": "1BAD", "value": "v"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
        {"name": "EMPTY", "valueFrom": {}}]}
    errs = errors(pod(containers=[c]))
    assert errs[0].startswith('spec.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable name')
    assert errs[1] == ('spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": '
                       'supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", '
                       '"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"')
    assert errs[2] == ('spec.containers[0].env[2].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
                       '`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`')


def test_volumes_and_mounts() -> None:
    volumes = [{"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "cfg", "configMap": {"name": "c"}},
               {"name": "cfg", "secret": {"secretName": "s"}}]
    c = {"name": "app", "image": "x", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                                                         {"name": "missing", "mountPath": "/m"}]}
    assert errors(pod(volumes=volumes, containers=[c])) == [
        "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
        'spec.volumes[2].name: Duplicate value: "cfg"',
        'spec.containers[0].volumeMounts[1].name: Not found: "missing"',
    ]


def test_requests_may_not_exceed_limits() -> None:
    c = {"name": "app", "image": "x", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"},
                                                    "requests": {"cpu": "1", "memory": "-1"}}}
    assert errors(pod(containers=[c])) == [
        'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m',
        'spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater than or equal to 0',
    ]


def test_policies_probes_hostname_tolerations() -> None:
    probe = {"httpGet": {"port": 0}, "successThreshold": 2}
    spec = pod(restartPolicy="Sometimes", hostname="Host", containers=[{"name": "app", "image": "x",
                                                                          "livenessProbe": probe}],
               tolerations=[{"operator": "Equal", "value": "v"}, {"key": "k", "operator": "Maybe"}])
    errs = errors(spec)
    assert "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive" in errs
    assert "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1" in errs
    assert ('spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
            in errs)
    assert any(e.startswith('spec.hostname: Invalid value: "Host": a lowercase RFC 1123 label') for e in errs)
    assert ('spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, '
            'which means "match all values and all keys"') in errs
    assert 'spec.tolerations[1].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"' in errs


def test_node_affinity_terms() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}
    assert errors(pod(affinity=affinity)) == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]


def test_update_may_change_image_but_not_other_fields() -> None:
    old = pod()
    new = pod()
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert errors(new, old) == []
    new["spec"]["nodeName"] = "node-1"
    errs = errors(new, old)
    assert len(errs) == 1 and errs[0].startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n")


def test_update_may_not_add_containers() -> None:
    new = pod(containers=[{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])
    assert errors(new, pod()) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_status_update() -> None:
    old = pod(nodeName="n1")
    old["status"] = {"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0}}}]}
    old["spec"]["restartPolicy"] = "Never"
    new = copy.deepcopy(old)
    new["status"] = {"containerStatuses": [{"name": "app", "state": {"running": {}}}],
                     "podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}
    errs = errors(new, old, subresource="status")
    assert ("status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state" in errs)
    assert ('status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"}, core.PodIP{IP:"10.0.0.2"}}: '
            "may specify no more than one IP for each IP family") in errs
    moved = copy.deepcopy(old)
    moved["spec"]["nodeName"] = "n2"
    assert "status.nodeName: Forbidden: may not be changed directly" in errors(moved, old, subresource="status")
