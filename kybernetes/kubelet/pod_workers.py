"""One worker per pod, as the kubelet's pod_workers.go.

Every pod bound to the node gets a task of its own that runs the pod's sync
function, never two syncs of one pod at once. Updates that arrive while a
sync runs are coalesced: the worker syncs once more, with the newest pod.
A worker also wakes on its own: after the delay its last sync asked for (a
back-off ending, a probe period, a grace period), and at the latest every
``resync`` seconds (the kubelet's --sync-frequency), so a lost event is
never lost for long.

The sync function gets the newest pod object and whether the pod is gone
from the API; it returns the delay until it wants to run again, or
``FINISHED`` when the pod is fully cleaned up and the worker may end. A
sync that raises is retried with a back-off (1 s doubling to 30 s).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FINISHED = -1.0
RETRY_MIN, RETRY_MAX = 1.0, 30.0
FINISHED_KEPT = 10_000

SyncFn = Callable[[dict, bool], Awaitable[float | None]]


@dataclass
class _Worker:
    pod: dict
    gone: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    next_delay: float | None = None


class PodWorkers:
    def __init__(self, sync: SyncFn, *, resync: float = 10.0) -> None:
        self._sync = sync
        self.resync = resync
        self._workers: dict[str, _Worker] = {}
        self._tasks: set[asyncio.Task] = set()
        # Cleaned up and ended: late events are ignored (the newest few thousand).
        self._finished: dict[str, None] = {}

    def uids(self) -> list[str]:
        return list(self._workers)

    def pod(self, uid: str) -> dict | None:
        w = self._workers.get(uid)
        return None if w is None else w.pod

    def gone(self, uid: str) -> bool:
        w = self._workers.get(uid)
        return w is not None and w.gone

    def update(self, pod: dict) -> None:
        """A new version of a pod (or the first): sync it soon, with this version."""
        uid = pod["metadata"]["uid"]
        if uid in self._finished:
            return
        w = self._workers.get(uid)
        if w is None:
            w = self._workers[uid] = _Worker(pod)
            w.task = asyncio.get_running_loop().create_task(self._run(uid, w), name=f"pod-worker-{uid}")
            self._tasks.add(w.task)
            w.task.add_done_callback(self._tasks.discard)
        else:
            w.pod = pod
        w.wake.set()

    def remove(self, pod: dict) -> None:
        """The pod is gone from the API: its worker cleans up and ends."""
        uid = pod["metadata"]["uid"]
        if uid in self._finished:
            return
        w = self._workers.get(uid)
        if w is None:
            self.update(pod)
            w = self._workers[uid]
        w.pod = pod
        w.gone = True
        w.wake.set()

    def wake(self, uid: str) -> None:
        w = self._workers.get(uid)
        if w is not None:
            w.wake.set()

    async def _run(self, uid: str, w: _Worker) -> None:
        retry = RETRY_MIN
        try:
            while True:
                w.wake.clear()
                try:
                    delay = await self._sync(w.pod, w.gone)
                    retry = RETRY_MIN
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - logged; retried with back-off
                    meta = w.pod.get("metadata") or {}
                    log.warning("error syncing pod %s/%s (%s), retrying in %.0fs: %s",
                                meta.get("namespace"), meta.get("name"), uid, retry, e,
                                exc_info=not isinstance(e, OSError))
                    delay, retry = retry, min(retry * 2, RETRY_MAX)
                if delay == FINISHED:
                    self._finished[uid] = None
                    while len(self._finished) > FINISHED_KEPT:
                        del self._finished[next(iter(self._finished))]
                    return
                timeout = self.resync if delay is None else min(max(delay, 0.0), self.resync)
                if not w.wake.is_set():
                    try:
                        await asyncio.wait_for(w.wake.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
        finally:
            if self._workers.get(uid) is w:
                del self._workers[uid]

    async def stop(self) -> None:
        """Cancel every worker (the kubelet stops; containers keep running)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
