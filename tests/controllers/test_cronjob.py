"""CronJob controller: cron parsing and next times, missed-schedule logic,
``sync`` on pre-filled caches with a fake clock (concurrency policies,
history limits, requeue), and a real server with a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.controllers import cron
from kybernetes.controllers import cronjob as cjc
from kybernetes.controllers.job import JobController
from tests.controllers.conftest import Controllers, eventually
from tests.controllers.fakes import RecordingClient, unit_context
from tests.controllers.kubelet_sim import KubeletSim, OffsetClock, make_nodes

CRONJOBS = registry.lookup("batch", "v1", "cronjobs")
JOBS = registry.lookup("batch", "v1", "jobs")
UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("spec, after, expected", [
    ("* * * * *", at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 1)),
    ("* * * * *", at(2024, 1, 1, 10, 0, 30), at(2024, 1, 1, 10, 1)),
    ("*/15 * * * *", at(2024, 1, 1, 10, 16), at(2024, 1, 1, 10, 30)),
    ("5,35 9-10 * * *", at(2024, 1, 1, 10, 36), at(2024, 1, 2, 9, 5)),
    ("0 12 * jan,jul mon", at(2024, 1, 2), at(2024, 1, 8, 12)),        # Jan 8 2024 is a Monday
    ("0 0 13 * 5", at(2024, 1, 5, 12), at(2024, 1, 12)),              # dom OR dow when both restricted
    ("0 0 29 2 *", at(2024, 3, 1), at(2028, 2, 29)),
    ("30 2/6 * * *", at(2024, 1, 1, 3), at(2024, 1, 1, 8, 30)),       # a/n means a-max/n
    ("@hourly", at(2024, 1, 1, 10, 0), at(2024, 1, 1, 11)),
    ("@daily", at(2024, 1, 1, 10, 0), at(2024, 1, 2)),
    ("@weekly", at(2024, 1, 1), at(2024, 1, 7)),
    ("@monthly", at(2024, 1, 15), at(2024, 2, 1)),
    ("@yearly", at(2024, 1, 15), at(2025, 1, 1)),
    ("@every 90s", at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 1, 30)),
    ("TZ=Europe/Paris 0 9 * * *", at(2024, 1, 1, 10), at(2024, 1, 2, 8)),
])
def test_next_time(spec, after, expected):
    assert cron.parse(spec).next(after) == expected


@pytest.mark.parametrize("spec, message", [
    ("* * * *", "expected exactly 5 fields"),
    ("60 * * * *", "above maximum"),
    ("* * * * 7", "above maximum"),
    ("@fortnightly", "unrecognized descriptor"),
    ("TZ=Mars/Olympus * * * * *", "provided bad location"),
])
def test_parse_errors(spec, message):
    with pytest.raises(cron.CronError, match=message):
        cron.parse(spec)


def cronjob(schedule="*/5 * * * *", created=at(2024, 1, 1, 10, 0), **spec):
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid", "resourceVersion": "1",
                         "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"schedule": schedule, "concurrencyPolicy": "Allow",
                     "jobTemplate": {"metadata": {"labels": {"team": "a"}},
                                     "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
                     **spec},
            "status": {}}


def test_most_recent_schedule_time():
    sched = cron.parse("*/5 * * * *")
    cj = cronjob()
    assert cjc.most_recent(cj, at(2024, 1, 1, 10, 3), sched, True)[1] is None
    assert cjc.most_recent(cj, at(2024, 1, 1, 10, 7), sched, True)[1] == at(2024, 1, 1, 10, 5)
    earliest, latest, missed = cjc.most_recent(cj, at(2024, 1, 1, 12, 1), sched, True)
    assert latest == at(2024, 1, 1, 12, 0) and missed == 24
    cj["spec"]["startingDeadlineSeconds"] = 60
    assert cjc.most_recent(cj, at(2024, 1, 1, 12, 3), sched, True)[1] is None
    assert cjc.next_delay(cj, at(2024, 1, 1, 10, 3), sched) == pytest.approx(120.1)
    assert cjc.job_name(cj, at(2024, 1, 1, 10, 5)) == f"cj-{int(at(2024, 1, 1, 10, 5).timestamp()) // 60}"


def controller(now: datetime) -> tuple[cjc.CronJobController, RecordingClient, clocks.FakeClock]:
    client = RecordingClient()
    clock = clocks.FakeClock(now)
    return cjc.CronJobController(unit_context(client, clock)), client, clock


def owned_job(name, finished=None, start="2024-01-01T10:00:00Z"):
    status = {"startTime": start}
    if finished:
        status["conditions"] = [{"type": finished, "status": "True"}]
        if finished == "Complete":
            status["completionTime"] = start
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "cj-uid",
                                              "controller": True}]},
            "status": status}


async def test_sync_creates_job_at_schedule_and_requeues():
    ctl, client, clock = controller(at(2024, 1, 1, 10, 5, 2))
    ctl.cronjobs.store.add(cronjob(timeZone="Europe/Paris"))
    await ctl.sync("ns/cj")
    job = client.writes("create", "jobs")[0][2]
    scheduled = at(2024, 1, 1, 10, 5)
    assert job["metadata"]["name"] == f"cj-{int(scheduled.timestamp()) // 60}"
    assert job["metadata"]["annotations"][cjc.SCHEDULED_TIMESTAMP] == "2024-01-01T11:05:00+01:00"
    assert job["metadata"]["labels"] == {"team": "a"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    status = client.writes("update", "cronjobs")[0][2]["status"]
    assert status["lastScheduleTime"] == "2024-01-01T10:05:00Z"
    assert [r["name"] for r in status["active"]] == [job["metadata"]["name"]]
    assert len(ctl.queue) == 0
    clock.step(5 * 60)  # the requeue lands at the next schedule time
    assert len(ctl.queue) == 1


async def test_forbid_skips_and_replace_deletes():
    ctl, client, _ = controller(at(2024, 1, 1, 10, 10, 1))
    cj = cronjob(concurrencyPolicy="Forbid")
    cj["status"] = {"lastScheduleTime": "2024-01-01T10:05:00Z",
                    "active": [{"kind": "Job", "name": "old", "namespace": "ns", "uid": "uid-old"}]}
    ctl.cronjobs.store.add(cj)
    ctl.jobs.store.add(owned_job("old"))
    await ctl.sync("ns/cj")
    assert client.writes("create", "jobs") == []
    cj["spec"]["concurrencyPolicy"] = "Replace"
    await ctl.sync("ns/cj")
    assert [a[2] for a in client.writes("delete", "jobs")] == ["old"]
    assert client.writes("delete", "jobs")[0][3]["propagation_policy"] == "Background"
    assert len(client.writes("create", "jobs")) == 1


async def test_suspended_and_history_limits():
    ctl, client, _ = controller(at(2024, 1, 1, 10, 10, 1))
    cj = cronjob(suspend=True, successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    ctl.cronjobs.store.add(cj)
    for name, kind, start in (("a", "Complete", "2024-01-01T09:00:00Z"),
                              ("b", "Complete", "2024-01-01T09:30:00Z"),
                              ("c", "Failed", "2024-01-01T09:40:00Z")):
        ctl.jobs.store.add(owned_job(name, kind, start))
    await ctl.sync("ns/cj")
    assert client.writes("create", "jobs") == []
    assert sorted(a[2] for a in client.writes("delete", "jobs")) == ["a", "c"]
    status = client.writes("update", "cronjobs")[-1][2]["status"]
    assert status["lastSuccessfulTime"] == "2024-01-01T09:30:00Z"


async def test_cronjob_creates_job_on_schedule(client, namespace):
    ns = namespace
    await make_nodes(client, [f"{ns}-n"])
    clock = OffsetClock()
    async with Controllers(client, [cjc.CronJobController, JobController], clock=clock) as ctrls, \
            KubeletSim(client, ns, [f"{ns}-n"], outcome=lambda pod: "Succeeded"):
        ctrls.controllers[1].sync_batch_period = 0.05
        cj = cronjob("* * * * *", successfulJobsHistoryLimit=3)
        cj["metadata"] = {"name": "tick", "namespace": ns}
        cj.pop("status")
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"] = {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        created = await client.create(CRONJOBS, cj, ns)
        born = datetime.fromisoformat(created["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        next_minute = born.replace(second=0) + timedelta(minutes=1)
        clock.advance((next_minute - clock.now()).total_seconds() + 1)

        async def jobs():
            return (await client.list(JOBS, ns))["items"]
        found = await eventually(jobs, timeout=20)
        assert found[0]["metadata"]["name"] == f"tick-{int(next_minute.timestamp()) // 60}"
        assert found[0]["metadata"]["annotations"][cjc.SCHEDULED_TIMESTAMP] == \
            next_minute.strftime("%Y-%m-%dT%H:%M:%SZ")

        async def succeeded():
            st = (await client.get(CRONJOBS, "tick", ns)).get("status") or {}
            return st.get("lastSuccessfulTime") and not st.get("active") and st.get("lastScheduleTime")
        await eventually(succeeded, timeout=20)
