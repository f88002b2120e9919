"""A pod's volumes on the node: set up before its containers, kept fresh, torn down after.

The kubelet's volume manager for the volume types a node without storage
drivers can serve: emptyDir (disk or tmpfs), configMap, secret, downwardAPI,
projected (service-account tokens included), hostPath, and
persistentVolumeClaims bound to hostPath or local volumes. ``setup`` returns
each volume's host path, ``container_mounts`` turns a container's
volumeMounts into runtime mounts, ``refresh`` is the periodic remount that
carries ConfigMap/Secret updates and token rotation into running pods, and
``teardown`` unmounts and removes everything under the pod's directory.

Layout and plugin behaviour: ``layout``, ``emptydir``, ``projecting``,
``hostpath``, ``subpaths``; failures are ``VolumeError`` carrying the event the
kubelet records.
"""

from __future__ import annotations

import asyncio
import os
import shutil

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import rest
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.kubelet.volumes import emptydir, hostpath, layout, mounts, projecting, sources, \
    subpaths
from kybernetes.kubelet.volumes.errors import MountError, VolumeError, setup_failed
from kybernetes.runtime.spec import Mount

__all__ = ["VolumeError", "MountError", "setup", "refresh", "teardown", "container_mounts"]

PVCS = registry.lookup("", "v1", "persistentvolumeclaims")
PVS = registry.lookup("", "v1", "persistentvolumes")



class _Allocatable:
    """The node's allocatable resources, read once per call and only when needed."""

    def __init__(self, client: rest.Client | None, node_name: str | None):
        self.client, self.node_name = client, node_name
        self.value: dict[str, str] | None = None

    async def __call__(self) -> dict[str, str]:
        if self.value is None:
            self.value = await sources.node_allocatable(self.client, self.node_name)
        return self.value


def _pod_dir(config: KubeletConfig, uid: str) -> str:
    try:
        return layout.checked_pod_dir(config.pods_dir, uid)
    except layout.UnsafePath as e:
        raise VolumeError("FailedMount", str(e)) from e


async def _set_up_one(client: rest.Client, pod: dict, pod_dir: str, volume: dict,
                      allocatable: _Allocatable) -> str:
    name = volume.get("name", "")
    try:
        if projecting.kind(volume) is not None:
            return await projecting.set_up(client, pod, pod_dir, volume, allocatable)
        if volume.get("emptyDir") is not None:
            src = volume["emptyDir"]
            medium = src.get("medium") or ""
            path = layout.volume_dir(pod_dir, layout.EMPTY_DIR, name)
            size = None
            if medium == "Memory":
                size = emptydir.memory_size(pod, src.get("sizeLimit"), (await allocatable()).get("memory"))
            await asyncio.to_thread(emptydir.set_up, path, medium, size)
            return path
        if volume.get("hostPath") is not None:
            return await asyncio.to_thread(hostpath.set_up, volume["hostPath"])
        if volume.get("persistentVolumeClaim") is not None:
            return await _claim(client, pod, volume["persistentVolumeClaim"])
    except (projecting.ProjectionError, emptydir.EmptyDirError, hostpath.HostPathError,
            layout.UnsafePath, OSError) as e:
        raise setup_failed(name, str(e)) from e
    kinds = [k for k in volume if k != "name"]
    raise setup_failed(name, f"volume type {', '.join(kinds) or 'unknown'} is not supported by this kubelet")


async def _claim(client: rest.Client, pod: dict, src: dict) -> str:
    """A claim bound to a hostPath or local PersistentVolume: that path."""
    ns = pod["metadata"]["namespace"]
    claim = src.get("claimName", "")
    try:
        pvc = await client.get(PVCS, claim, ns)
    except StatusError as e:
        raise VolumeError("FailedMount", f"error processing PVC {ns}/{claim}: failed to fetch PVC "
                                         f"from API server: {e.message}") from e
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
        raise VolumeError("FailedMount", f"error processing PVC {ns}/{claim}: PVC is not bound")
    try:
        pv = await client.get(PVS, pv_name)
    except StatusError as e:
        raise VolumeError("FailedMount", f"error processing PVC {ns}/{claim}: failed to fetch PV "
                                         f"{pv_name} from API server: {e.message}") from e
    spec = pv.get("spec") or {}
    if spec.get("hostPath"):
        return await asyncio.to_thread(hostpath.set_up, spec["hostPath"])
    if spec.get("local"):
        return spec["local"].get("path", "")
    raise VolumeError("FailedMount", f"persistent volume {pv_name} is of a type this kubelet cannot mount")


async def setup(client: rest.Client, config: KubeletConfig, pod: dict) -> dict[str, str]:
    """Set up every volume of ``pod``: {volume name: host path}. Idempotent: a
    volume already set up is re-projected (as ``refresh``). Raises VolumeError."""
    uid = (pod.get("metadata") or {}).get("uid", "")
    pod_dir = _pod_dir(config, uid)
    await asyncio.to_thread(os.makedirs, pod_dir, 0o750, True)
    allocatable = _Allocatable(client, (pod.get("spec") or {}).get("nodeName") or config.node_name)
    paths: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        paths[volume.get("name", "")] = await _set_up_one(client, pod, pod_dir, volume, allocatable)
    return paths


async def refresh(client: rest.Client, config: KubeletConfig, pod: dict) -> None:
    """Re-project configMap, secret, downwardAPI and projected volumes already set
    up (new data, rotated tokens). Every volume is tried; the first failure is raised."""
    uid = (pod.get("metadata") or {}).get("uid", "")
    pod_dir = _pod_dir(config, uid)
    allocatable = _Allocatable(client, (pod.get("spec") or {}).get("nodeName") or config.node_name)
    first: VolumeError | None = None
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if not projecting.is_set_up(pod_dir, volume):
            continue
        try:
            await _set_up_one(client, pod, pod_dir, volume, allocatable)
        except VolumeError as e:
            first = first or e
    if first is not None:
        raise first


def _teardown(pods_dir: str, uid: str) -> None:
    pod_dir = layout.checked_pod_dir(pods_dir, uid)
    if not os.path.lexists(pod_dir):
        return
    if os.path.islink(pod_dir) or os.path.realpath(pod_dir) != pod_dir:
        raise layout.UnsafePath(f"{pod_dir} is not a pod directory")
    for mp in mounts.mounts_under(pod_dir):
        if mp != pod_dir:
            mounts.unmount(mp)
    left = [mp for mp in mounts.mounts_under(pod_dir) if mp != pod_dir]
    if left:
        raise OSError(f"still mounted under {pod_dir}: {', '.join(left)}")
    shutil.rmtree(pod_dir)


async def teardown(config: KubeletConfig, pod_uid: str) -> None:
    """Unmount every mount under the pod's directory, then remove it. Idempotent;
    safe after a crash (it works from /proc/self/mountinfo, not from memory)."""
    try:
        await asyncio.to_thread(_teardown, config.pods_dir, pod_uid)
    except (OSError, layout.UnsafePath) as e:
        raise VolumeError("FailedUnmount", f"UnmountVolume.TearDown failed for pod {pod_uid!r} : {e}") from e


def container_mounts(pod: dict, container: dict, volume_paths: dict[str, str], *,
                     env: dict[str, str] | None = None, pod_dir: str | None = None) -> list[Mount]:
    """The container's volumeMounts as runtime mounts (subPath-safe). ``env``: the
    container's resolved env for subPathExpr (default: its literal ``env`` values).
    Raises MountError (a VolumeError with reason CreateContainerConfigError)."""
    try:
        return subpaths.container_mounts(pod, container, volume_paths, env=env, pod_dir=pod_dir)
    except (subpaths.SubPathError, OSError) as e:
        raise MountError(str(e)) from e
