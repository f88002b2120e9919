"""Pod sandboxes: the namespaces a pod's containers share.

Design (Kubernetes' "pause container", as containerd runs it):

* the **network** namespace is made and wired by ``kybernetes.network``
  (``ip netns`` style, a bind-mounted nsfs file with a veth into the node's
  bridge); the runtime only joins it by path, so pod networking survives any
  container restart and is torn down by the network package;
* the **IPC** and **UTS** namespaces (the pod's hostname is set there) are
  pinned without a process (``pins``, as CRI-O's ``drop_infra_ctr``): two
  nsfs bind mounts under the runtime's ``sandboxes/<id>``; the sandbox id
  is that directory's name;
* with ``shareProcessNamespace`` the pod needs a **pid** namespace, which
  dies with its init: an **infra container** (``sleep infinity`` from the
  host fallback image, read-only root, no capabilities, no privilege
  escalation) is started in the network namespace with new IPC, UTS and pid
  namespaces, and is the sandbox; it is a container like the others (same
  shim, same re-adoption after a kubelet restart). Its process ignores
  SIGTERM (pid 1 of its namespace, no handler), so it is stopped with
  SIGKILL, as containerd stops pause;
* app containers join the sandbox's ``ipc``, ``uts`` (and ``pid``) by path;
  either kind is listed by the runtime with the label
  ``io.kybernetes.sandbox``, so the kubelet treats both alike.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from kybernetes.runtime import containers, errors, pins, records, spec

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
    """Pin the pod's namespaces (or start its infra container); return the sandbox id."""
    if not config.share_pid:
        sandbox_id = secrets.token_hex(32)
        meta = {"config": {"name": config.name, "netns_path": config.netns_path,
                           "labels": {**config.labels, SANDBOX_LABEL: "true"},
                           "annotations": dict(config.annotations)}}
        await pins.create(runtime.sandboxes_dir, sandbox_id, meta, config.hostname)
        return sandbox_id
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
    if pins.exists(runtime.sandboxes_dir, sandbox_id):
        return pins.namespaces(runtime.sandboxes_dir, sandbox_id)
    st = await runtime.status(sandbox_id)
    if st.state != records.RUNNING or not st.pid:
        raise errors.ContainerStateError(f"sandbox {sandbox_id} is not running ({st.state})")
    meta = records.load_meta(runtime.container_dir(sandbox_id)) or {}
    share_pid = bool((meta.get("config") or {}).get("annotations", {}).get(SHARE_PID))
    out = {kind: f"/proc/{st.pid}/ns/{kind}" for kind in ("ipc", "uts")}
    if share_pid:
        out["pid"] = f"/proc/{st.pid}/ns/pid"
    return {k: v for k, v in out.items() if os.path.exists(v)}


def load_meta(runtime: containers.Runtime, sandbox_id: str) -> dict:
    """The sandbox's record (``config.netns_path`` and others), pinned or infra container."""
    if pins.exists(runtime.sandboxes_dir, sandbox_id):
        return records.load_meta(pins.sandbox_dir(runtime.sandboxes_dir, sandbox_id)) or {}
    return records.load_meta(runtime.container_dir(sandbox_id)) or {}


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
