"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's tools/leaderelection.

Candidates race for one Lease. The holder renews ``spec.renewTime`` every
``retry_period``; if it cannot renew within ``renew_deadline`` it stops
leading. Others take the Lease once it is free (no holderIdentity) or has not
changed for ``leaseDurationSeconds`` as measured on their own clock (client-go
times the observed record, not renewTime, so clock skew between machines does
not matter). Every write is fenced: an update carries the resourceVersion read
just before, so of two racing candidates the second gets 409 and loses.

``run(on_started_leading, on_stopped_leading)`` blocks until it holds the
lease, runs ``on_started_leading()`` as a task, and cancels that task when the
lease is lost or ``run`` itself is cancelled; ``on_stopped_leading()`` is then
called (only if it had led). With ``release_on_cancel`` the lease is handed
back on the way out (holder cleared, duration 1 s) so a successor need not
wait out the lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kybernetes.api import registry, status
from kybernetes.client import clock as clocks
from kybernetes.client import rest

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")


def micro_time(t: datetime) -> str:
    """metav1.MicroTime's wire format: ``2006-01-02T15:04:05.000000Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    def __init__(self, client: rest.Client, lock_name: str, namespace: str = "kube-system", *,
                 identity: str | None = None, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = False,
                 on_new_leader: Callable[[str], Any] | None = None,
                 clock: clocks.Clock | None = None):
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError("renew_deadline must be greater than retry_period*1.2")
        self.client = client
        self.lock_name = lock_name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.on_new_leader = on_new_leader
        self._clock = clock or clocks.RealClock()
        self._observed: dict[str, Any] = {}      # the Lease spec last seen
        self._observed_lease: dict[str, Any] | None = None
        self._observed_time = 0.0                 # monotonic time it last changed

    @property
    def leader(self) -> str:
        """The holder identity last observed (``""`` if none)."""
        return self._observed.get("holderIdentity") or ""

    def is_leader(self) -> bool:
        return self.leader == self.identity

    async def run(self, on_started_leading: Callable[[], Awaitable[Any]],
                  on_stopped_leading: Callable[[], Any] | None = None) -> None:
        await self._acquire()
        log.info("%s: %s became leader", self.lock_name, self.identity)
        leading = asyncio.create_task(on_started_leading(), name=f"leading:{self.lock_name}")
        renewing = asyncio.create_task(self._renew(), name=f"renewing:{self.lock_name}")
        try:
            done, _ = await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if leading in done and renewing not in done:
                leading.result()  # a failed callback propagates
                await renewing   # it returned: keep leading until the lease is lost
        finally:
            for task in (leading, renewing):
                task.cancel()
            await asyncio.wait({leading, renewing})
            if self.release_on_cancel and self.is_leader():
                await self._release()
            self._observed = {}
            if on_stopped_leading is not None:
                on_stopped_leading()

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await self._clock.sleep(self.retry_period * (1 + random.random() * JITTER_FACTOR))

    async def _renew(self) -> None:
        """Renew every retry_period; return when renew_deadline passes without success."""
        while True:
            deadline = self._clock.monotonic() + self.renew_deadline
            while True:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    log.warning("%s: %s failed to renew lease within %ss; stopped leading",
                                self.lock_name, self.identity, self.renew_deadline)
                    return
                try:
                    async with asyncio.timeout(remaining):
                        ok = await self._try_acquire_or_renew()
                except TimeoutError:
                    ok = False
                if ok:
                    break
                await self._clock.sleep(min(self.retry_period, max(remaining, 0.0)))
            await self._clock.sleep(self.retry_period)

    async def _try_acquire_or_renew(self) -> bool:
        now = self._clock.monotonic()
        stamp = micro_time(self._clock.now())
        try:
            lease = await self.client.get(LEASES, self.lock_name, self.namespace)
        except status.StatusError as e:
            if e.code != 404:
                log.warning("%s: error retrieving lease: %s", self.lock_name, e)
                return False
            return await self._create(stamp, now)
        except rest.ClientError as e:
            log.warning("%s: error retrieving lease: %s", self.lock_name, e)
            return False
        self._observe(lease, now)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or 0
        if holder and holder != self.identity and self._observed_time + duration > now:
            return False
        new_spec = dict(spec, holderIdentity=self.identity,
                        leaseDurationSeconds=int(round(self.lease_duration)), renewTime=stamp)
        if holder != self.identity:
            new_spec["acquireTime"] = stamp
            new_spec["leaseTransitions"] = (spec.get("leaseTransitions") or 0) + 1
        # The PUT carries the resourceVersion just read: a racing candidate's write makes ours 409.
        try:
            updated = await self.client.update(LEASES, dict(lease, spec=new_spec))
        except (status.StatusError, rest.ClientError) as e:
            log.info("%s: failed to update lease: %s", self.lock_name, e)
            return False
        self._observe(updated, now)
        return True

    async def _create(self, stamp: str, now: float) -> bool:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.lock_name, "namespace": self.namespace},
                 "spec": {"holderIdentity": self.identity,
                          "leaseDurationSeconds": int(round(self.lease_duration)),
                          "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}}
        try:
            created = await self.client.create(LEASES, lease)
        except (status.StatusError, rest.ClientError) as e:
            log.info("%s: failed to create lease: %s", self.lock_name, e)
            return False
        self._observe(created, now)
        return True

    def _observe(self, lease: dict[str, Any], now: float) -> None:
        spec = lease.get("spec") or {}
        self._observed_lease = lease
        if spec != self._observed:
            previous = self._observed.get("holderIdentity")
            self._observed = spec
            self._observed_time = now
            holder = spec.get("holderIdentity") or ""
            if holder != previous and self.on_new_leader is not None and holder:
                try:
                    self.on_new_leader(holder)
                except Exception:
                    log.exception("%s: on_new_leader failed", self.lock_name)

    async def _release(self) -> None:
        """Hand the lease back: clear the holder, as client-go's release (fenced by RV)."""
        lease = self._observed_lease
        if lease is None:
            return
        spec = dict(lease.get("spec") or {}, holderIdentity="", leaseDurationSeconds=1,
                    renewTime=micro_time(self._clock.now()))
        spec["acquireTime"] = spec["renewTime"]
        try:
            async with asyncio.timeout(self.renew_deadline):
                await self.client.update(LEASES, dict(lease, spec=spec))
        except (status.StatusError, rest.ClientError, TimeoutError) as e:
            log.warning("%s: failed to release lease: %s", self.lock_name, e)
