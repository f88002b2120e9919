"""One sync of one pod: make what runs on the node match the pod (kubelet's SyncPod).

The recipe, level-triggered, run by the pod's worker (``pod_workers``):

1. deleted (``deletionTimestamp``) or gone from the API: kill every container
   (preStop, stop signal, grace period, SIGKILL), remove containers and
   sandbox, tear down the network, volumes and the pod cgroup, then confirm
   the deletion (DELETE with grace 0 and a uid precondition);
2. terminal (Succeeded/Failed): containers stay (for ``logs``), the sandbox
   and the network go;
3. ``activeDeadlineSeconds`` past: kill everything, Failed/DeadlineExceeded;
4. pod dir, network (a PodNetwork address, or the node host's namespace for
   hostNetwork), volumes, per-pod files, sandbox (a dead sandbox takes every
   container with it, as in the kubelet);
5. init containers one at a time, each to exit 0; then every app container:
   kill on liveness/startup failure, restart by restartPolicy and back-off;
6. status (``podstatus``), written when it changed.

The sync returns when it wants to run again (back-off end, deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field

from kybernetes.api import registry, status as api_status
from kybernetes.kubelet import containerspec, hooks, podcontainers, podstatus
from kybernetes.kubelet.pod_workers import FINISHED
from kybernetes.network import naming
from kybernetes.runtime import cgroups, errors, records, sandboxes, spec

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")
VOLUME_REFRESH = 60.0
POLL = 1.0  # re-sync while something is on its way (a container being created, a kill)


@dataclass
class PodRecord:
    """What the kubelet remembers of a pod between syncs (all of it can be rebuilt)."""

    backoff: podcontainers.Backoff = field(default_factory=podcontainers.Backoff)
    volume_paths: dict[str, str] | None = None
    volumes_at: float = 0.0
    pod_files: list[spec.Mount] | None = None
    last_status: dict | None = None
    messages: dict[str, str] = field(default_factory=dict)  # container id -> termination message
    network: object | None = None  # the PodIP once set up (setup is idempotent but not free)
    start_time: str | None = None
    torn_down: bool = False


def _grace(pod: dict, found: list[records.ContainerStatus] = ()) -> float:
    meta, spec_ = pod["metadata"], pod.get("spec") or {}
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return float(meta["deletionGracePeriodSeconds"])
    if "spec" not in pod:  # known only from its containers' labels (deleted while we were away)
        recorded = [c.labels.get(containerspec.GRACE_PERIOD) for c in found]
        values = [float(v) for v in recorded if v and v.replace(".", "", 1).isdigit()]
        return max(values, default=float(containerspec.DEFAULT_GRACE))
    value = spec_.get("terminationGracePeriodSeconds")
    return float(containerspec.DEFAULT_GRACE if value is None else value)


def _spec_container(pod: dict, name: str) -> dict | None:
    spec_ = pod.get("spec") or {}
    for c in list(spec_.get("containers") or []) + list(spec_.get("initContainers") or []):
        if c.get("name") == name:
            return c
    return None


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except ValueError:
        return None


def group(found: list[records.ContainerStatus]) -> tuple[list[records.ContainerStatus],
                                                         dict[str, list[records.ContainerStatus]]]:
    """(sandboxes newest first, app/init containers by name newest first)."""
    boxes = [c for c in found if c.labels.get(sandboxes.SANDBOX_LABEL)]
    by_name: dict[str, list[records.ContainerStatus]] = {}
    for c in found:
        if not c.labels.get(sandboxes.SANDBOX_LABEL):
            by_name.setdefault(c.labels.get(containerspec.CONTAINER_NAME, c.name), []).append(c)
    order = lambda c: (podcontainers.restart_count(c), c.created_at)  # noqa: E731
    boxes.sort(key=lambda c: c.created_at, reverse=True)
    for items in by_name.values():
        items.sort(key=order, reverse=True)
    return boxes, by_name


class PodSync:
    """The sync function of every pod worker of one kubelet."""

    def __init__(self, kubelet) -> None:
        self.kl = kubelet
        self.records: dict[str, PodRecord] = {}

    def record(self, uid: str) -> PodRecord:
        return self.records.setdefault(uid, PodRecord())

    async def sync(self, pod: dict, gone: bool) -> float | None:
        meta = pod["metadata"]
        uid = meta["uid"]
        rec = self.record(uid)
        found = [c for c in await self.kl.relist() if c.labels.get(containerspec.POD_UID) == uid]
        if gone or meta.get("deletionTimestamp"):
            await self.terminate(pod, found, _grace(pod, found))
            await self.cleanup(pod, found)
            if not gone:
                await self._confirm_deletion(pod)
            self.records.pop(uid, None)
            return FINISHED
        status = pod.get("status") or {}
        if status.get("phase") in podstatus.TERMINAL:
            await self._tear_down_terminal(pod, found, rec)
            return None
        rec.start_time = rec.start_time or status.get("startTime") or podstatus.stamp()
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            started = _parse_time(rec.start_time) or time.time()
            left = started + float(deadline) - time.time()
            if left <= 0:
                return await self._deadline_exceeded(pod, found, rec)
        else:
            left = None
        delay = await self._run(pod, found, rec)
        if left is not None:
            delay = left if delay is None else min(delay, left)
        return delay

    # -- running -------------------------------------------------------------

    async def _run(self, pod: dict, found: list[records.ContainerStatus], rec: PodRecord) -> float | None:
        kl, meta, spec_ = self.kl, pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        state = podstatus.PodState(host_ip=kl.host_ip(), start_time=rec.start_time)
        os.makedirs(kl.config.pod_dir(uid), exist_ok=True)
        host_network = bool(spec_.get("hostNetwork"))
        if host_network:
            netns_path, pod_ip = naming.netns_path(kl.node_host.netns), kl.host_ip()
        else:
            if rec.network is None:
                rec.network = await kl.pod_network.setup(uid)
            netns_path, pod_ip = rec.network.netns_path, str(rec.network.ip)
        state.pod_ip = pod_ip
        if rec.last_status is None and not (pod.get("status") or {}).get("containerStatuses"):
            # First sight: Pending, ContainerCreating, with the pod's IP (as the kubelet
            # reports before its sandbox and containers exist).
            await self._write_status(pod, rec, podstatus.PodState(
                host_ip=state.host_ip, pod_ip=pod_ip, start_time=rec.start_time))
        if not await self._volumes(pod, rec, pod_ip):
            _, state.containers = group(found)
            state.waiting = {c["name"]: ("ContainerCreating", "") for c in spec_.get("containers") or []}
            await self._write_status(pod, rec, state)
            return 2.0
        hostname = kl.config.node_name if host_network else (spec_.get("hostname") or meta["name"])[:63]
        boxes, by_name = group(found)
        # New pods start a few at a time: each finishes sooner than if all of them
        # shared the CPU at once (restarts of running pods never wait for a slot).
        starting = not (boxes and boxes[0].state == records.RUNNING)
        async with kl.start_slots if starting else contextlib.nullcontext():
            return await self._run_in_sandbox(pod, rec, state, boxes, by_name, netns_path,
                                              host_network, hostname, pod_ip)

    async def _run_in_sandbox(self, pod: dict, rec: PodRecord, state: podstatus.PodState,
                              boxes: list[records.ContainerStatus],
                              by_name: dict[str, list[records.ContainerStatus]], netns_path: str,
                              host_network: bool, hostname: str, pod_ip: str) -> float | None:
        kl, meta, spec_ = self.kl, pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        waiting_delay: float | None = None
        sandbox_id = await self._sandbox(pod, boxes, by_name, netns_path, host_network, hostname)
        if sandbox_id is None:
            return POLL
        state.sandbox_ready = True
        ctx = dict(sandbox_id=sandbox_id, netns_path=netns_path, host_network=host_network,
                   pod_ip=pod_ip, hostname=hostname, volume_paths=rec.volume_paths or {},
                   pod_files=rec.pod_files or [])
        policy = spec_.get("restartPolicy") or "Always"
        changed = False
        # Init containers, in order, each to completion.
        initialized = True
        for c in spec_.get("initContainers") or []:
            items = by_name.get(c["name"], [])
            newest = items[0] if items else None
            if newest is not None and newest.state == records.EXITED and newest.exit_code == 0:
                continue
            initialized = False
            if newest is not None and newest.state in (records.RUNNING, records.CREATED):
                break
            if newest is not None and policy == "Never":
                break  # failed for good: the pod fails
            delay, did = await self._start_or_back_off(pod, c, "init", newest, rec, state, ctx)
            changed |= did
            waiting_delay = _min(waiting_delay, delay)
            break
        if initialized:
            for c in spec_.get("containers") or []:
                delay, did = await self._app_container(pod, c, by_name.get(c["name"], []), policy, rec,
                                                       state, ctx)
                changed |= did
                waiting_delay = _min(waiting_delay, delay)
        if changed:
            found = [x for x in await kl.relist() if x.labels.get(containerspec.POD_UID) == uid]
            _, by_name = group(found)
            for items in by_name.values():
                await podcontainers.prune(kl, items)
        state.containers = by_name
        state.messages = await asyncio.to_thread(self._messages, pod, by_name, rec)
        reported = {cs.get("containerID"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        for c in spec_.get("containers") or []:
            items = by_name.get(c["name"], [])
            if items and items[0].state == records.RUNNING:
                before = reported.get(podstatus.RUNTIME_SCHEME + items[0].id) or {}
                kl.probes.ensure(pod, c, items[0].id, items[0].started_at, pod_ip,
                                 was_ready=bool(before.get("ready")), was_started=bool(before.get("started")))
                state.ready[c["name"]] = kl.probes.ready(uid, c["name"], items[0].id)
                state.started[c["name"]] = kl.probes.started(uid, c["name"], items[0].id)
        new_status = await self._write_status(pod, rec, state)
        if new_status.get("phase") in podstatus.TERMINAL:
            await self._tear_down_terminal(pod, [c for items in by_name.values() for c in items] + boxes, rec)
        if changed:
            return POLL
        return waiting_delay

    def _messages(self, pod: dict, by_name: dict[str, list[records.ContainerStatus]],
                  rec: PodRecord) -> dict[str, str]:
        """Termination messages of the newest exited containers (terminationMessagePath,
        or the log's tail with FallbackToLogsOnError), read once per container."""
        try:
            from kybernetes.kubelet import podfiles
        except ImportError:
            return rec.messages
        for name, items in by_name.items():
            newest = items[0]
            if newest.state != records.EXITED or newest.id in rec.messages:
                continue
            message = podfiles.termination_message(self.kl.config, pod, name)
            spec_c = _spec_container(pod, name) or {}
            if not message and newest.exit_code != 0 \
                    and spec_c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                message = _log_tail(newest.log_path)
            rec.messages[newest.id] = message
        live = {c.id for items in by_name.values() for c in items}
        rec.messages = {k: v for k, v in rec.messages.items() if k in live}
        return rec.messages

    async def _volumes(self, pod: dict, rec: PodRecord, pod_ip: str) -> bool:
        kl = self.kl
        if rec.pod_files is None:
            try:
                from kybernetes.kubelet import podfiles
            except ImportError:
                rec.pod_files = []
            else:
                rec.pod_files = await asyncio.to_thread(podfiles.write, kl.config, pod, pod_ip)
        try:
            from kybernetes.kubelet import volumes
        except ImportError:
            rec.volume_paths = {}
            return True
        try:
            if rec.volume_paths is None:
                rec.volume_paths = await volumes.setup(kl.client, kl.config, pod)
                rec.volumes_at = time.monotonic()
            elif time.monotonic() - rec.volumes_at > VOLUME_REFRESH:
                rec.volumes_at = time.monotonic()
                await volumes.refresh(kl.client, kl.config, pod)
        except volumes.VolumeError as e:
            kl.recorder.event(pod, "Warning", getattr(e, "reason", "FailedMount") or "FailedMount",
                              getattr(e, "message", None) or str(e))
            return False
        return True

    async def _sandbox(self, pod: dict, boxes: list[records.ContainerStatus],
                       by_name: dict[str, list[records.ContainerStatus]], netns_path: str,
                       host_network: bool, hostname: str) -> str | None:
        kl, meta = self.kl, pod["metadata"]
        if boxes and boxes[0].state == records.RUNNING:
            for old in boxes[1:]:
                await _remove_quietly(kl.runtime, old.id)
            return boxes[0].id
        if boxes:
            # The sandbox died: every container goes with it and starts again.
            kl.recorder.event(pod, "Normal", "SandboxChanged",
                              "Pod sandbox changed, it will be killed and re-created.")
            for items in by_name.values():
                for c in items:
                    if c.state == records.RUNNING:
                        await hooks.kill(kl.runtime, c.id, None, "", 0)
            for box in boxes:
                await _remove_quietly(kl.runtime, box.id)
        config = sandboxes.SandboxConfig(
            name=f"{meta['namespace']}_{meta['name']}_{meta['uid']}", hostname=hostname,
            netns_path=netns_path, share_pid=bool((pod.get("spec") or {}).get("shareProcessNamespace")),
            cgroup_parent=containerspec.pod_cgroup(kl.config, meta["uid"]),
            labels=containerspec.pod_labels(pod))
        try:
            return await sandboxes.run_sandbox(kl.runtime, config)
        except errors.ContainerRuntimeError as e:
            kl.recorder.event(pod, "Warning", "FailedCreatePodSandBox",
                              f"Failed to create pod sandbox: {e}")
            return None

    async def _app_container(self, pod: dict, c: dict, items: list[records.ContainerStatus], policy: str,
                             rec: PodRecord, state: podstatus.PodState, ctx: dict) -> tuple[float | None, bool]:
        kl, uid = self.kl, pod["metadata"]["uid"]
        newest = items[0] if items else None
        if newest is not None and newest.state == records.RUNNING:
            failed = kl.probes.failed(uid, c["name"], newest.id)
            if not failed:
                return None, False
            kl.recorder.event(podcontainers.container_ref(pod, c["name"]), "Normal", "Killing",
                              f"Container {c['name']} failed {failed} probe, will be restarted")
            await hooks.kill(kl.runtime, newest.id, c, ctx["pod_ip"], _probe_grace(pod, c, failed))
            kl.probes.remove(uid, c["name"])
            newest = await kl.runtime.status(newest.id)
        if newest is not None and newest.state == records.CREATED:
            return POLL, False  # being started by us right now, or left half-made: wait
        if newest is not None and not podcontainers.should_restart(policy, newest):
            return None, False
        return await self._start_or_back_off(pod, c, "app", newest, rec, state, ctx)

    async def _start_or_back_off(self, pod: dict, c: dict, kind: str, newest: records.ContainerStatus | None,
                                 rec: PodRecord, state: podstatus.PodState, ctx: dict) -> tuple[float | None, bool]:
        kl, name = self.kl, c["name"]
        if newest is not None:
            finished = (newest.finished_at or time.time_ns()) / 1e9
            left = rec.backoff.remaining(name, finished)
            if left > 0:
                meta = pod["metadata"]
                msg = (f"back-off {rec.backoff.current(name):.0f}s restarting failed container={name} "
                       f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")
                state.waiting[name] = ("CrashLoopBackOff", msg)
                kl.recorder.event(podcontainers.container_ref(pod, name, kind), "Warning", "BackOff",
                                  f"Back-off restarting failed container {name} in pod "
                                  f"{meta['name']}_{meta['namespace']}({meta['uid']})")
                return left, False
            rec.backoff.next(name)
        count = podcontainers.restart_count(newest) + 1
        try:
            await podcontainers.start(kl, pod, c, kind=kind, count=count, **ctx)
        except podcontainers.StartError as e:
            state.waiting[name] = (e.reason, e.message)
            return 5.0, False
        return None, True

    # -- status ----------------------------------------------------------------

    async def _write_status(self, pod: dict, rec: PodRecord, state: podstatus.PodState) -> dict:
        new = podstatus.compute(pod, state)
        old = rec.last_status if rec.last_status is not None else (pod.get("status") or {})
        if podstatus.changed(old, new) or podstatus.changed(pod.get("status") or {}, new):
            written = await podstatus.patch(self.kl.client, pod, new)
            if written is not None:
                rec.last_status = new
        return new

    # -- ending ----------------------------------------------------------------

    async def _deadline_exceeded(self, pod: dict, found: list[records.ContainerStatus],
                                 rec: PodRecord) -> float | None:
        msg = "Pod was active on the node longer than the specified deadline"
        self.kl.recorder.event(pod, "Normal", "DeadlineExceeded", msg)
        await self.terminate(pod, found, _grace(pod))
        found = [c for c in await self.kl.relist() if c.labels.get(containerspec.POD_UID) == pod["metadata"]["uid"]]
        state = podstatus.PodState(host_ip=self.kl.host_ip(), start_time=rec.start_time,
                                   terminal=("Failed", "DeadlineExceeded", msg))
        _, state.containers = group(found)
        await self._write_status(pod, rec, state)
        await self._tear_down_terminal(pod, found, rec)
        return None

    async def terminate(self, pod: dict, found: list[records.ContainerStatus], grace: float) -> None:
        """Kill every running container (in parallel, each with preStop and the grace period)."""
        kl, uid = self.kl, pod["metadata"]["uid"]
        kl.probes.remove(uid)
        net = None if (pod.get("spec") or {}).get("hostNetwork") else await kl.pod_network.lookup(uid)
        pod_ip = str(net.ip) if net else kl.host_ip()
        boxes, by_name = group(found)
        kills = []
        for name, items in by_name.items():
            for c in items:
                if c.state in (records.RUNNING, records.CREATED):
                    spec_c = _spec_container(pod, name)
                    kl.recorder.event(podcontainers.container_ref(pod, name), "Normal", "Killing",
                                      f"Stopping container {name}")
                    kills.append(hooks.kill(kl.runtime, c.id, spec_c, pod_ip, grace))
        for problem in await asyncio.gather(*kills, return_exceptions=True):
            if isinstance(problem, BaseException) and not isinstance(problem, Exception):
                raise problem
            if problem:
                kl.recorder.event(pod, "Warning", "FailedPreStopHook", str(problem))
        for box in boxes:
            try:
                await sandboxes.stop_sandbox(kl.runtime, box.id)
            except errors.ContainerNotFound:
                pass

    async def _tear_down_terminal(self, pod: dict, found: list[records.ContainerStatus],
                                  rec: PodRecord) -> None:
        """A finished pod keeps its containers (logs) but not its sandbox and address."""
        if rec.torn_down:
            return
        kl, uid = self.kl, pod["metadata"]["uid"]
        await self.terminate(pod, found, 0)
        boxes, _ = group(found)
        for box in boxes:
            await _remove_quietly(kl.runtime, box.id)
        await kl.pod_network.teardown(uid)
        rec.network = None
        rec.torn_down = True

    async def cleanup(self, pod: dict, found: list[records.ContainerStatus]) -> None:
        """Remove everything the pod left on the node (after ``terminate``)."""
        kl, meta = self.kl, pod["metadata"]
        uid = meta["uid"]
        for c in sorted(found, key=lambda c: bool(c.labels.get(sandboxes.SANDBOX_LABEL))):
            await _remove_quietly(kl.runtime, c.id)
        await kl.pod_network.teardown(uid)
        try:
            from kybernetes.kubelet import volumes
        except ImportError:
            await asyncio.to_thread(shutil.rmtree, kl.config.pod_dir(uid), True)
        else:
            await volumes.teardown(kl.config, uid)
        await asyncio.to_thread(cgroups.remove, containerspec.pod_cgroup(kl.config, uid))
        if meta.get("name") and meta.get("namespace"):
            await asyncio.to_thread(shutil.rmtree, kl.config.pod_log_dir(meta["namespace"], meta["name"], uid),
                                    True)

    async def _confirm_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.kl.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                        preconditions={"uid": meta["uid"]})
        except api_status.StatusError as e:
            if e.code not in (404, 409):
                raise


def _log_tail(path: str, lines: int = 80, limit: int = 2048) -> str:
    """The last lines of a CRI log, contents only (the kubelet's FallbackToLogsOnError)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            raw = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    out = []
    for line in raw[-lines:]:
        parts = line.split(" ", 3)
        if len(parts) == 4:
            out.append(parts[3] + ("\n" if parts[2] == "F" else ""))
    return "".join(out)[-limit:]


def _probe_grace(pod: dict, c: dict, kind: str) -> float:
    probe = c.get(f"{kind}Probe") or {}
    if probe.get("terminationGracePeriodSeconds") is not None:
        return float(probe["terminationGracePeriodSeconds"])
    return _grace(pod)


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


async def _remove_quietly(runtime, container_id: str) -> None:
    try:
        await runtime.remove(container_id)
    except errors.ContainerNotFound:
        pass
    except errors.ContainerRuntimeError as e:
        log.warning("removing container %s: %s", container_id, e)
