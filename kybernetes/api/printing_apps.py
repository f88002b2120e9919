"""Table printers for workloads: the apps and batch kinds.

Upstream's ``printReplicaSet``, ``printDeployment``, ``printStatefulSet``,
``printDaemonSet``, ``printControllerRevision``, ``printJob`` (STATUS,
COMPLETIONS, DURATION) and ``printCronJob``, over the served JSON. Replica counts left unset by the user print
as the defaults the API server fills in (1 desired replica, parallelism 1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api import durations
from kybernetes.api.labels import SelectorError, format_label_selector, format_labels, from_label_selector
from kybernetes.api.printing_base import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Col,
    Obj,
    Printer,
    age,
    bool_ptr,
    containers_of,
    controller_of,
    dig,
    group_kind_string,
    name,
    num,
    replica_cells,
    replica_columns,
    template_containers,
    text,
)

APPS = "io.k8s.api.apps.v1."
BATCH = "io.k8s.api.batch.v1."

REPLICA_SET_COLUMNS = replica_columns(APPS + "ReplicaSetSpec", APPS + "ReplicaSetStatus")
DEPLOYMENT_COLUMNS = (
    NAME,
    Col("Ready", doc="Number of the pod with ready state"),
    Col("Up-to-date", doc=(APPS + "DeploymentStatus", "updatedReplicas")),
    Col("Available", doc=(APPS + "DeploymentStatus", "availableReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    Col("Selector", doc=(APPS + "DeploymentSpec", "selector"), priority=1),
)
STATEFUL_SET_COLUMNS = (NAME, Col("Ready", doc="Number of the pod with ready state"), AGE, CONTAINERS, IMAGES)
DAEMON_SET_COLUMNS = (
    NAME,
    Col("Desired", "integer", (APPS + "DaemonSetStatus", "desiredNumberScheduled")),
    Col("Current", "integer", (APPS + "DaemonSetStatus", "currentNumberScheduled")),
    Col("Ready", "integer", (APPS + "DaemonSetStatus", "numberReady")),
    Col("Up-to-date", "integer", (APPS + "DaemonSetStatus", "updatedNumberScheduled")),
    Col("Available", "integer", (APPS + "DaemonSetStatus", "numberAvailable")),
    Col("Node Selector", doc=("io.k8s.api.core.v1.PodSpec", "nodeSelector")),
    AGE,
    CONTAINERS,
    IMAGES,
    Col("Selector", doc=(APPS + "DaemonSetSpec", "selector"), priority=1),
)
CONTROLLER_REVISION_COLUMNS = (
    NAME,
    Col("Controller", doc="Controller of the object"),
    Col("Revision", doc=(APPS + "ControllerRevision", "revision")),
    AGE,
)


def replica_set_cells(obj: Obj, now: datetime) -> list[Any]:
    return replica_cells(obj, now, format_label_selector(dig(obj, "spec", "selector")))


def deployment_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = template_containers(obj)
    try:
        selector = str(from_label_selector(dig(obj, "spec", "selector")))
    except SelectorError:
        selector = "<invalid>"
    return [
        name(obj),
        f"{num(dig(obj, 'status', 'readyReplicas'))}/{num(dig(obj, 'spec', 'replicas'), 1)}",
        num(dig(obj, "status", "updatedReplicas")),
        num(dig(obj, "status", "availableReplicas")),
        age(obj, now),
        names,
        images,
        selector,
    ]


def stateful_set_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = template_containers(obj)
    ready = f"{num(dig(obj, 'status', 'readyReplicas'))}/{num(dig(obj, 'spec', 'replicas'), 1)}"
    return [name(obj), ready, age(obj, now), names, images]


def daemon_set_cells(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status") or {}
    names, images = template_containers(obj)
    return [
        name(obj),
        num(status.get("desiredNumberScheduled")),
        num(status.get("currentNumberScheduled")),
        num(status.get("numberReady")),
        num(status.get("updatedNumberScheduled")),
        num(status.get("numberAvailable")),
        format_labels(dig(obj, "spec", "template", "spec", "nodeSelector")),
        age(obj, now),
        names,
        images,
        format_label_selector(dig(obj, "spec", "selector")),
    ]


def controller_revision_cells(obj: Obj, now: datetime) -> list[Any]:
    ref = controller_of(obj)
    controller = "<none>"
    if ref is not None:
        kind = group_kind_string(text(ref.get("apiVersion")), text(ref.get("kind")))
        controller = f"{kind.lower()}/{text(ref.get('name'))}" if kind else text(ref.get("name"))
    return [name(obj), controller, num(obj.get("revision")), age(obj, now)]


# --- batch ---

JOB_COLUMNS = (
    NAME,
    Col("Status", doc="Status of the job."),
    Col("Completions", doc=(BATCH + "JobStatus", "succeeded")),
    Col("Duration", doc="Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Col("Selector", doc=(BATCH + "JobSpec", "selector"), priority=1),
)
CRON_JOB_COLUMNS = (
    NAME,
    Col("Schedule", doc=(BATCH + "CronJobSpec", "schedule")),
    Col("Timezone", doc=(BATCH + "CronJobSpec", "timeZone")),
    Col("Suspend", "boolean", (BATCH + "CronJobSpec", "suspend")),
    Col("Active", "integer", (BATCH + "CronJobStatus", "active")),
    Col("Last Schedule", doc=(BATCH + "CronJobStatus", "lastScheduleTime")),
    AGE,
    CONTAINERS,
    IMAGES,
    Col("Selector", doc=(BATCH + "JobSpec", "selector"), priority=1),
)


def _job_condition(obj: Obj, kind: str) -> bool:
    for cond in dig(obj, "status", "conditions", default=[]):
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def job_status(obj: Obj) -> str:
    if _job_condition(obj, "Complete"):
        return "Complete"
    if _job_condition(obj, "Failed"):
        return "Failed"
    if dig(obj, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _job_condition(obj, "Suspended"):
        return "Suspended"
    if _job_condition(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    succeeded = num(dig(obj, "status", "succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{num(spec['completions'])}"
    else:
        parallelism = num(spec.get("parallelism"), 1)
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start, end = dig(obj, "status", "startTime"), dig(obj, "status", "completionTime")
    if durations.parse_timestamp(text(start)) is None:
        duration = ""
    elif durations.parse_timestamp(text(end)) is None:
        duration = durations.since(start, now)
    else:
        duration = durations.between(start, end) or ""
    names, images = template_containers(obj)
    return [
        name(obj),
        job_status(obj),
        completions,
        duration,
        age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def cron_job_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    last = dig(obj, "status", "lastScheduleTime")
    names, images = containers_of(dig(spec, "jobTemplate", "spec", "template", "spec"))
    return [
        name(obj),
        text(spec.get("schedule")),
        text(spec.get("timeZone")) if spec.get("timeZone") is not None else "<none>",
        bool_ptr(spec.get("suspend")),
        len(dig(obj, "status", "active", default=[])),
        durations.since(last, now) if last is not None else "<none>",
        age(obj, now),
        names,
        images,
        format_label_selector(dig(spec, "jobTemplate", "spec", "selector")),
    ]


PRINTERS = {
    ("apps", "ReplicaSet"): Printer(REPLICA_SET_COLUMNS, replica_set_cells),
    ("apps", "Deployment"): Printer(DEPLOYMENT_COLUMNS, deployment_cells),
    ("apps", "StatefulSet"): Printer(STATEFUL_SET_COLUMNS, stateful_set_cells),
    ("apps", "DaemonSet"): Printer(DAEMON_SET_COLUMNS, daemon_set_cells),
    ("apps", "ControllerRevision"): Printer(CONTROLLER_REVISION_COLUMNS, controller_revision_cells),
    ("batch", "Job"): Printer(JOB_COLUMNS, job_cells),
    ("batch", "CronJob"): Printer(CRON_JOB_COLUMNS, cron_job_cells),
}
