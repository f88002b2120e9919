"""Workload validation: selectors vs templates, immutability, strategies, jobs and cron jobs."""

import copy
from typing import Any

from kybernetes.api.defaulting import default
from kybernetes.api.validation import invalid_message, validate

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    body = {"selector": {"matchLabels": {"app": "web"}}, "template": copy.deepcopy(TEMPLATE)}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "resourceVersion": "1"}, "spec": body}


def errors(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    obj = copy.deepcopy(obj)
    default(group, kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        default(group, kind, old)
    return [f"{c['field']}: {c['message']}" for c in validate(group, kind, obj, old)]


def test_defaulted_workloads_are_valid() -> None:
    for kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        assert errors("apps", kind, workload(kind)) == [], kind


def test_selector_must_match_template_labels() -> None:
    obj = workload("Deployment", selector={"matchLabels": {"app": "x"}})
    causes = validate("apps", "Deployment", _defaulted("apps", "Deployment", obj))
    assert invalid_message("Deployment", "web", causes, "apps") == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`')


def _defaulted(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    default(group, kind, obj)
    return obj


def test_selector_required_and_not_empty() -> None:
    obj = workload("Deployment")
    del obj["spec"]["selector"]
    assert errors("apps", "Deployment", obj) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`"]
    empty = workload("ReplicaSet", selector={})
    assert ("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ) in errors("apps", "ReplicaSet", empty)


def test_selector_is_immutable_on_update() -> None:
    old = workload("Deployment")
    new = workload("Deployment", selector={"matchLabels": {"app": "web", "tier": "x"}})
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert errors("apps", "Deployment", new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]


def test_replicas_strategy_and_history() -> None:
    obj = workload("Deployment", replicas=-1, revisionHistoryLimit=-2,
                   strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}})
    assert errors("apps", "Deployment", obj) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
        "may not be 0 when `maxSurge` is 0",
        "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"]


def test_template_must_restart_always() -> None:
    obj = workload("ReplicaSet")
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert errors("apps", "ReplicaSet", obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_replication_controller_selector_defaults_from_template() -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"template": copy.deepcopy(TEMPLATE)}}
    assert errors("", "ReplicationController", rc) == []


def test_statefulset_name_is_a_dns_label_and_spec_mostly_immutable() -> None:
    obj = workload("StatefulSet")
    obj["metadata"]["name"] = "web.v1"
    assert errors("apps", "StatefulSet", obj) == ['metadata.name: Invalid value: "web.v1": must not contain dots']
    old = workload("StatefulSet")
    new = workload("StatefulSet", serviceName="other", replicas=5)
    assert errors("apps", "StatefulSet", new, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]


def test_daemonset_update_strategy() -> None:
    obj = workload("DaemonSet", updateStrategy={"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
    assert errors("apps", "DaemonSet", obj) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]


def job(**spec: Any) -> dict[str, Any]:
    body = {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}
    body.update(spec)
    obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "uid": "u1", "resourceVersion": "1"},
           "spec": body}
    # the API server's job strategy generates the selector and labels before validation
    labels = {"batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "j",
              "controller-uid": "u1", "job-name": "j"}
    obj["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}
    obj["spec"]["template"]["metadata"] = {"labels": labels}
    return obj


def test_job_restart_policy() -> None:
    assert errors("batch", "Job", job()) == []
    bad = job()
    del bad["spec"]["template"]["spec"]["restartPolicy"]
    assert errors("batch", "Job", bad) == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']


def test_job_counts_and_indexed_mode() -> None:
    assert errors("batch", "Job", job(parallelism=-1, completionMode="Indexed")) == [
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        "spec.completions: Required value: when completion mode is Indexed"]


def test_job_template_is_immutable() -> None:
    old = job()
    new = job()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    errs = errors("batch", "Job", new, old)
    assert len(errs) == 1 and errs[0].startswith("spec.template: Invalid value: ")
    assert errs[0].endswith(": field is immutable")


def cronjob(schedule: str, name: str = "cj") -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}}


def test_cronjob_schedule_and_name() -> None:
    assert errors("batch", "CronJob", cronjob("*/5 * * * *")) == []
    assert errors("batch", "CronJob", cronjob("@hourly")) == []
    assert errors("batch", "CronJob", cronjob("* * *")) == [
        'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]']
    assert errors("batch", "CronJob", cronjob("61 * * * *")) == [
        'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']
    assert errors("batch", "CronJob", cronjob("TZ=UTC 0 * * * *")) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone '
        "field instead"]
    assert errors("batch", "CronJob", cronjob("0 * * * *", name="c" * 53)) == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters']
