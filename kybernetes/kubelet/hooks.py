"""Lifecycle hooks and container termination, as kuberuntime's killContainer.

``postStart`` runs right after a container starts; if it fails the container
is killed (event ``FailedPostStartHook``) and restarted per restartPolicy.
Killing a container runs its ``preStop`` hook first, within the grace period,
then sends the stop signal (SIGTERM unless the image says otherwise), waits
for what is left of the grace period and sends SIGKILL. Hook handlers are
``exec`` (in the container) and ``httpGet`` (to the pod IP), as probes are;
``sleep`` (PodLifecycleSleepAction) sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kybernetes.kubelet import probes
from kybernetes.runtime import containers, errors

log = logging.getLogger(__name__)

MIN_GRACE = 2.0  # the kubelet's minimumGracePeriodInSeconds for a kill with a hook


async def run_handler(runtime: containers.Runtime, container_id: str, handler: dict,
                      container: dict, pod_ip: str, timeout: float) -> str | None:
    """Run one hook handler; None on success, else what went wrong."""
    if "exec" in handler:
        command = handler["exec"].get("command") or []
        ok, message = await probes.run_exec(runtime, container_id, command, timeout)
        return None if ok else f"command {command!r} exited: {message}"
    if "httpGet" in handler:
        ok, message = await probes.run_http(handler["httpGet"], container, pod_ip, timeout)
        return None if ok else message
    if "sleep" in handler:
        await asyncio.sleep(min(float(handler["sleep"].get("seconds") or 0), timeout))
        return None
    return "unknown handler type"


async def post_start(runtime: containers.Runtime, container_id: str, container: dict,
                     pod_ip: str) -> str | None:
    handler = (container.get("lifecycle") or {}).get("postStart")
    if not handler:
        return None
    # The kubelet waits for postStart without its own timeout; keep one.
    return await run_handler(runtime, container_id, handler, container, pod_ip, 120.0)


async def kill(runtime: containers.Runtime, container_id: str, container: dict | None,
               pod_ip: str, grace: float) -> str | None:
    """preStop (if any and the container runs), stop signal, grace, SIGKILL.

    Returns the preStop failure message, if there was one (an event for the caller).
    """
    problem = None
    deadline = time.monotonic() + grace
    handler = ((container or {}).get("lifecycle") or {}).get("preStop")
    if handler and grace > 0:
        try:
            running = (await runtime.status(container_id)).state == "running"
        except errors.ContainerNotFound:
            return None
        if running:
            try:
                problem = await asyncio.wait_for(
                    run_handler(runtime, container_id, handler, container or {}, pod_ip, grace), grace)
            except asyncio.TimeoutError:
                problem = f"preStop hook did not finish within {grace:.0f}s"
    left = max(deadline - time.monotonic(), MIN_GRACE if handler and grace > 0 else 0.0)
    try:
        await runtime.stop(container_id, timeout=left if grace > 0 else 0)
    except errors.ContainerNotFound:
        pass
    return problem
