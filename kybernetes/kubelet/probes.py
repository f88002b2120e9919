"""Liveness, readiness and startup probes, as the kubelet's prober package.

One task per (container, probe kind) while the container runs. A probe runs
every ``periodSeconds`` once ``initialDelaySeconds`` have passed since the
container started; its result flips to success after ``successThreshold``
successes in a row and to failure after ``failureThreshold`` failures
(Kubernetes' defaults: period 10 s, timeout 1 s, thresholds 1 and 3).
Liveness starts as success, readiness as failure, startup as unknown; while a
startup probe has not succeeded, liveness and readiness probes do not run.

Handlers (prober.go): ``exec`` runs the command in the container (exit 0 is
success; a timeout is a failure), ``httpGet`` asks ``scheme://host:port/path``
(host defaults to the pod IP; a named port is looked up in the container's
ports; 200 <= code < 400 is success; redirects are not followed, a 3xx is a
success as the kubelet's is with a warning), ``tcpSocket`` opens a connection.

The manager only records results and tells the pod worker (``on_change``)
when one flips; the worker decides (kill on liveness/startup failure, Ready
from readiness), so every action on a pod stays serialised in its worker.
Every failed probe is an ``Unhealthy`` event, as the kubelet records them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from kybernetes.runtime import containers

log = logging.getLogger(__name__)

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
USER_AGENT = "kube-probe/1.32"
MAX_OUTPUT = 10 * 1024


@dataclass
class ProbeState:
    kind: str
    result: bool | None  # None: unknown (startup before its first result)
    task: asyncio.Task | None = None
    successes: int = 0
    failures: int = 0


@dataclass
class _Container:
    container_id: str
    states: dict[str, ProbeState] = field(default_factory=dict)


def settings(probe: dict) -> tuple[float, float, float, int, int]:
    """(initialDelay, period, timeout, successThreshold, failureThreshold) with defaults."""
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            float(probe.get("timeoutSeconds") or 1), int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3))


def resolve_port(port: int | str, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port {port!r} in container {container.get('name')!r}")


async def run_exec(runtime: containers.Runtime, container_id: str, command: list[str],
                   timeout: float) -> tuple[bool, str]:
    try:
        code, out, err = await runtime.exec_sync(container_id, list(command), timeout=timeout)
    except asyncio.TimeoutError:
        return False, f"command {command!r} timed out"
    except Exception as e:  # noqa: BLE001 - the container is going away, most often
        return False, str(e)
    output = (out + err)[:MAX_OUTPUT].decode(errors="replace")
    return code == 0, output if code == 0 else (output or f"command {command!r} exited with {code}")


_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


async def run_http(action: dict, container: dict, pod_ip: str, timeout: float) -> tuple[bool, str]:
    scheme = (action.get("scheme") or "HTTP").lower()
    host = action.get("host") or pod_ip
    try:
        port = resolve_port(action.get("port", 80), container)
    except ValueError as e:
        return False, str(e)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for h in action.get("httpHeaders") or []:
        headers[h["name"]] = h.get("value", "")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=headers, allow_redirects=False,
                                   ssl=_INSECURE if scheme == "https" else None) as resp:
                body = await resp.content.read(MAX_OUTPUT)
                if 200 <= resp.status < 400:
                    return True, body.decode(errors="replace")
                return False, f"HTTP probe failed with statuscode: {resp.status}"
    except asyncio.TimeoutError:
        return False, (f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
                       'while awaiting headers)')
    except aiohttp.ClientConnectorError as e:
        return False, f'Get "{url}": dial tcp {host}:{port}: {_errno_text(e.os_error)}'
    except (aiohttp.ClientError, OSError) as e:
        return False, f'Get "{url}": {e}'


async def run_tcp(action: dict, container: dict, pod_ip: str, timeout: float) -> tuple[bool, str]:
    host = action.get("host") or pod_ip
    try:
        port = resolve_port(action.get("port"), container)
    except ValueError as e:
        return False, str(e)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as e:
        return False, f"dial tcp {host}:{port}: {_errno_text(e)}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True, ""


def _errno_text(e: OSError) -> str:
    """Go's wording for a failed connect: "connect: connection refused"."""
    if e.errno is not None:
        return f"connect: {os.strerror(e.errno).lower()}"
    return str(e)


async def run_probe(runtime: containers.Runtime, container_id: str, probe: dict, container: dict,
                    pod_ip: str, timeout: float) -> tuple[bool, str]:
    if "exec" in probe:
        return await run_exec(runtime, container_id, probe["exec"].get("command") or [], timeout)
    if "httpGet" in probe:
        return await run_http(probe["httpGet"], container, pod_ip, timeout)
    if "tcpSocket" in probe:
        return await run_tcp(probe["tcpSocket"], container, pod_ip, timeout)
    return True, "unsupported probe handler; treated as success"


class ProbeManager:
    """Probe workers for every container of every pod of the node."""

    def __init__(self, runtime: containers.Runtime, *, on_change: Callable[[str], None],
                 on_failure: Callable[[dict, dict, str, str], None]) -> None:
        self.runtime = runtime
        self.on_change = on_change  # (pod uid): a result flipped
        self.on_failure = on_failure  # (pod, container, kind, message): one failed probe
        self._containers: dict[tuple[str, str], _Container] = {}

    def ensure(self, pod: dict, container: dict, container_id: str, started_at_ns: int | None,
               pod_ip: str, *, was_ready: bool = False, was_started: bool = False) -> None:
        """Probe workers for this (running) container; a new container id replaces the old ones.

        ``was_ready``/``was_started``: the pod's status already said so for this very
        container (a restarted kubelet): start from there, as the kubelet's prober
        does, instead of flapping the pod to not ready."""
        key = (pod["metadata"]["uid"], container["name"])
        current = self._containers.get(key)
        if current is not None and current.container_id == container_id:
            return
        self.remove(*key)
        entry = self._containers[key] = _Container(container_id)
        has_startup = bool(container.get("startupProbe"))
        for kind in (STARTUP, LIVENESS, READINESS):
            probe = container.get(f"{kind}Probe")
            if not probe:
                continue
            initial = {LIVENESS: True, READINESS: bool(was_ready),
                       STARTUP: True if was_started else None}[kind]
            state = entry.states[kind] = ProbeState(kind, initial)
            state.task = asyncio.get_running_loop().create_task(
                self._work(pod, container, entry, state, probe, started_at_ns, pod_ip, has_startup),
                name=f"probe-{kind}-{key[0]}-{key[1]}")

    def remove(self, uid: str, name: str | None = None) -> None:
        for key in [k for k in self._containers if k[0] == uid and (name is None or k[1] == name)]:
            for state in self._containers.pop(key).states.values():
                if state.task is not None:
                    state.task.cancel()

    def result(self, uid: str, name: str, container_id: str, kind: str) -> bool | None:
        """The current result for this container; None when it has no such probe."""
        entry = self._containers.get((uid, name))
        if entry is None or entry.container_id != container_id or kind not in entry.states:
            return None
        return entry.states[kind].result

    def started(self, uid: str, name: str, container_id: str) -> bool:
        r = self.result(uid, name, container_id, STARTUP)
        entry = self._containers.get((uid, name))
        if entry is None or entry.container_id != container_id:
            return False
        return True if STARTUP not in entry.states else bool(r)

    def ready(self, uid: str, name: str, container_id: str) -> bool:
        entry = self._containers.get((uid, name))
        if entry is None or entry.container_id != container_id:
            return False
        if not self.started(uid, name, container_id):
            return False
        return bool(entry.states[READINESS].result) if READINESS in entry.states else True

    def failed(self, uid: str, name: str, container_id: str) -> str | None:
        """``liveness``/``startup`` when that probe has failed for good (the container must go)."""
        for kind in (LIVENESS, STARTUP):
            if self.result(uid, name, container_id, kind) is False:
                return kind
        return None

    async def stop(self) -> None:
        tasks = [s.task for e in self._containers.values() for s in e.states.values() if s.task]
        self._containers.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, pod: dict, container: dict, entry: _Container, state: ProbeState,
                    probe: dict, started_at_ns: int | None, pod_ip: str, has_startup: bool) -> None:
        initial_delay, period, timeout, success_threshold, failure_threshold = settings(probe)
        if state.kind == STARTUP:
            success_threshold = 1  # validation requires it; be forgiving
        started = (started_at_ns or time.time_ns()) / 1e9
        wait = started + initial_delay - time.time()
        # A random start within the first period spreads probes, as the kubelet does
        # after a restart; a fresh container is probed at once.
        if wait <= 0 and time.time() - started > period:
            wait = random.random() * period
        if wait > 0:
            await asyncio.sleep(wait)
        uid = pod["metadata"]["uid"]
        while True:
            startup = entry.states.get(STARTUP)
            if state.kind != STARTUP and has_startup and not (startup and startup.result):
                await asyncio.sleep(min(period, 1.0))
                continue
            if state.kind == STARTUP and state.result:
                return  # startup probes stop once they succeed
            ok, message = await run_probe(self.runtime, entry.container_id, probe, container,
                                          pod_ip, timeout)
            if ok:
                state.successes, state.failures = state.successes + 1, 0
                if state.result is not True and state.successes >= success_threshold:
                    state.result = True
                    self.on_change(uid)
            else:
                state.failures, state.successes = state.failures + 1, 0
                self.on_failure(pod, container, state.kind, message)
                if state.result is not False and state.failures >= failure_threshold:
                    state.result = False
                    self.on_change(uid)
                    if state.kind in (LIVENESS, STARTUP):
                        return  # the worker kills the container; a new one gets new probes
            await asyncio.sleep(period)
