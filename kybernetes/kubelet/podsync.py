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
5. init containers one at a time, each to exit 0 (a sidecar, restartPolicy
   Always, only has to start and is kept running); then every app container:
   kill on liveness/startup failure, restart by restartPolicy and back-off;
6. status (``podstatus``), written when it changed; once every regular
   container is done the sidecars are stopped and the pod ends.

Ending a pod is ``podtermination``'s.

The sync returns when it wants to run again (back-off end, deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field

from kybernetes.kubelet import containerspec, hooks, podcontainers, podfiles, podstatus, podtermination, volumes
from kybernetes.kubelet.containerspec import group
from kybernetes.kubelet.pod_workers import FINISHED
from kybernetes.network import naming
from kybernetes.runtime import errors, records, sandboxes, spec

log = logging.getLogger(__name__)

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


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except ValueError:
        return None


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
        found = await self.kl.pod_containers(uid)
        if gone or meta.get("deletionTimestamp"):
            await podtermination.kill_containers(self.kl, pod, found, podtermination.grace(pod, found))
            await podtermination.clean_up(self.kl, pod, found)
            if not gone:
                await podtermination.confirm_deletion(self.kl, pod)
            self.records.pop(uid, None)
            return FINISHED
        status = pod.get("status") or {}
        if status.get("phase") in podstatus.TERMINAL:
            if not rec.torn_down:
                await podtermination.tear_down_finished(self.kl, pod, found)
                rec.torn_down, rec.network = True, None
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
        kl = self.kl
        boxes, by_name = group(found)
        # New pods start a few at a time, network included: each finishes sooner than
        # if all of them shared the CPU at once, so pods turn Running one after the
        # other instead of all at the end (restarts of running pods never wait).
        # The slot is given back before the status write: the API's answer is no work here.
        async with contextlib.AsyncExitStack() as slot:
            if not (boxes and boxes[0].state == records.RUNNING):
                await slot.enter_async_context(kl.start_slots)
            return await self._run_in_slot(pod, rec, found, boxes, by_name, slot)

    async def _run_in_slot(self, pod: dict, rec: PodRecord, found: list[records.ContainerStatus],
                           boxes: list[records.ContainerStatus],
                           by_name: dict[str, list[records.ContainerStatus]],
                           slot: contextlib.AsyncExitStack) -> float | None:
        kl, meta, spec_ = self.kl, pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        state = podstatus.PodState(host_ip=kl.host_ip(), start_time=rec.start_time)
        await asyncio.to_thread(os.makedirs, kl.config.pod_dir(uid), exist_ok=True)
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
        return await self._run_in_sandbox(pod, rec, state, boxes, by_name, netns_path,
                                          host_network, hostname, pod_ip, slot)

    async def _run_in_sandbox(self, pod: dict, rec: PodRecord, state: podstatus.PodState,
                              boxes: list[records.ContainerStatus],
                              by_name: dict[str, list[records.ContainerStatus]], netns_path: str,
                              host_network: bool, hostname: str, pod_ip: str,
                              slot: contextlib.AsyncExitStack) -> float | None:
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
        # Init containers, in order, each to completion; a sidecar (restartPolicy
        # Always) only has to have started, and keeps running beside the others.
        initialized = True
        begun = any(by_name.get(c["name"]) for c in spec_.get("containers") or [])
        for c in spec_.get("initContainers") or []:
            items = by_name.get(c["name"], [])
            newest = items[0] if items else None
            if containerspec.is_sidecar(c):
                delay, did = await self._app_container(pod, c, items, "Always", rec, state, ctx, kind="init")
                changed |= did
                waiting_delay = _min(waiting_delay, delay)
                if begun or (did and not c.get("startupProbe")):
                    continue
                if newest is not None and newest.state == records.RUNNING:
                    kl.probes.ensure(pod, c, newest.id, newest.started_at, pod_ip)
                    if kl.probes.started(uid, c["name"], newest.id):
                        continue
                initialized = False
                break
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
            found = await kl.pod_containers(uid)
            _, by_name = group(found)
            for items in by_name.values():
                await podcontainers.prune(kl, items)
        await slot.aclose()
        state.containers = by_name
        self._probe_states(pod, by_name, state, pod_ip)
        new_status = podstatus.compute(pod, state)
        if new_status.get("phase") in podstatus.TERMINAL:
            # Every regular container is done: sidecars are stopped, then the pod ends.
            found = [c for items in by_name.values() for c in items] + boxes
            if any(c.state == records.RUNNING for items in by_name.values() for c in items):
                await podtermination.kill_containers(kl, pod, found, podtermination.grace(pod), sandbox=False)
                found = await kl.pod_containers(uid)
                _, state.containers = group(found)
            state.messages = await asyncio.to_thread(self._messages, pod, state.containers, rec)
            await self._write_status(pod, rec, state)
            await podtermination.tear_down_finished(kl, pod, found)
            rec.torn_down, rec.network = True, None
            return None
        state.messages = await asyncio.to_thread(self._messages, pod, by_name, rec)
        await self._write_status(pod, rec, state)
        if changed:
            return POLL
        return waiting_delay

    def _probe_states(self, pod: dict, by_name: dict[str, list[records.ContainerStatus]],
                      state: podstatus.PodState, pod_ip: str) -> None:
        """Probe workers for the running app containers and sidecars; their results."""
        kl, spec_, uid = self.kl, pod.get("spec") or {}, pod["metadata"]["uid"]
        st = pod.get("status") or {}
        reported = {cs.get("containerID"): cs for cs in
                    list(st.get("containerStatuses") or []) + list(st.get("initContainerStatuses") or [])}
        probed = [c for c in spec_.get("initContainers") or [] if containerspec.is_sidecar(c)]
        for c in probed + list(spec_.get("containers") or []):
            items = by_name.get(c["name"], [])
            if items and items[0].state == records.RUNNING:
                before = reported.get(podstatus.RUNTIME_SCHEME + items[0].id) or {}
                kl.probes.ensure(pod, c, items[0].id, items[0].started_at, pod_ip,
                                 was_ready=bool(before.get("ready")), was_started=bool(before.get("started")))
                state.ready[c["name"]] = kl.probes.ready(uid, c["name"], items[0].id)
                state.started[c["name"]] = kl.probes.started(uid, c["name"], items[0].id)

    def _messages(self, pod: dict, by_name: dict[str, list[records.ContainerStatus]],
                  rec: PodRecord) -> dict[str, str]:
        """Termination messages of the newest exited containers (terminationMessagePath,
        or the log's tail with FallbackToLogsOnError), read once per container."""
        for name, items in by_name.items():
            newest = items[0]
            if newest.state != records.EXITED or newest.id in rec.messages:
                continue
            message = podfiles.termination_message(self.kl.config, pod, name)
            spec_c = podtermination.spec_container(pod, name) or {}
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
            rec.pod_files = await asyncio.to_thread(podfiles.write, kl.config, pod, pod_ip)
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
                await podtermination.remove_quietly(kl.runtime, old.id)
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
                await podtermination.remove_quietly(kl.runtime, box.id)
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
                             rec: PodRecord, state: podstatus.PodState, ctx: dict,
                             kind: str = "app") -> tuple[float | None, bool]:
        kl, uid = self.kl, pod["metadata"]["uid"]
        newest = items[0] if items else None
        if newest is not None and newest.state == records.RUNNING:
            failed = kl.probes.failed(uid, c["name"], newest.id)
            if not failed:
                return None, False
            kl.recorder.event(podcontainers.container_ref(pod, c["name"], kind), "Normal", "Killing",
                              f"Container {c['name']} failed {failed} probe, will be restarted")
            await hooks.kill(kl.runtime, newest.id, c, ctx["pod_ip"], _probe_grace(pod, c, failed))
            kl.probes.remove(uid, c["name"])
            newest = await kl.runtime.status(newest.id)
        if newest is not None and newest.state == records.CREATED:
            return POLL, False  # being started by us right now, or left half-made: wait
        if newest is not None and not podcontainers.should_restart(policy, newest):
            return None, False
        return await self._start_or_back_off(pod, c, kind, newest, rec, state, ctx)

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
        if rec.last_status is not None:
            # Our own conditions as we last wrote them (the informer's copy may lag),
            # so their lastTransitionTime does not move; others' as the API has them.
            st = dict(pod.get("status") or {})
            mine = [c for c in rec.last_status.get("conditions") or []
                    if c["type"] in podstatus.KUBELET_CONDITIONS]
            st["conditions"] = mine + [c for c in st.get("conditions") or []
                                       if c["type"] not in podstatus.KUBELET_CONDITIONS]
            pod = dict(pod, status=st)
        new = podstatus.compute(pod, state)
        # Against what we wrote last (the informer's copy may not have caught up yet);
        # a new kubelet compares with the API's.
        old = rec.last_status if rec.last_status is not None else (pod.get("status") or {})
        if podstatus.changed(old, new):
            written = await podstatus.patch(self.kl.client, pod, new)
            if written is not None:
                rec.last_status = new
        return new

    # -- ending ----------------------------------------------------------------

    async def _deadline_exceeded(self, pod: dict, found: list[records.ContainerStatus],
                                 rec: PodRecord) -> float | None:
        msg = "Pod was active on the node longer than the specified deadline"
        self.kl.recorder.event(pod, "Normal", "DeadlineExceeded", msg)
        await podtermination.kill_containers(self.kl, pod, found, podtermination.grace(pod))
        found = await self.kl.pod_containers(pod["metadata"]["uid"])
        state = podstatus.PodState(host_ip=self.kl.host_ip(), start_time=rec.start_time,
                                   terminal=("Failed", "DeadlineExceeded", msg))
        _, state.containers = group(found)
        await self._write_status(pod, rec, state)
        await podtermination.tear_down_finished(self.kl, pod, found)
        rec.torn_down, rec.network = True, None
        return None


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
    return podtermination.grace(pod)


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


