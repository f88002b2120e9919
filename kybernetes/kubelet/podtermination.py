"""Ending a pod on the node: killing its containers, tearing down what it used.

* ``kill_containers``: every running container at once, each with its
  preStop hook, the stop signal, the grace period, then SIGKILL (event
  ``Killing``: "Stopping container <name>"); then the sandbox;
* ``tear_down_finished``: a Succeeded/Failed pod keeps its containers (for
  ``kubectl logs``) but gives back its sandbox and address;
* ``clean_up``: everything a deleted pod left (containers, sandbox, network,
  volumes, pod cgroup, logs);
* ``confirm_deletion``: DELETE with grace 0 and a uid precondition, the
  kubelet's "all stopped" that lets the API server remove the object.

The grace period is the deletion's (``deletionGracePeriodSeconds``), else the
spec's; a pod known only from its containers' labels (deleted while the
kubelet was away) gets the one recorded on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil

from kybernetes.api import registry, status as api_status
from kybernetes.kubelet import containerspec, hooks, podcontainers, volumes
from kybernetes.runtime import cgroups, errors, records, sandboxes

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")
MIN_GRACE = 2.0  # the kubelet's minimumGracePeriodInSeconds


def grace(pod: dict, found: list[records.ContainerStatus] = ()) -> float:
    meta, spec_ = pod["metadata"], pod.get("spec") or {}
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return float(meta["deletionGracePeriodSeconds"])
    if "spec" not in pod:  # known only from its containers' labels (deleted while we were away)
        recorded = [c.labels.get(containerspec.GRACE_PERIOD) for c in found]
        values = [float(v) for v in recorded if v and v.replace(".", "", 1).isdigit()]
        return max(values, default=float(containerspec.DEFAULT_GRACE))
    value = spec_.get("terminationGracePeriodSeconds")
    return float(containerspec.DEFAULT_GRACE if value is None else value)


def spec_container(pod: dict, name: str) -> dict | None:
    spec_ = pod.get("spec") or {}
    for c in list(spec_.get("containers") or []) + list(spec_.get("initContainers") or []):
        if c.get("name") == name:
            return c
    return None


async def remove_quietly(runtime, container_id: str) -> None:
    try:
        await runtime.remove(container_id)
    except errors.ContainerNotFound:
        pass
    except errors.ContainerRuntimeError as e:
        log.warning("removing container %s: %s", container_id, e)


async def kill_containers(kl, pod: dict, found: list[records.ContainerStatus], grace_s: float,
                          *, sandbox: bool = True) -> None:
    """Kill every running container (in parallel), then (``sandbox``) the sandbox."""
    uid = pod["metadata"]["uid"]
    net = None if (pod.get("spec") or {}).get("hostNetwork") else await kl.pod_network.lookup(uid)
    pod_ip = str(net.ip) if net else kl.host_ip()
    boxes, by_name = containerspec.group(found)
    kills = []
    for name, items in by_name.items():
        for c in items:
            if c.state in (records.RUNNING, records.CREATED):
                kl.probes.remove(uid, name)
                if pod["metadata"].get("name"):  # not for leftovers known by uid alone
                    kl.recorder.event(podcontainers.container_ref(pod, name), "Normal", "Killing",
                                      f"Stopping container {name}")
                kills.append(_kill(kl, uid, c.id, spec_container(pod, name), pod_ip, grace_s))
    for problem in await asyncio.gather(*kills, return_exceptions=True):
        if isinstance(problem, BaseException) and not isinstance(problem, Exception):
            raise problem
        if problem:
            kl.recorder.event(pod, "Warning", "FailedPreStopHook", str(problem))
    if not sandbox:
        return
    kl.probes.remove(uid)
    for box in boxes:
        try:
            await sandboxes.stop_sandbox(kl.runtime, box.id)
        except errors.ContainerNotFound:
            pass


def _shorter_grace(kl, uid: str) -> float | None:
    """A grace period cut short while we kill: a second delete with a shorter one,
    or the pod force-deleted (the kubelet's 2 s minimum then)."""
    workers = getattr(kl, "workers", None)
    if workers is None:
        return None
    if workers.gone(uid):
        return MIN_GRACE
    newest = workers.pod(uid) or {}
    meta = newest.get("metadata") or {}
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return max(float(meta["deletionGracePeriodSeconds"]), MIN_GRACE)
    return None


async def _kill(kl, uid: str, container_id: str, container: dict | None, pod_ip: str,
                grace_s: float) -> str | None:
    """hooks.kill, with SIGKILL as soon as a shorter grace period has run out."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    task = asyncio.ensure_future(hooks.kill(kl.runtime, container_id, container, pod_ip, grace_s))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            shorter = _shorter_grace(kl, uid)
            if not task.done() and shorter is not None and shorter < grace_s \
                    and loop.time() - start >= shorter:
                with contextlib.suppress(errors.ContainerRuntimeError):
                    await kl.runtime.stop(container_id, timeout=0)
        return task.result()
    finally:
        if not task.done():
            task.cancel()


async def tear_down_finished(kl, pod: dict, found: list[records.ContainerStatus]) -> None:
    """A finished pod keeps its containers (logs) but not its sandbox and address."""
    await kill_containers(kl, pod, found, grace(pod))
    boxes, _ = containerspec.group(found)
    for box in boxes:
        await remove_quietly(kl.runtime, box.id)
    await kl.pod_network.teardown(pod["metadata"]["uid"])


async def clean_up(kl, pod: dict, found: list[records.ContainerStatus]) -> None:
    """Remove everything the pod left on the node (after ``kill_containers``)."""
    meta = pod["metadata"]
    uid = meta["uid"]
    for c in sorted(found, key=lambda c: bool(c.labels.get(sandboxes.SANDBOX_LABEL))):
        await remove_quietly(kl.runtime, c.id)
    await kl.pod_network.teardown(uid)
    await volumes.teardown(kl.config, uid)
    await asyncio.to_thread(cgroups.remove, containerspec.pod_cgroup(kl.config, uid))
    if meta.get("name") and meta.get("namespace"):
        await asyncio.to_thread(shutil.rmtree, kl.config.pod_log_dir(meta["namespace"], meta["name"], uid),
                                True)


async def confirm_deletion(kl, pod: dict) -> None:
    meta = pod["metadata"]
    try:
        await kl.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                               preconditions={"uid": meta["uid"]})
    except api_status.StatusError as e:
        if e.code not in (404, 409):
            raise
