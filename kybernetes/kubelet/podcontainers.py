"""Starting and restarting one pod's containers (kuberuntime's startContainer and computePodActions).

``start`` makes one container: image (the node's store, else the host root
with an event saying so; ``imagePullPolicy: Never`` requires the store), env
(``envvars``), mounts (``volumes`` and the per-pod files of ``podfiles``),
the runtime config, create, start, postStart; each step records the events
the kubelet records (Pulled, Created, Started, Failed, FailedPostStartHook).
``CrashLoopBackOff`` follows the kubelet's back-off: 10 s doubling to 300 s
per container, measured from the last exit, forgotten after 10 minutes
without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import time
from dataclasses import dataclass, field

from kybernetes.kubelet import containerspec, envvars, hooks, podfiles, volumes
from kybernetes.runtime import errors, images, records, sandboxes, spec

log = logging.getLogger(__name__)

BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0


@dataclass
class Backoff:
    """Per container name: the current delay and when it was last raised."""

    entries: dict[str, tuple[float, float]] = field(default_factory=dict)

    def remaining(self, name: str, finished_at: float, now: float | None = None) -> float:
        """Seconds still to wait before restarting a container that exited at ``finished_at``."""
        now = time.time() if now is None else now
        entry = self.entries.get(name)
        if entry is None or now - entry[1] > BACKOFF_RESET:
            return 0.0
        return max(0.0, finished_at + entry[0] - now)

    def current(self, name: str) -> float:
        return self.entries.get(name, (BACKOFF_INITIAL, 0.0))[0]

    def next(self, name: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        entry = self.entries.get(name)
        if entry is None or now - entry[1] > BACKOFF_RESET:
            self.entries[name] = (BACKOFF_INITIAL, now)
        else:
            self.entries[name] = (min(entry[0] * 2, BACKOFF_MAX), now)


def container_ref(pod: dict, name: str, kind: str = "app") -> dict:
    meta = pod["metadata"]
    path = "spec.initContainers" if kind == "init" else "spec.containers"
    return {"kind": "Pod", "apiVersion": "v1", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "resourceVersion": meta.get("resourceVersion", ""),
            "fieldPath": f"{path}{{{name}}}"}


restart_count = containerspec.restart_count


def should_restart(policy: str, c: records.ContainerStatus) -> bool:
    if policy == "Always":
        return True
    return policy == "OnFailure" and c.exit_code != 0


class StartError(Exception):
    """A container could not be started: ``reason`` is its waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


async def _image(kubelet, pod: dict, c: dict, kind: str):
    image_ref = c.get("image") or ""
    policy = c.get("imagePullPolicy") or ("Always" if image_ref.endswith(":latest") or ":" not in
                                          image_ref.rsplit("/", 1)[-1] else "IfNotPresent")
    ref = container_ref(pod, c["name"], kind)
    try:
        image = await kubelet.runtime.images.resolve(image_ref)
    except errors.ContainerRuntimeError:
        image = None
    if image is not None:
        kubelet.recorder.event(ref, "Normal", "Pulled",
                               f'Container image "{image_ref}" already present on machine')
        return image
    if policy == "Never":
        msg = f'Container image "{image_ref}" is not present with pull policy of Never'
        kubelet.recorder.event(ref, "Warning", "ErrImageNeverPull", msg)
        raise StartError("ErrImageNeverPull", msg)
    kubelet.recorder.event(ref, "Normal", "Pulled",
                           f'Container image "{image_ref}" is not in the node\'s image store and no '
                           "registry is reachable: running it on the host's root filesystem")
    return images.host_image(image_ref)


def _with_addresses(pod: dict, pod_ip: str, host_ip: str) -> dict:
    """The pod as env fieldRefs see it: with the addresses this sync knows already."""
    st = dict(pod.get("status") or {})
    if pod_ip:
        st.setdefault("podIP", pod_ip)
        st.setdefault("podIPs", [{"ip": pod_ip}])
    st.setdefault("hostIP", host_ip)
    st.setdefault("hostIPs", [{"ip": host_ip}])
    return dict(pod, status=st)


async def _env(kubelet, pod: dict, c: dict) -> dict[str, str]:
    def warn(reason: str, message: str) -> None:
        kubelet.recorder.event(pod, "Warning", reason, message)

    try:
        return await envvars.container_env(kubelet.client, pod, c, kubelet.services(), recorder=warn)
    except envvars.EnvError as e:
        raise StartError("CreateContainerConfigError", str(e)) from e


def _mounts(kubelet, pod: dict, c: dict, env: dict[str, str], volume_paths: dict[str, str],
            pod_files: list[spec.Mount]) -> list[spec.Mount]:
    try:
        mounts = volumes.container_mounts(pod, c, volume_paths, env=env,
                                          pod_dir=kubelet.config.pod_dir(pod["metadata"]["uid"]))
    except volumes.VolumeError as e:
        raise StartError(getattr(e, "reason", "") or "CreateContainerConfigError", str(e)) from e
    taken = {m.container_path for m in mounts}
    mounts += [m for m in pod_files if m.container_path not in taken]
    term = podfiles.termination_log_mount(kubelet.config, pod, c)
    if term is not None and term.container_path not in {m.container_path for m in mounts}:
        mounts.append(term)
    return mounts


async def start(kubelet, pod: dict, c: dict, *, kind: str, count: int, sandbox_id: str,
                netns_path: str | None, host_network: bool, pod_ip: str, hostname: str,
                volume_paths: dict[str, str], pod_files: list[spec.Mount]) -> str:
    """Create and start one container; its id. Raises StartError (events recorded)."""
    ref = container_ref(pod, c["name"], kind)
    image = await _image(kubelet, pod, c, kind)
    try:
        env = await _env(kubelet, _with_addresses(pod, pod_ip, kubelet.host_ip()), c)
        mounts = await asyncio.to_thread(_mounts, kubelet, pod, c, env, volume_paths, pod_files)
        config = containerspec.container_config(kubelet.config, pod, c, kind=kind, restart_count=count,
                                                env=env, mounts=mounts, hostname=hostname)
    except StartError as e:
        kubelet.recorder.event(ref, "Warning", "Failed", f"Error: {e.message}")
        raise
    except (ValueError, KeyError) as e:
        kubelet.recorder.event(ref, "Warning", "Failed", f"Error: {e}")
        raise StartError("CreateContainerConfigError", str(e)) from e
    try:
        ns = await sandboxes.namespaces(kubelet.runtime, sandbox_id)
        sandboxes.join(config, ns, netns_path, host_network)
        if host_network:
            config.netns_path = netns_path
            config.host_network = False  # the node host's namespace, joined by path
        # hostPID/hostIPC: the namespaces the kubelet itself runs in (the machine's,
        # as far as it can see; /proc/1's may be out of reach inside a sandbox).
        pod_spec = pod.get("spec") or {}
        if pod_spec.get("hostPID"):
            config.pid_ns_path = f"/proc/{os.getpid()}/ns/pid"
        if pod_spec.get("hostIPC"):
            config.ipc_ns_path = f"/proc/{os.getpid()}/ns/ipc"
        # stdin: true keeps a FIFO the shim holds open, for `kubectl attach -i`.
        cid = await kubelet.runtime.create_container(config, image, stdin=bool(c.get("stdin")))
    except errors.ContainerRuntimeError as e:
        kubelet.recorder.event(ref, "Warning", "Failed", f"Error: {e}")
        raise StartError("CreateContainerError", str(e)) from e
    kubelet.recorder.event(ref, "Normal", "Created", f"Created container: {c['name']}")
    try:
        await kubelet.runtime.start(cid)
    except errors.ContainerRuntimeError as e:
        kubelet.recorder.event(ref, "Warning", "Failed", f"Error: {e}")
        return cid  # it shows as exited (StartError); the restart policy decides
    kubelet.recorder.event(ref, "Normal", "Started", f"Started container {c['name']}")
    problem = await hooks.post_start(kubelet.runtime, cid, c, pod_ip)
    if problem:
        kubelet.recorder.event(ref, "Warning", "FailedPostStartHook", problem)
        await hooks.kill(kubelet.runtime, cid, None, pod_ip, 0)
    return cid


async def prune(kubelet, found: list[records.ContainerStatus], keep: int = 2) -> None:
    """Remove dead containers of one name beyond the newest ``keep`` (newest first)."""
    for old in found[keep:]:
        if old.state == records.EXITED:
            try:
                await kubelet.runtime.remove(old.id)
            except errors.ContainerNotFound:
                pass
            except errors.ContainerRuntimeError as e:
                log.warning("removing dead container %s: %s", old.id, e)
                continue
            # Its log goes with it, rotated parts included (the kubelet's container GC).
            if old.log_path:
                for path in [old.log_path, *glob.glob(glob.escape(old.log_path) + ".*")]:
                    with contextlib.suppress(OSError):
                        os.remove(path)
