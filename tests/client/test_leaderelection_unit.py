"""Leader election logic against an in-memory Lease with resourceVersion fencing."""

import asyncio
import copy

import pytest

from kybernetes.api import status
from kybernetes.client import clock as clocks
from kybernetes.client import leaderelection, rest


class LeaseClient:
    """get/create/update of one Lease, with kube-apiserver's optimistic concurrency."""

    def __init__(self):
        self.lease = None
        self.rv = 0
        self.down = False
        self.updates = 0

    def _check(self):
        if self.down:
            raise rest.ClientError("https://x", "connection refused")

    async def get(self, res, name, namespace=None):
        self._check()
        if self.lease is None:
            raise status.not_found("leases", "coordination.k8s.io", name)
        return copy.deepcopy(self.lease)

    async def create(self, res, obj, namespace=None):
        self._check()
        if self.lease is not None:
            raise status.already_exists("leases", "coordination.k8s.io", obj["metadata"]["name"])
        self.rv += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.lease)

    async def update(self, res, obj):
        self._check()
        if obj["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise status.modified_conflict("leases", "coordination.k8s.io", obj["metadata"]["name"])
        self.rv += 1
        self.updates += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.lease)


async def run_for(clk, seconds, step=0.25):
    for _ in range(int(seconds / step)):
        clk.step(step)
        for _ in range(20):
            await asyncio.sleep(0)


class Candidate:
    def __init__(self, client, clk, identity, **kw):
        self.elector = leaderelection.LeaderElector(client, "lock", identity=identity, clock=clk, **kw)
        self.leading = False
        self.stopped = 0
        self.task = asyncio.create_task(self.elector.run(self._lead, self._stop))

    async def _lead(self):
        self.leading = True
        try:
            await asyncio.Event().wait()
        finally:
            self.leading = False

    def _stop(self):
        self.stopped += 1

    async def cancel(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_only_one_leads_and_the_other_takes_over_after_lease_duration():
    clk, client = clocks.FakeClock(), LeaseClient()
    a = Candidate(client, clk, "a")
    await run_for(clk, 1)
    b = Candidate(client, clk, "b")
    await run_for(clk, 30)
    assert a.leading and not b.leading
    assert client.lease["spec"]["holderIdentity"] == "a"
    assert client.lease["spec"]["leaseTransitions"] == 0
    assert client.lease["spec"]["renewTime"].endswith("Z") and "." in client.lease["spec"]["renewTime"]
    await a.cancel()
    assert a.stopped == 1 and not a.leading
    await run_for(clk, 10)
    assert not b.leading  # the lease has not expired yet
    # b times the lease from when *it* saw the last renewal (up to one jittered
    # retry, 4.4 s, after a wrote it) and looks again at most 4.4 s after expiry.
    await run_for(clk, 15)
    assert b.leading
    assert client.lease["spec"]["holderIdentity"] == "b"
    assert client.lease["spec"]["leaseTransitions"] == 1
    await b.cancel()


async def test_release_on_cancel_lets_the_successor_in_at_once():
    clk, client = clocks.FakeClock(), LeaseClient()
    a = Candidate(client, clk, "a", release_on_cancel=True)
    await run_for(clk, 1)
    b = Candidate(client, clk, "b")
    await run_for(clk, 5)
    await a.cancel()
    assert client.lease["spec"]["holderIdentity"] == ""
    await run_for(clk, 5)
    assert b.leading
    await b.cancel()


async def test_leader_that_cannot_renew_stops_leading_after_renew_deadline():
    clk, client = clocks.FakeClock(), LeaseClient()
    a = Candidate(client, clk, "a")
    await run_for(clk, 3)
    assert a.leading
    client.down = True
    await run_for(clk, 8)
    assert a.leading
    await run_for(clk, 5)
    assert not a.leading and a.stopped == 1 and a.task.done()
    await a.cancel()


async def test_renewals_keep_acquire_time_and_advance_renew_time():
    clk, client = clocks.FakeClock(), LeaseClient()
    a = Candidate(client, clk, "a")
    await run_for(clk, 1)
    first = dict(client.lease["spec"])
    await run_for(clk, 10)
    spec = client.lease["spec"]
    assert client.updates >= 3
    assert spec["acquireTime"] == first["acquireTime"]
    assert spec["renewTime"] > first["renewTime"]
    assert spec["leaseDurationSeconds"] == 15
    await a.cancel()


def test_durations_are_checked():
    with pytest.raises(ValueError):
        leaderelection.LeaderElector(LeaseClient(), "x", lease_duration=5, renew_deadline=5)
    with pytest.raises(ValueError):
        leaderelection.LeaderElector(LeaseClient(), "x", renew_deadline=2, retry_period=2)


def test_micro_time_format():
    assert leaderelection.micro_time(clocks.FakeClock().now()) == "2024-01-01T00:00:00.000000Z"
