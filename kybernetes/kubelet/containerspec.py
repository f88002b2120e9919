"""From a pod's spec to the runtime's ``ContainerConfig`` (kuberuntime's generateContainerConfig).

What lives here: the labels that tie a container to its pod (so a restarted
kubelet re-adopts it), cgroup settings from ``resources`` (the kubelet's
MilliCPUToShares / MilliCPUToQuota, the memory limit, an OOM score by QoS
class), the security context (pod-level defaults under container-level
values), and the log path ``<pod log dir>/<container>/<restartCount>.log``.
Pure functions; the volume and env helpers are called by ``podsync``.
"""

from __future__ import annotations

import os

from kybernetes.api import quantities
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.runtime import records, sandboxes, spec

# Labels as the kubelet puts them on CRI containers (kubelet/types/labels.go),
# plus the restart count, which upstream keeps in an annotation.
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"
CONTAINER_TYPE = "io.kybernetes.container.type"  # "init" or "app"
# Kept so a pod deleted while the kubelet was away still gets its grace period.
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"

DEFAULT_GRACE = 30


def pod_labels(pod: dict) -> dict[str, str]:
    meta = pod["metadata"]
    return {POD_UID: meta["uid"], POD_NAME: meta["name"], POD_NAMESPACE: meta["namespace"]}


def _quantity(resources: dict, kind: str, name: str) -> quantities.Quantity | None:
    value = (resources.get(kind) or {}).get(name)
    return None if value is None else quantities.parse(value)


def qos_class(pod: dict) -> str:
    """Guaranteed, Burstable or BestEffort (qos.GetPodQOS)."""
    spec_ = pod.get("spec") or {}
    containers = list(spec_.get("containers") or []) + list(spec_.get("initContainers") or [])
    requests_seen = limits_seen = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        for name in ("cpu", "memory"):
            req, lim = _quantity(res, "requests", name), _quantity(res, "limits", name)
            if req is not None and not req.is_zero():
                requests_seen = True
            if lim is not None and not lim.is_zero():
                limits_seen = True
            if lim is None or (req is not None and quantities.compare(req, lim) != 0):
                guaranteed = False
    if not requests_seen and not limits_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _machine_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def oom_score_adj(pod: dict, container: dict) -> int:
    """The kubelet's GetContainerOOMScoreAdjust."""
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    req = _quantity(container.get("resources") or {}, "requests", "memory")
    mem = quantities.value(req) if req is not None else 0
    adj = 1000 - (1000 * mem) // _machine_memory()
    return int(min(max(adj, 2), 999))


def resources(pod: dict, container: dict) -> spec.Resources:
    res = container.get("resources") or {}
    cpu_req = _quantity(res, "requests", "cpu") or _quantity(res, "limits", "cpu")
    cpu_lim = _quantity(res, "limits", "cpu")
    mem_lim = _quantity(res, "limits", "memory")
    out = spec.Resources(oom_score_adj=oom_score_adj(pod, container))
    out.cpu_shares = spec.cpu_shares(quantities.milli_value(cpu_req) if cpu_req is not None else 0)
    if cpu_lim is not None and not cpu_lim.is_zero():
        out.cpu_quota = spec.cpu_quota(quantities.milli_value(cpu_lim))
        out.cpu_period = 100_000
    if mem_lim is not None and not mem_lim.is_zero():
        out.memory_limit = quantities.value(mem_lim)
    return out


def log_path(config: KubeletConfig, pod: dict, name: str, restart_count: int) -> str:
    meta = pod["metadata"]
    return os.path.join(config.pod_log_dir(meta["namespace"], meta["name"], meta["uid"]),
                        name, f"{restart_count}.log")


def pod_cgroup(config: KubeletConfig, uid: str) -> str:
    return f"{config.cgroup.rstrip('/')}/pod{uid}"


def _expand(value: str, env: dict[str, str]) -> str:
    """$(VAR) references to earlier variables, $$ escapes, as expansion.Expand."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (end := value.find(")", i)) > 0:
            name = value[i + 2:end]
            out.append(env.get(name, value[i:end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def expand_args(args: list[str], env: dict[str, str]) -> list[str]:
    return [_expand(a, env) for a in args]


def container_config(config: KubeletConfig, pod: dict, container: dict, *, kind: str,
                     restart_count: int, env: dict[str, str], mounts: list[spec.Mount],
                     hostname: str | None) -> spec.ContainerConfig:
    """The runtime config for one container of ``pod`` (namespaces are joined later)."""
    pod_spec = pod.get("spec") or {}
    pod_sc = pod_spec.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    labels = {**pod_labels(pod), CONTAINER_NAME: container["name"],
              RESTART_COUNT: str(restart_count), CONTAINER_TYPE: kind}
    grace = pod_spec.get("terminationGracePeriodSeconds")
    labels[GRACE_PERIOD] = str(DEFAULT_GRACE if grace is None else grace)
    run_as_user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    run_as_group = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    groups = list(pod_sc.get("supplementalGroups") or [])
    if pod_sc.get("fsGroup") is not None:
        groups.append(pod_sc["fsGroup"])
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    sysctls = {s["name"]: str(s.get("value", "")) for s in pod_sc.get("sysctls") or []}
    privileged = bool(sc.get("privileged"))
    ape = sc.get("allowPrivilegeEscalation")
    return spec.ContainerConfig(
        name=container["name"], image=container.get("image") or "",
        command=expand_args(list(container.get("command") or []), env),
        args=expand_args(list(container.get("args") or []), env),
        env=env, working_dir=container.get("workingDir") or None,
        run_as_user=run_as_user, run_as_group=run_as_group, supplemental_groups=groups,
        hostname=hostname, mounts=mounts,
        cgroup_parent=pod_cgroup(config, pod["metadata"]["uid"]),
        resources=resources(pod, container), privileged=privileged,
        capabilities_add=list(caps.get("add") or []), capabilities_drop=list(caps.get("drop") or []),
        allow_privilege_escalation=True if ape is None else bool(ape) or privileged,
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        seccomp="Unconfined" if seccomp == "Unconfined" or privileged else "RuntimeDefault",
        sysctls=sysctls,
        log_path=log_path(config, pod, container["name"], restart_count),
        labels=labels)


def restart_count(c: records.ContainerStatus | None) -> int:
    """The restart count a container was created with (-1: no container yet)."""
    if c is None:
        return -1
    try:
        return int(c.labels.get(RESTART_COUNT, "0"))
    except ValueError:
        return 0


def group(found: list[records.ContainerStatus]) -> tuple[list[records.ContainerStatus],
                                                         dict[str, list[records.ContainerStatus]]]:
    """One pod's containers: (sandboxes newest first, the others by name, newest first)."""
    boxes = sorted((c for c in found if c.labels.get(sandboxes.SANDBOX_LABEL)),
                   key=lambda c: c.created_at, reverse=True)
    by_name: dict[str, list[records.ContainerStatus]] = {}
    for c in found:
        if not c.labels.get(sandboxes.SANDBOX_LABEL):
            by_name.setdefault(c.labels.get(CONTAINER_NAME, c.name), []).append(c)
    for items in by_name.values():
        items.sort(key=lambda c: (restart_count(c), c.created_at), reverse=True)
    return boxes, by_name


def is_sidecar(container: dict) -> bool:
    """An init container with restartPolicy Always (KEP-753 sidecars): it keeps running."""
    return container.get("restartPolicy") == "Always"
