"""The kubelet's Summary API (``GET /stats/summary``, stats/v1alpha1), measured.

Where the real kubelet asks cAdvisor and the CRI, this reads the same
sources directly: the node's root cgroup and ``/proc`` for the node, each
container's cgroup (``kybernetes.runtime.cgroups``) for containers, the pod's
cgroup (when the kubelet gives each pod one) or the sum of its containers for
pods, ``/proc/thread-self/net/dev`` inside a pod's network namespace for its
network, ``statvfs`` for filesystems, and a walk (``du``, at most once a
minute per volume, as volumeStatsAggPeriod) of the pod's volume directories. Field names and meanings are
upstream's (k8s.io/kubelet/pkg/apis/stats/v1alpha1): times are RFC 3339
seconds, CPU is cumulative core-nanoseconds plus ``usageNanoCores``, memory's
working set is usage minus inactive file cache.

``usageNanoCores`` is a rate, so it needs two samples: a ``StatsProvider``
keeps the previous one per container, pod and node. The first time a
container is seen its rate is its average since it started (cumulative CPU
over its run time), so the first answer is already useful to
``kubectl top`` and the metrics API.

Containers are matched to pods by the CRI labels the kubelet puts on them
(``io.kubernetes.pod.uid``, ``io.kubernetes.container.name``); sandboxes
(``io.kybernetes.sandbox``) count toward their pod but are not listed.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from datetime import datetime, timezone
from typing import Any

from kybernetes.kubelet.config import KubeletConfig
from kybernetes.network import naming, sockets
from kybernetes.runtime import cgroups, containers, records, sandboxes

POD_UID_LABEL = "io.kubernetes.pod.uid"
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
_IGNORED_LINKS = ("lo", "veth", "docker", "nerdctl")  # as cAdvisor's network stats
_NO_LIMIT = 1 << 62  # larger than any real memory limit (v1 "unlimited" is ~2^63)
VOLUME_STATS_PERIOD = 60.0  # volumeStatsAggPeriod: a volume's usage is walked at most once a minute


def rfc3339(t_ns: int | float) -> str:
    return datetime.fromtimestamp(int(t_ns) // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    out = {}
    for line in (text or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1]) * (1024 if parts[-1] == "kB" else 1)
    return out


# --- the machine --------------------------------------------------------


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    return _keyed(_read("/proc/meminfo"))


def boot_time_ns() -> int:
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("btime "):
            return int(line.split()[1]) * 1_000_000_000
    return 0


def filesystem(path: str, now_ns: int, used: int | None = None) -> dict[str, Any]:
    """FsStats of the filesystem holding ``path``; usedBytes is what's used on it
    unless the caller measured its own share."""
    st = os.statvfs(path)
    capacity, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    return {"time": rfc3339(now_ns), "availableBytes": available, "capacityBytes": capacity,
            "usedBytes": (st.f_blocks - st.f_bfree) * st.f_frsize if used is None else used,
            "inodesFree": st.f_ffree, "inodes": st.f_files, "inodesUsed": st.f_files - st.f_ffree}


def rlimit(now_ns: int) -> dict[str, Any]:
    """Process ids the kernel allows (pid_max) and threads that exist (sysinfo's procs)."""
    maxpid = int((_read("/proc/sys/kernel/pid_max") or "0").strip() or 0)
    loadavg = (_read("/proc/loadavg") or "0 0 0 0/0").split()
    return {"time": rfc3339(now_ns), "maxpid": maxpid, "curproc": int(loadavg[3].split("/")[1])}


def du(path: str) -> tuple[int, int]:
    """(bytes, inodes) used by ``path`` and below it, not following symlinks or mounts."""
    try:
        top = os.lstat(path)
    except OSError:
        return 0, 0
    if not os.path.isdir(path):
        return top.st_blocks * 512, 1
    dev = top.st_dev
    total, inodes = top.st_blocks * 512, 1  # the directory itself counts, as `du -s`
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_dev != dev:
                if name in dirs:
                    dirs.remove(name)
                continue
            total += st.st_blocks * 512
            inodes += 1
    return total, inodes


def interfaces(netns_path: str | None) -> list[dict[str, Any]]:
    """InterfaceStats of every non-loopback link of a network namespace (or ours)."""
    def read() -> str:
        return _read("/proc/thread-self/net/dev") or ""
    try:
        text = sockets.run_in_netns(netns_path, read) if netns_path else read()
    except OSError:
        return []
    out = []
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        if name.strip().startswith(_IGNORED_LINKS) or len(f) < 11:
            continue
        out.append({"name": name.strip(), "rxBytes": int(f[0]), "rxErrors": int(f[2]),
                    "txBytes": int(f[8]), "txErrors": int(f[10])})
    return out


def network(netns_path: str | None, now_ns: int, default: str = "eth0") -> dict[str, Any] | None:
    found = interfaces(netns_path)
    if not found:
        return None
    first = next((i for i in found if i["name"] == default), found[0])
    return {"time": rfc3339(now_ns), **first, "interfaces": found}


# --- cgroups ----------------------------------------------------------------


def cgroup_sample(cgroups_path: str) -> dict[str, int]:
    """cgroups.stats plus the memory limit and page faults; {} if the cgroup is gone."""
    out = cgroups.stats(cgroups_path)
    if not out:
        return out
    mem = cgroups.controller_path("memory", cgroups_path)
    stat = _keyed(_read(os.path.join(mem, "memory.stat")))
    prefix = "" if cgroups.is_v2() else "total_"
    out["page_faults"] = stat.get(prefix + "pgfault", 0)
    out["major_page_faults"] = stat.get(prefix + "pgmajfault", 0)
    limit = (_read(os.path.join(mem, "memory.max" if cgroups.is_v2() else "memory.limit_in_bytes"))
             or "max").strip()
    if limit.isdigit() and int(limit) < _NO_LIMIT:
        out["memory_limit_bytes"] = int(limit)
    return out


class StatsProvider:
    """Summaries of one node; remembers the last CPU sample of everything it
    measured so that the next summary's usageNanoCores is a rate over the
    time between the two."""

    def __init__(self, config: KubeletConfig, runtime: containers.Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self._cpu: dict[str, tuple[int, int]] = {}  # key -> (cumulative ns, sampled at ns)
        self._du: dict[str, tuple[float, int, int]] = {}  # volume dir -> (walked at, bytes, inodes)

    def _cpu_stats(self, key: str, sample: dict[str, int], now_ns: int, since_ns: int) -> dict[str, Any]:
        used = sample.get("cpu_usage_ns")
        out: dict[str, Any] = {"time": rfc3339(now_ns)}
        if used is None:
            return out
        prev_used, prev_t = self._cpu.get(key, (0, since_ns))
        if now_ns > prev_t and used >= prev_used:
            out["usageNanoCores"] = int((used - prev_used) * 1e9 / (now_ns - prev_t))
        out["usageCoreNanoSeconds"] = used
        self._cpu[key] = (used, now_ns)
        return out

    @staticmethod
    def _memory(sample: dict[str, int], now_ns: int, capacity: int | None = None) -> dict[str, Any]:
        if "memory_usage_bytes" not in sample:
            return {"time": rfc3339(now_ns)}
        working = sample["memory_working_set_bytes"]
        out: dict[str, Any] = {"time": rfc3339(now_ns)}
        limit = sample.get("memory_limit_bytes", capacity)
        if limit is not None:
            out["availableBytes"] = max(0, limit - working)
        out.update(usageBytes=sample["memory_usage_bytes"], workingSetBytes=working,
                   rssBytes=sample.get("memory_rss_bytes", 0),
                   pageFaults=sample.get("page_faults", 0),
                   majorPageFaults=sample.get("major_page_faults", 0))
        return out

    async def node(self, node_name: str | None = None) -> dict[str, Any]:
        """NodeStats: the machine's root cgroup, memory, filesystems, network, pids."""
        image_bytes = sum(image.size for image in await self.runtime.images.list())
        return await asyncio.to_thread(self._node, node_name or self.config.node_name, image_bytes)

    def _node(self, node_name: str, image_bytes: int) -> dict[str, Any]:
        now = time.time_ns()
        boot = boot_time_ns()
        sample = cgroup_sample("/")
        mem = meminfo()
        if "memory_usage_bytes" not in sample:  # no root memory cgroup to read (cgroup v2)
            usage = mem.get("MemTotal", 0) - mem.get("MemFree", 0)
            sample.update(memory_usage_bytes=usage,
                          memory_working_set_bytes=max(0, usage - mem.get("Inactive(file)", 0)),
                          memory_rss_bytes=mem.get("AnonPages", 0))
        vmstat = _keyed(_read("/proc/vmstat"))
        sample.update(page_faults=vmstat.get("pgfault", 0), major_page_faults=vmstat.get("pgmajfault", 0))
        sample.pop("memory_limit_bytes", None)
        pods_sample = cgroup_sample(self.config.cgroup)
        os.makedirs(self.config.root_dir, exist_ok=True)
        out: dict[str, Any] = {
            "nodeName": node_name,
            "systemContainers": [{
                "name": "pods", "startTime": rfc3339(boot),
                "cpu": self._cpu_stats("system:pods", pods_sample, now, boot),
                "memory": self._memory(pods_sample, now, mem.get("MemTotal"))}] if pods_sample else [],
            "startTime": rfc3339(boot),
            "cpu": self._cpu_stats("node", sample, now, boot),
            "memory": self._memory(sample, now, mem.get("MemTotal")),
            "fs": filesystem(self.config.root_dir, now),
            "runtime": {"imageFs": filesystem(self.runtime.data_dir, now, used=image_bytes)},
            "rlimit": rlimit(now),
        }
        netns = naming.netns_path(naming.node_netns(self.config.network_prefix, node_name)) \
            if self.config.use_node_host else None
        net = network(netns if netns and os.path.exists(netns) else None, now)
        if net:
            out["network"] = net
        return out

    async def pods(self, pods: list[dict]) -> list[dict[str, Any]]:
        """PodStats of every given pod that has containers in the runtime."""
        listed = await self.runtime.list()
        return await asyncio.to_thread(self._pods, pods, listed)

    def _pods(self, pods: list[dict], listed: list[records.ContainerStatus]) -> list[dict[str, Any]]:
        by_pod: dict[str, list[records.ContainerStatus]] = {}
        for c in listed:
            uid = c.labels.get(POD_UID_LABEL)
            if uid:
                by_pod.setdefault(uid, []).append(c)
        seen: set[str] = set()
        out = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            uid = meta.get("uid", "")
            if uid in by_pod:
                out.append(self._pod(pod, by_pod[uid], seen))
        # forget the samples of containers and pods that are gone
        self._cpu = {k: v for k, v in self._cpu.items()
                     if k in seen or k == "node" or k.startswith("system:")}
        live = {self.config.pod_dir((p.get("metadata") or {}).get("uid", "")) for p in pods}
        self._du = {k: v for k, v in self._du.items() if k.split("/volumes/")[0] in live}
        return out

    def _pod(self, pod: dict, listed: list[records.ContainerStatus], seen: set[str]) -> dict[str, Any]:
        meta = pod["metadata"]
        now = time.time_ns()
        sandbox = max((c for c in listed if c.labels.get(sandboxes.SANDBOX_LABEL)),
                      key=lambda c: c.created_at, default=None)
        latest: dict[str, records.ContainerStatus] = {}  # the newest of each name, as the kubelet
        for c in listed:
            name = c.labels.get(CONTAINER_NAME_LABEL)
            if name and not c.labels.get(sandboxes.SANDBOX_LABEL) and c.state == records.RUNNING:
                if name not in latest or c.created_at > latest[name].created_at:
                    latest[name] = c
        fs_root = self.runtime.data_dir
        cstats, samples, cgroup_paths = [], [], []
        for name, c in sorted(latest.items()):
            cmeta = records.load_meta(self.runtime.container_dir(c.id)) or {}
            path = cmeta.get("cgroupsPath", "")
            sample = cgroup_sample(path) if path else {}
            cgroup_paths.append(path)
            samples.append(sample)
            started = c.started_at or c.created_at
            seen.add(c.id)
            upper = du(os.path.join(self.runtime.container_dir(c.id), "upper"))
            log_files = _log_files(c.log_path)
            logs = sum(du(p)[0] for p in log_files)
            cstats.append({
                "name": name, "startTime": rfc3339(started),
                "cpu": self._cpu_stats(c.id, sample, now, started),
                "memory": self._memory(sample, now),
                "rootfs": filesystem(fs_root, now, used=upper[0]) | {"inodesUsed": upper[1]},
                "logs": filesystem(_existing(os.path.dirname(c.log_path), fs_root), now, used=logs)
                | {"inodesUsed": len(log_files)},
            })
        start = (sandbox.started_at or sandbox.created_at) if sandbox else \
            min((c.created_at for c in listed), default=now)
        out: dict[str, Any] = {
            "podRef": {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                       "uid": meta.get("uid", "")},
            "startTime": rfc3339(start), "containers": cstats}
        # Pod level: its own cgroup when containers share one below the runtime's parent.
        parents = {os.path.dirname(p) for p in cgroup_paths if p}
        pod_cgroup = parents.pop() if len(parents) == 1 else None
        if pod_cgroup and pod_cgroup.rstrip("/") == self.runtime.cgroup_parent.rstrip("/"):
            pod_cgroup = None
        pod_sample = cgroup_sample(pod_cgroup) if pod_cgroup else _sum(samples)
        key = "pod:" + meta.get("uid", "")
        seen.add(key)
        out["cpu"] = self._cpu_stats(key, pod_sample, now, start)
        out["memory"] = self._memory(pod_sample, now)
        netns = (sandboxes.load_meta(self.runtime, sandbox.id)
                 .get("config", {}).get("netns_path")) if sandbox else None
        if netns and os.path.exists(netns):
            net = network(netns, now)
            if net:
                out["network"] = net
        volumes = self._volumes(pod, now)
        if volumes:
            out["volume"] = volumes
        ephemeral = sum(c["rootfs"]["usedBytes"] + c["logs"]["usedBytes"] for c in cstats) + \
            sum(v["usedBytes"] for v in volumes if "pvcRef" not in v)
        out["ephemeral-storage"] = filesystem(fs_root, now, used=ephemeral)
        procs = cgroups.procs(pod_cgroup) if pod_cgroup else \
            [p for path in cgroup_paths if path for p in cgroups.procs(path)]
        out["process_stats"] = {"process_count": len(procs)}
        return out

    def _volumes(self, pod: dict, now: int) -> list[dict[str, Any]]:
        """VolumeStats of the pod's volumes the kubelet made on this node
        (<pod dir>/volumes/<plugin>/<name>): usage walked, capacity of their
        filesystem (tmpfs for secrets and memory emptyDirs)."""
        meta = pod.get("metadata") or {}
        base = os.path.join(self.config.pod_dir(meta.get("uid", "")), "volumes")
        try:
            plugins = sorted(os.listdir(base))
        except OSError:
            return []
        out = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume.get("name", "")
            path = next((os.path.join(base, p, name) for p in plugins
                         if name and os.path.isdir(os.path.join(base, p, name))), None)
            if path is None:
                continue
            walked, used, inodes = self._du.get(path, (-VOLUME_STATS_PERIOD, 0, 0))
            if path not in self._du or time.monotonic() - walked > VOLUME_STATS_PERIOD:
                used, inodes = du(path)
                self._du[path] = (time.monotonic(), used, inodes)
            entry = {**filesystem(path, now, used=used), "inodesUsed": inodes, "name": name}
            claim = volume.get("persistentVolumeClaim")
            if claim:
                entry["pvcRef"] = {"name": claim.get("claimName", ""), "namespace": meta.get("namespace", "")}
            out.append(entry)
        return out

    async def summary(self, pods: list[dict], node_name: str | None = None) -> dict[str, Any]:
        """The whole Summary: {"node": NodeStats, "pods": [PodStats]}."""
        return {"node": await self.node(node_name), "pods": await self.pods(pods)}


def _sum(samples: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        for k, v in s.items():
            if k != "memory_limit_bytes":
                out[k] = out.get(k, 0) + v
    return out


def _existing(path: str, default: str) -> str:
    return path if path and os.path.isdir(path) else default


def _log_files(path: str) -> list[str]:
    """The container's log file and its rotated siblings (<n>.log.<timestamp>[.gz])."""
    if not path:
        return []
    d, base = os.path.split(path)
    try:
        return [os.path.join(d, f) for f in os.listdir(d) if f == base or f.startswith(base + ".")]
    except OSError:
        return []


_providers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def summary(config: KubeletConfig, runtime: containers.Runtime, pods: list[dict],
                  node_name: str | None = None) -> dict[str, Any]:
    """The kubelet's /stats/summary JSON; CPU rates come from a StatsProvider kept per runtime."""
    provider = _providers.get(runtime)
    if provider is None:
        provider = _providers[runtime] = StatsProvider(config, runtime)
    return await provider.summary(pods, node_name)
