"""Two electors on one Lease in a real API server."""

import asyncio
import time
import uuid

from kybernetes.api import registry, status
from kybernetes.client import leaderelection

LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
FAST = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.3}


class Candidate:
    def __init__(self, client, lock, identity, **kw):
        self.elector = leaderelection.LeaderElector(client, lock, "default", identity=identity,
                                                    **{**FAST, **kw})
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.cancelled = False
        self.task = asyncio.create_task(self.elector.run(self._lead, self.stopped.set))

    async def _lead(self):
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def cancel(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_one_leader_and_takeover_after_lease_expiry(client):
    lock = f"lock-{uuid.uuid4().hex[:6]}"
    a = Candidate(client, lock, "a")
    await asyncio.wait_for(a.started.wait(), 10)
    b = Candidate(client, lock, "b")
    await asyncio.sleep(3 * FAST["lease_duration"])
    try:
        assert not b.started.is_set(), "only one may lead while the leader renews"
        lease = await client.get(LEASES, lock, "default")
        spec = lease["spec"]
        assert spec["holderIdentity"] == "a"
        assert spec["leaseDurationSeconds"] == 2
        assert spec["leaseTransitions"] == 0
        assert spec["renewTime"] > spec["acquireTime"]
        assert len(spec["renewTime"]) == len("2006-01-02T15:04:05.000000Z")

        stopped_at = time.monotonic()
        await a.cancel()
        assert a.cancelled and a.stopped.is_set()
        await asyncio.wait_for(b.started.wait(), 10)
        waited = time.monotonic() - stopped_at
        # The successor waits out the lease (measured from when it last saw it change).
        assert 1.0 <= waited <= FAST["lease_duration"] + 2 * FAST["retry_period"] + 2.0
        spec = (await client.get(LEASES, lock, "default"))["spec"]
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    finally:
        await a.cancel()
        await b.cancel()


async def test_release_on_cancel_hands_over_immediately(client):
    lock = f"lock-{uuid.uuid4().hex[:6]}"
    a = Candidate(client, lock, "a", release_on_cancel=True)
    await asyncio.wait_for(a.started.wait(), 10)
    b = Candidate(client, lock, "b")
    await asyncio.sleep(0.5)
    try:
        stopped_at = time.monotonic()
        await a.cancel()
        assert (await client.get(LEASES, lock, "default"))["spec"]["holderIdentity"] in ("", None, "b")
        await asyncio.wait_for(b.started.wait(), 10)
        assert time.monotonic() - stopped_at < FAST["lease_duration"]
    finally:
        await b.cancel()


async def test_leader_that_loses_the_lease_stops_leading(client):
    lock = f"lock-{uuid.uuid4().hex[:6]}"
    a = Candidate(client, lock, "a")
    await asyncio.wait_for(a.started.wait(), 10)
    try:
        # Someone else takes the lease by force: a's next renewal sees a valid foreign holder.
        for _ in range(20):  # a renews concurrently: retry on conflict, as any writer would
            lease = await client.get(LEASES, lock, "default")
            lease["spec"]["holderIdentity"] = "intruder"
            lease["spec"]["leaseDurationSeconds"] = 60
            try:
                await client.update(LEASES, lease)
                break
            except status.StatusError as e:
                assert e.code == 409
        await asyncio.wait_for(a.stopped.wait(), 10)
        assert a.cancelled
        await asyncio.wait_for(a.task, 1)  # run() returns after losing the lease
    finally:
        await a.cancel()
