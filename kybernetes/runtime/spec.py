"""OCI runtime ``config.json`` for a container, with containerd's defaults.

``ContainerConfig`` is what the kubelet hands the runtime (the CRI
``ContainerConfig`` with the sandbox's bits folded in); ``generate`` turns it
and the image's config into the OCI runtime spec runc reads. Defaults follow
containerd's ``pkg/oci`` (mounts, masked and read-only paths, device rules)
and its CRI plugin (capabilities, ``/sys/fs/cgroup`` read-only, image
``Entrypoint``/``Cmd``/``Env``/``WorkingDir`` merged as Kubernetes merges
``command``/``args``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.runtime import errors, seccomp

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# containerd's CRI default capability set (the one Kubernetes users know;
# containerd 2.0 trimmed only its non-CRI default).
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
            "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
            "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
# Capability numbers, from linux/capability.h.
_BY_NUMBER = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
              "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
              "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
              "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
              "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
              "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
              "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
              "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
              "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/sys/devices/virtual/powercap", "/proc/scsi"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# No rlimits by default: the container inherits the runtime's (raising a hard
# limit needs CAP_SYS_RESOURCE, which a runtime in a sandbox may not have).
DEFAULT_RLIMITS: list[dict] = []


@dataclass
class Mount:
    """A bind mount of a host path (a volume, /etc/hosts, the termination log ...)."""

    host_path: str
    container_path: str
    readonly: bool = False
    propagation: str = "rprivate"  # rprivate | rslave | rshared (mountPropagation)


@dataclass
class Resources:
    """Cgroup limits, in the units the kubelet computes (bytes, CFS shares/us)."""

    memory_limit: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    pids_limit: int | None = None
    oom_score_adj: int | None = None


@dataclass
class ContainerConfig:
    """Everything needed to run one container of a pod."""

    name: str
    image: str
    command: list[str] = field(default_factory=list)  # replaces the image's Entrypoint
    args: list[str] = field(default_factory=list)  # replaces the image's Cmd
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)
    hostname: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    netns_path: str | None = None  # join this network namespace (the pod sandbox's)
    host_network: bool = False  # no network namespace of its own (hostNetwork pods)
    ipc_ns_path: str | None = None  # share the sandbox's IPC namespace
    uts_ns_path: str | None = None  # share the sandbox's UTS namespace (and hostname)
    pid_ns_path: str | None = None  # shareProcessNamespace
    cgroup_parent: str | None = None  # e.g. the pod's "/kybernetes/pod<uid>"; default: the runtime's
    resources: Resources = field(default_factory=Resources)
    privileged: bool = False
    capabilities_add: list[str] = field(default_factory=list)
    capabilities_drop: list[str] = field(default_factory=list)
    allow_privilege_escalation: bool = True
    readonly_rootfs: bool = False
    seccomp: str = "RuntimeDefault"  # or "Unconfined"
    rlimits: list[dict] = field(default_factory=lambda: [dict(r) for r in DEFAULT_RLIMITS])
    sysctls: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    log_path: str | None = None  # CRI log file; default <container dir>/container.log
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def host_capabilities(cap_bnd_hex: str) -> list[str]:
    """Capability names in a ``CapBnd`` mask from /proc/<pid>/status."""
    mask = int(cap_bnd_hex, 16)
    return [name for bit, name in enumerate(_BY_NUMBER) if mask >> bit & 1]


def cpu_shares(millicores: int) -> int:
    """The kubelet's MilliCPUToShares: 1024 per CPU, at least 2."""
    return max(2, millicores * 1024 // 1000) if millicores else 2


def cpu_quota(millicores: int, period: int = 100_000) -> int:
    """The kubelet's MilliCPUToQuota: CFS quota for a limit, at least 1 ms."""
    return max(1000, millicores * period // 1000)


def capabilities(config: ContainerConfig, available: list[str] | None = None) -> list[str]:
    """The bounding set: containerd's defaults, then ALL, then add, then drop.

    ``available`` (the runtime's own bounding set) caps the result: runc
    cannot grant what it does not hold.
    """
    caps = _wanted_capabilities(config)
    return caps if available is None else [c for c in caps if c in available]


def _wanted_capabilities(config: ContainerConfig) -> list[str]:
    if config.privileged:
        return list(ALL_CAPS)
    norm = lambda c: c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()  # noqa: E731
    add = [norm(c) for c in config.capabilities_add]
    drop = [norm(c) for c in config.capabilities_drop]
    caps = list(DEFAULT_CAPS)
    if "CAP_ALL" in add:
        caps = list(ALL_CAPS)
    if "CAP_ALL" in drop:
        caps = []
    caps += [c for c in add if c != "CAP_ALL" and c not in caps and c in ALL_CAPS]
    return [c for c in caps if c not in drop]


def process_args(config: ContainerConfig, image_config: dict) -> list[str]:
    """Kubernetes' rule: command replaces Entrypoint (and drops Cmd), args replace Cmd."""
    entrypoint = list(image_config.get("Entrypoint") or [])
    cmd = list(image_config.get("Cmd") or [])
    if config.command:
        argv = list(config.command) + list(config.args)
    else:
        argv = entrypoint + (list(config.args) if config.args else cmd)
    if not argv:
        raise errors.ContainerCreateError(f"container {config.name!r}: no command specified")
    return argv


def environment(config: ContainerConfig, image_config: dict) -> list[str]:
    """Image Env, overridden by the container's env; PATH and HOSTNAME defaulted."""
    env: dict[str, str] = {}
    for item in image_config.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH.split("=", 1)[1])
    if config.hostname:
        env.setdefault("HOSTNAME", config.hostname)
    env.update(config.env)
    return [f"{k}={v}" for k, v in env.items()]


def _default_mounts(privileged: bool) -> list[dict]:
    ro = [] if privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"] + ro},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + ro},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    ]


def _mounts(config: ContainerConfig) -> list[dict]:
    user = sorted(config.mounts, key=lambda m: m.container_path.rstrip("/").count("/"))
    taken = {m.container_path.rstrip("/") or "/" for m in user}
    out = [m for m in _default_mounts(config.privileged) if m["destination"] not in taken]
    for m in user:
        if not m.container_path.startswith("/"):
            raise errors.ContainerCreateError(f"mount destination {m.container_path!r} is not absolute")
        out.append({"destination": m.container_path, "type": "bind", "source": m.host_path,
                    "options": ["rbind", m.propagation, "ro" if m.readonly else "rw"]})
    return out


def _namespaces(config: ContainerConfig) -> list[dict]:
    out = [{"type": "mount"}]
    for kind, path in (("pid", config.pid_ns_path), ("ipc", config.ipc_ns_path),
                       ("uts", config.uts_ns_path)):
        out.append({"type": kind, "path": path} if path else {"type": kind})
    if not config.host_network:
        out.append({"type": "network", "path": config.netns_path} if config.netns_path
                   else {"type": "network"})
    return out


def linux_resources(config: ContainerConfig) -> dict:
    """OCI ``linux.resources``: devices, memory (no swap), cpu, pids."""
    r = config.resources
    out: dict = {"devices": [{"allow": config.privileged, "access": "rwm"}]}
    if r.memory_limit:
        out["memory"] = {"limit": r.memory_limit, "swap": r.memory_limit}  # no swap, as the kubelet
    cpu = {k: v for k, v in (("shares", r.cpu_shares), ("quota", r.cpu_quota),
                             ("period", r.cpu_period)) if v}
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit:
        out["pids"] = {"limit": r.pids_limit}
    return out


def generate(config: ContainerConfig, *, rootfs: str, image_config: dict, cgroups_path: str,
             uid: int, gid: int, additional_gids: list[int] | None = None,
             available_caps: list[str] | None = None) -> dict:
    """The OCI runtime spec for ``config``; ``uid``/``gid`` are already resolved."""
    caps = capabilities(config, available_caps)
    # A non-root process keeps no effective/permitted capabilities (as Docker
    # and containerd do); the bounding set still limits what setuid binaries get.
    live = caps if uid == 0 else []
    process = {
        "terminal": False,
        "user": {"uid": uid, "gid": gid,
                 "additionalGids": sorted(set(additional_gids or []) | set(config.supplemental_groups))},
        "args": process_args(config, image_config),
        "env": environment(config, image_config),
        "cwd": config.working_dir or image_config.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": live, "permitted": live},
        "rlimits": config.rlimits,
        "noNewPrivileges": not config.allow_privilege_escalation,
    }
    if config.resources.oom_score_adj is not None:
        process["oomScoreAdj"] = config.resources.oom_score_adj
    linux: dict = {
        "namespaces": _namespaces(config),
        "cgroupsPath": cgroups_path,
        "resources": linux_resources(config),
    }
    if config.sysctls:
        linux["sysctl"] = dict(config.sysctls)
    if not config.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if config.seccomp != "Unconfined":
            linux["seccomp"] = seccomp.default_profile(caps)
    spec = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": config.readonly_rootfs},
        "mounts": _mounts(config),
        "linux": linux,
        "annotations": dict(config.annotations),
    }
    if config.hostname and not config.uts_ns_path:
        spec["hostname"] = config.hostname
    return spec
