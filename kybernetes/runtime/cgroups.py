"""Reading and removing the cgroups runc makes for our containers.

runc is driven with its default ``cgroupfs`` manager and an absolute
``cgroupsPath`` (``/kybernetes/<id>`` by default). On a cgroup v1 host such
as this one (controllers under ``/sys/fs/cgroup/<controller>``, cgroup2 at
``/sys/fs/cgroup/unified``: "hybrid") that is
``/sys/fs/cgroup/<controller>/kybernetes/<id>``, plus the same path in the
``unified`` tree, which runc populates too (so removal covers it); on a pure
cgroup v2 host it is ``/sys/fs/cgroup/kybernetes/<id>``.

Usage follows the kubelet (cAdvisor): CPU is cumulative nanoseconds, the
memory *working set* is usage minus inactive file cache. OOM kills come from
the kernel's own counter (``oom_kill`` in ``memory.oom_control`` on v1,
``memory.events`` on v2). Imports only the standard library: the shim uses it.
"""

from __future__ import annotations

import os

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer",
                  "blkio", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc",
                  "systemd", "unified")


def is_v2() -> bool:
    """True on a unified (cgroup v2 only) host."""
    return os.path.exists(os.path.join(ROOT, "cgroup.controllers"))


def controller_path(controller: str, cgroups_path: str) -> str:
    """Directory of ``cgroups_path`` for ``controller`` (v1) or the unified tree (v2)."""
    rel = cgroups_path.lstrip("/")
    if is_v2():
        return os.path.join(ROOT, rel)
    return os.path.join(ROOT, controller, rel)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, OSError):
        return None


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def oom_kills(cgroups_path: str) -> int:
    """How many processes the kernel OOM-killed in this cgroup (0 if unknown)."""
    if is_v2():
        events = _keyed(_read(os.path.join(controller_path("memory", cgroups_path), "memory.events")))
        return events.get("oom_kill", 0)
    control = _keyed(_read(os.path.join(controller_path("memory", cgroups_path), "memory.oom_control")))
    return control.get("oom_kill", 0)


def stats(cgroups_path: str) -> dict[str, int]:
    """CPU and memory usage of a container's cgroup, kubelet-style; {} if gone."""
    out: dict[str, int] = {}
    mem = controller_path("memory", cgroups_path)
    if is_v2():
        cpu = _keyed(_read(os.path.join(mem, "cpu.stat")))
        if "usage_usec" in cpu:
            out["cpu_usage_ns"] = cpu["usage_usec"] * 1000
        usage = _read(os.path.join(mem, "memory.current"))
        inactive_key = "inactive_file"
    else:
        cpu_ns = _read(os.path.join(controller_path("cpuacct", cgroups_path), "cpuacct.usage"))
        if cpu_ns is not None:
            out["cpu_usage_ns"] = int(cpu_ns)
        usage = _read(os.path.join(mem, "memory.usage_in_bytes"))
        inactive_key = "total_inactive_file"
    if usage is not None:
        used = int(usage)
        stat = _keyed(_read(os.path.join(mem, "memory.stat")))
        inactive = stat.get(inactive_key, 0)
        out["memory_usage_bytes"] = used
        out["memory_working_set_bytes"] = max(0, used - inactive) if inactive < used else 0
        out["memory_rss_bytes"] = stat.get("total_rss" if not is_v2() else "anon", 0)
    return out


def all_dirs(cgroups_path: str) -> list[str]:
    """Every existing directory of ``cgroups_path`` across the mounted hierarchies."""
    if is_v2():
        candidates = [controller_path("", cgroups_path)]
    else:
        candidates = [controller_path(c, cgroups_path) for c in V1_CONTROLLERS]
    seen, out = set(), []
    for path in candidates:
        real = os.path.realpath(path)
        if real not in seen and os.path.isdir(real):
            seen.add(real)
            out.append(real)
    return out


def procs(cgroups_path: str) -> list[int]:
    """Pids in the cgroup subtree (any hierarchy that has it)."""
    pids: set[int] = set()
    for top in all_dirs(cgroups_path):
        for root, _dirs, _files in os.walk(top):
            for line in (_read(os.path.join(root, "cgroup.procs")) or "").split():
                pids.add(int(line))
    return sorted(pids)


def remove(cgroups_path: str) -> list[str]:
    """rmdir the cgroup and everything below it, deepest first; return what remains.

    A cgroup with live processes cannot be removed: those paths are returned.
    """
    left = []
    for top in all_dirs(cgroups_path):
        for root, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(root)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(root)
    return left
