"""A pod's status from what runs on the node (kubelet_pods.go generateAPIPodStatus).

``compute`` turns the pod's containers (newest first per name, from the
runtime), the reasons containers wait, probe results and the sandbox into a
v1 PodStatus: phase by upstream's getPhase, the conditions
PodReadyToStartContainers, Initialized, ContainersReady, Ready (and
PodScheduled kept as the scheduler wrote it), container and init container
statuses with state/lastState/restartCount/ready/started, pod and host IPs,
startTime and qosClass. Conditions keep their lastTransitionTime while their
status stays. ``patch`` writes it through ``pods/status`` only when it changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kybernetes.api import registry, status as api_status
from kybernetes.client import rest
from kybernetes.kubelet import containerspec
from kybernetes.runtime import records

PODS = registry.lookup("", "v1", "pods")
RUNTIME_SCHEME = "kyb-runc://"
TERMINAL = ("Succeeded", "Failed")
KUBELET_CONDITIONS = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}
MANAGED = ("phase", "conditions", "containerStatuses", "initContainerStatuses", "podIP", "podIPs",
           "hostIP", "hostIPs", "startTime", "qosClass", "reason", "message")


def stamp(ns: int | float | None = None) -> str:
    secs = time.time() if ns is None else ns / 1e9
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))


@dataclass
class PodState:
    """What the pod worker knows of one pod at the end of a sync."""

    host_ip: str
    pod_ip: str | None = None
    sandbox_ready: bool = False
    # container name -> its containers, newest first (sandbox excluded)
    containers: dict[str, list[records.ContainerStatus]] = field(default_factory=dict)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, message)
    ready: dict[str, bool] = field(default_factory=dict)  # name -> readiness of its newest
    started: dict[str, bool] = field(default_factory=dict)
    terminal: tuple[str, str, str] | None = None  # (phase, reason, message), e.g. DeadlineExceeded
    messages: dict[str, str] = field(default_factory=dict)  # container id -> termination message
    start_time: str | None = None


def _terminated(c: records.ContainerStatus, messages: dict[str, str] | None = None) -> dict:
    out = {"exitCode": c.exit_code if c.exit_code is not None else records.UNKNOWN_EXIT_CODE,
           "reason": c.reason or "Error",
           "startedAt": stamp(c.started_at or c.created_at),
           "finishedAt": stamp(c.finished_at or c.started_at or c.created_at),
           "containerID": RUNTIME_SCHEME + c.id}
    message = (messages or {}).get(c.id) or c.message
    if message:
        out["message"] = message
    return out


def _restart_count(c: records.ContainerStatus) -> int:
    try:
        return int(c.labels.get(containerspec.RESTART_COUNT, "0"))
    except ValueError:
        return 0


def container_status(spec_c: dict, found: list[records.ContainerStatus], state: PodState,
                     default_waiting: str, init: bool) -> dict:
    name = spec_c["name"]
    out: dict = {"name": name, "image": spec_c.get("image", ""), "imageID": "",
                 "ready": False, "restartCount": 0, "started": False,
                 "state": {}, "lastState": {}}
    newest = found[0] if found else None
    previous = found[1] if len(found) > 1 else None
    waiting = state.waiting.get(name)
    if newest is not None:
        out["restartCount"] = _restart_count(newest)
        out["containerID"] = RUNTIME_SCHEME + newest.id
        out["image"] = newest.image or out["image"]
        out["imageID"] = newest.image_id
    if newest is None or (newest.state == records.CREATED and not waiting):
        reason, message = waiting or (default_waiting, "")
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    elif waiting and newest.state == records.EXITED:
        # Exited and waiting to be restarted (CrashLoopBackOff ...): the exit is lastState.
        reason, message = waiting
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out["lastState"] = {"terminated": _terminated(newest, state.messages)}
        return out
    elif newest.state in (records.RUNNING, records.CREATED):
        out["state"] = {"running": {"startedAt": stamp(newest.started_at or newest.created_at)}}
        out["started"] = state.started.get(name, True)
        out["ready"] = state.ready.get(name, False)
    else:
        out["state"] = {"terminated": _terminated(newest, state.messages)}
        if init and newest.exit_code == 0 and not containerspec.is_sidecar(spec_c):
            out["ready"] = True
    if previous is not None and previous.state == records.EXITED:
        out["lastState"] = {"terminated": _terminated(previous, state.messages)}
    return out


def _condition(old: dict[str, dict], type_: str, ok: bool, reason: str = "", message: str = "") -> dict:
    value = "True" if ok else "False"
    prev = old.get(type_)
    c = {"type": type_, "status": value, "lastProbeTime": None,
         "lastTransitionTime": prev["lastTransitionTime"] if prev and prev.get("status") == value
         and prev.get("lastTransitionTime") else stamp()}
    if reason and not ok:
        c["reason"] = reason
    if message and not ok:
        c["message"] = message
    return c


def _init_done(s: dict, sidecar: bool, begun: bool) -> bool:
    """A regular init container exited 0; a sidecar has started (or the app containers have)."""
    if sidecar:
        return begun or ("running" in s["state"] and s["started"])
    term = s["state"].get("terminated")
    return bool(term and term["exitCode"] == 0)


def phase(pod: dict, init: list[dict], app: list[dict], sidecars: set[str] = frozenset(),
          begun: bool = False) -> str:
    """Upstream's getPhase over the computed container statuses (sidecars apart)."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    for s in init:
        if s["name"] in sidecars:
            if not _init_done(s, True, begun):
                return "Pending"
            continue
        term = s["state"].get("terminated")
        if term and term["exitCode"] != 0 and policy == "Never":
            return "Failed"
        if not (term and term["exitCode"] == 0):
            return "Pending"
    running = waiting = stopped = succeeded = 0
    for s in app:
        st = s["state"]
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            if st["terminated"]["exitCode"] == 0:
                succeeded += 1
        elif s["lastState"].get("terminated"):
            stopped += 1  # waiting to restart after an exit
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def compute(pod: dict, state: PodState) -> dict:
    spec = pod.get("spec") or {}
    old_status = pod.get("status") or {}
    old = {c["type"]: c for c in old_status.get("conditions") or []}
    init_specs = list(spec.get("initContainers") or [])
    app_specs = list(spec.get("containers") or [])
    init = [container_status(c, state.containers.get(c["name"], []), state, "PodInitializing", True)
            for c in init_specs]
    sidecars = {c["name"] for c in init_specs if containerspec.is_sidecar(c)}
    begun = any(state.containers.get(c["name"]) for c in app_specs)
    initialized = all(_init_done(s, s["name"] in sidecars, begun) for s in init)
    app = [container_status(c, state.containers.get(c["name"], []), state,
                            "ContainerCreating" if initialized else "PodInitializing", False)
           for c in app_specs]
    ph = phase(pod, init, app, sidecars, begun)
    reason = message = ""
    if state.terminal is not None:
        ph, reason, message = state.terminal
    out: dict = {"phase": ph}
    if reason:
        out["reason"], out["message"] = reason, message
    not_init = [s["name"] for s in init if not _init_done(s, s["name"] in sidecars, begun)]
    not_ready = [s["name"] for s in init if s["name"] in sidecars and not s["ready"]]
    not_ready += [s["name"] for s in app if not s["ready"]]
    done = ph in TERMINAL
    conditions = [
        _condition(old, "PodReadyToStartContainers", state.sandbox_ready and not done),
        _condition(old, "Initialized", initialized, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(not_init)}]"),
    ]
    if done:
        conditions += [_condition(old, "Ready", False, "PodCompleted"),
                       _condition(old, "ContainersReady", False, "PodCompleted")]
    else:
        msg = f"containers with unready status: [{' '.join(not_ready)}]"
        ready, reason, ready_msg = not not_ready, "ContainersNotReady", msg
        if ready:
            # Readiness gates (pod-readiness-gates KEP): each named condition must be True.
            for gate in spec.get("readinessGates") or []:
                kind = gate.get("conditionType", "")
                if kind not in old:
                    ready, reason = False, "ReadinessGatesNotReady"
                    ready_msg = f'corresponding condition of pod readiness gate "{kind}" does not exist.'
                    break
                if old[kind].get("status") != "True":
                    ready, reason = False, "ReadinessGatesNotReady"
                    ready_msg = f'the status of pod readiness gate "{kind}" is not "True", but {old[kind].get("status")}'
                    break
        conditions += [_condition(old, "Ready", ready, reason, ready_msg),
                       _condition(old, "ContainersReady", not not_ready, "ContainersNotReady", msg)]
    managed = {c["type"] for c in conditions}
    conditions += [c for t, c in old.items() if t not in managed]
    if "PodScheduled" not in old:
        conditions.append(_condition(old, "PodScheduled", True))
    out["conditions"] = conditions
    out["hostIP"] = state.host_ip
    out["hostIPs"] = [{"ip": state.host_ip}]
    pod_ip = state.pod_ip or old_status.get("podIP")
    if pod_ip:
        out["podIP"] = pod_ip
        out["podIPs"] = [{"ip": pod_ip}]
    out["startTime"] = old_status.get("startTime") or state.start_time or stamp()
    if init:
        out["initContainerStatuses"] = init
    out["containerStatuses"] = app
    out["qosClass"] = old_status.get("qosClass") or containerspec.qos_class(pod)
    return out


def _comparable(st: dict) -> dict:
    return {k: st.get(k) for k in MANAGED}


def changed(old: dict, new: dict) -> bool:
    return _comparable(old) != _comparable(new)


async def patch(client: rest.Client, pod: dict, new: dict) -> dict | None:
    """Write ``new`` as the pod's status (a merge patch of the kubelet's fields;
    fields it no longer reports are cleared). None if the pod is gone."""
    meta = pod["metadata"]
    old = pod.get("status") or {}
    body = dict(new)
    for k in MANAGED:
        if k in old and k not in new:
            body[k] = None
    # A strategic merge patch, as the kubelet's status manager sends: conditions merge
    # by type, so only the kubelet's own are written and others' (readiness gates,
    # DisruptionTarget) are never overwritten with a stale copy; container statuses
    # are replaced whole (they have no patch strategy).
    body["conditions"] = [c for c in new.get("conditions") or [] if c["type"] in KUBELET_CONDITIONS]
    try:
        return await client.patch(PODS, meta["name"], {"metadata": {"uid": meta["uid"]}, "status": body},
                                  namespace=meta["namespace"], subresource="status",
                                  patch_type="strategic")
    except api_status.StatusError as e:
        if e.code in (404, 409):
            return None
        raise
