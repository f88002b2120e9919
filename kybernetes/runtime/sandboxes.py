"""Pod sandboxes: the namespaces a pod's containers share.

Design (Kubernetes' "pause container", as containerd runs it):

* the **network** namespace is made and wired by ``kybernetes.network``
  (``ip netns`` style, a bind-mounted nsfs file with a veth into the node's
  bridge); the runtime only joins it by path, so pod networking survives any
  container restart and is torn down by the network package;
* an **infra container** (``sleep infinity`` from the host fallback image,
  read-only root, no capabilities, no privilege escalation) is started in
  that network namespace with new **IPC** and **UTS** namespaces (the pod's
  hostname is set there) and, with ``shareProcessNamespace``, the pod's
  **pid** namespace; app containers then join ``/proc/<infra pid>/ns/{ipc,
  uts[,pid]}``, so they share System V IPC, the hostname and, optionally,
  one process tree;
* the infra container is a container like the others (same shim, same
  re-adoption after a kubelet restart), labelled ``io.kybernetes.sandbox``.

The infra process ignores SIGTERM (it is pid 1 of its namespace and has no
handler), so a sandbox is stopped with SIGKILL, as containerd stops pause.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kybernetes.runtime import containers, errors, records, spec

SANDBOX_LABEL = "io.kybernetes.sandbox"
SHARE_PID = "io.kybernetes.share-pid"
INFRA_IMAGE = "kybernetes/pause:host"


@dataclass
class SandboxConfig:
    """What the kubelet knows of a pod's sandbox."""

    name: str  # e.g. "<namespace>_<pod>_<uid>"
    hostname: str | None = None
    netns_path: str | None = None  # from the network package; None: a private empty netns
    host_network: bool = False
    share_pid: bool = False  # shareProcessNamespace
    cgroup_parent: str | None = None  # the pod's cgroup, e.g. "/kybernetes/pod<uid>"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str | None = None
    oom_score_adj: int | None = None  # the kubelet's -998 for pause; lowering needs CAP_SYS_RESOURCE


async def run_sandbox(runtime: containers.Runtime, config: SandboxConfig) -> str:
    """Create and start the infra container; return its id (the sandbox id)."""
    infra = spec.ContainerConfig(
        name=config.name, image=INFRA_IMAGE, command=["sleep", "infinity"],
        hostname=config.hostname, netns_path=config.netns_path, host_network=config.host_network,
        cgroup_parent=config.cgroup_parent, readonly_rootfs=True, capabilities_drop=["ALL"],
        allow_privilege_escalation=False, resources=spec.Resources(pids_limit=16, oom_score_adj=config.oom_score_adj),
        labels={**config.labels, SANDBOX_LABEL: "true"},
        annotations={**config.annotations, **({SHARE_PID: "true"} if config.share_pid else {})},
        log_path=config.log_path, stop_signal="SIGKILL")
    sandbox_id = await runtime.create_container(infra)
    try:
        await runtime.start(sandbox_id)
    except BaseException:
        await runtime.remove(sandbox_id)
        raise
    return sandbox_id


async def namespaces(runtime: containers.Runtime, sandbox_id: str) -> dict[str, str]:
    """Namespace paths app containers join: ``{"ipc": ..., "uts": ..., "pid"?: ...}``.

    Raises ``ContainerStateError`` unless the infra container is running, so
    a dead sandbox's recycled pid is never joined.
    """
    st = await runtime.status(sandbox_id)
    if st.state != records.RUNNING or not st.pid:
        raise errors.ContainerStateError(f"sandbox {sandbox_id} is not running ({st.state})")
    meta = records.load_meta(runtime.container_dir(sandbox_id)) or {}
    share_pid = bool((meta.get("config") or {}).get("annotations", {}).get(SHARE_PID))
    out = {kind: f"/proc/{st.pid}/ns/{kind}" for kind in ("ipc", "uts")}
    if share_pid:
        out["pid"] = f"/proc/{st.pid}/ns/pid"
    return {k: v for k, v in out.items() if os.path.exists(v)}


def join(config: spec.ContainerConfig, ns: dict[str, str], netns_path: str | None = None,
         host_network: bool = False) -> spec.ContainerConfig:
    """Point an app container's namespaces at its sandbox's."""
    config.ipc_ns_path = ns.get("ipc")
    config.uts_ns_path = ns.get("uts")
    config.pid_ns_path = ns.get("pid")
    config.netns_path = netns_path
    config.host_network = host_network
    return config


async def stop_sandbox(runtime: containers.Runtime, sandbox_id: str) -> None:
    await runtime.stop(sandbox_id, timeout=0)


async def remove_sandbox(runtime: containers.Runtime, sandbox_id: str) -> None:
    await runtime.remove(sandbox_id)
