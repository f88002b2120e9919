"""The CronJob controller: a Job for every scheduled time (``cronjob_controllerv2.go``).

``sync(key)`` reconciles ``status.active`` with the jobs the CronJob
controls (finished ones leave it, their completion sets lastSuccessfulTime;
missing ones are checked against the API), then, unless suspended or the
schedule/time zone is invalid (an Event, no retry), finds the most recent
unmet schedule time since lastScheduleTime (or creation), within
startingDeadlineSeconds. It honours concurrencyPolicy (Forbid skips while a
job is active; Replace deletes active jobs first), creates
``<cronjob>-<scheduled time in minutes since the epoch>`` with the
``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation, records it
in status.active and lastScheduleTime, trims finished jobs beyond the
history limits, and requeues itself for the next schedule time (+100 ms) on
the controller's clock.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta, timezone

from kybernetes.api import registry, status
from kybernetes.client import controller, events, indexer
from kybernetes.controllers import cron, podcontrol
from kybernetes.controllers import job_tracking as jt
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

CRONJOBS = registry.lookup("batch", "v1", "cronjobs")
JOBS = registry.lookup("batch", "v1", "jobs")
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1
MANY_MISSED = 100
Obj = dict


def job_name(cj: Obj, scheduled: datetime) -> str:
    return f"{podcontrol.meta(cj)['name']}-{int(scheduled.timestamp()) // 60}"


def schedule_text(cj: Obj) -> str:
    """formatSchedule: ``TZ=<timeZone> <schedule>`` unless the schedule names a zone itself."""
    spec = cj.get("spec") or {}
    text, zone = spec.get("schedule", ""), spec.get("timeZone")
    if "TZ" in text or zone is None:
        return text
    return f"TZ={zone} {text}"


def most_recent(cj: Obj, now: datetime, sched: cron.Schedule,
                with_deadline: bool) -> tuple[datetime, datetime | None, int]:
    """mostRecentScheduleTime: (earliest time considered, the latest schedule
    time not after now or None, how many were missed roughly)."""
    st, spec = cj.get("status") or {}, cj.get("spec") or {}
    earliest = podcontrol.parse_time(st.get("lastScheduleTime")) or podcontrol.parse_time(
        podcontrol.meta(cj).get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    t1 = sched.next(earliest)
    t2 = sched.next(t1) if t1 is not None else None
    if t1 is None or now < t1:
        return earliest, None, 0
    if t2 is None or now < t2:
        return earliest, t1, 0
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise cron.CronError("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // between + 1
    t = sched.next(t1 + timedelta(seconds=(missed - 2) * between))
    latest = None
    while t is not None and t <= now:
        latest, t = t, sched.next(t)
    return earliest, latest, missed


def next_delay(cj: Obj, now: datetime, sched: cron.Schedule) -> float:
    """nextScheduleTimeDuration: seconds until the next schedule time, plus 100 ms."""
    try:
        earliest, latest, missed = most_recent(cj, now, sched, False)
        base = latest or (earliest if not missed else now)
    except cron.CronError:
        base = now
    nxt = sched.next(base)
    if nxt is None:
        return 3600.0
    return (nxt - now).total_seconds() + NEXT_SCHEDULE_DELTA


class CronJobController:
    name = "cronjob"

    def __init__(self, ctx: Context):
        self.ctx, self.client, self.clock = ctx, ctx.client, ctx.clock
        self.queue = ctx.queue("cronjob")
        self.recorder: events.EventRecorder = ctx.recorder("cronjob-controller")
        self.cronjobs = ctx.informer("batch", "v1", "cronjobs")
        self.jobs = ctx.informer("batch", "v1", "jobs")
        self.cronjobs.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.jobs.add_event_handler(self._job_changed, lambda old, new: self._job_changed(new),
                                    self._job_changed)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    def _enqueue(self, cj: Obj) -> None:
        self.queue.add(indexer.key_of(cj))

    def _job_changed(self, job: Obj) -> None:
        key = podcontrol.owner_key(job, "CronJob")
        if key is not None:
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        shared = self.cronjobs.store.get(key)
        if shared is None:
            return
        cj = copy.deepcopy(shared)
        uid = podcontrol.meta(cj).get("uid")
        jobs = [j for j in self.jobs.store.by_index(indexer.NAMESPACE_INDEX, podcontrol.meta(cj)["namespace"])
                if (podcontrol.controller_of(j) or {}).get("uid") == uid]
        cj, requeue, changed = await self._reconcile(cj, jobs)
        changed = await self._cleanup_finished(cj, jobs) or changed
        if changed:
            await self.client.update(CRONJOBS, cj, subresource="status")
        if requeue is not None:
            self.queue.add_after(key, max(requeue, 0.0))

    async def _reconcile(self, cj: Obj, jobs: list[Obj]) -> tuple[Obj, float | None, bool]:
        """syncCronJob: (the cronjob as updated, seconds to requeue after, status changed)."""
        now, changed = self.clock.now(), False
        st = cj.setdefault("status", {})
        children = set()
        for job in jobs:
            juid = podcontrol.meta(job)["uid"]
            children.add(juid)
            found = any(r.get("uid") == juid for r in st.get("active") or [])
            if not found and not jt.is_finished(job):
                m = podcontrol.meta(cj)
                fresh = await self.client.get(CRONJOBS, m["name"], m["namespace"])
                if any(r.get("uid") == juid for r in (fresh.get("status") or {}).get("active") or []):
                    cj, st = fresh, fresh.setdefault("status", {})
                    continue
                self.recorder.event(cj, "Warning", "UnexpectedJob", "Saw a job that the controller did not "
                                    f"create or forgot: {podcontrol.meta(job)['name']}")
            elif jt.is_finished(job):
                if found:
                    kind = "Complete" if jt.condition_true(job, "Complete") else "Failed"
                    _remove_active(st, juid)
                    self.recorder.event(cj, "Normal", "SawCompletedJob",
                                        f"Saw completed job: {podcontrol.meta(job)['name']}, "
                                        f"condition: {kind}")
                    changed = True
                done = (job.get("status") or {}).get("completionTime")
                if jt.condition_true(job, "Complete") and done and \
                        (not st.get("lastSuccessfulTime") or
                         podcontrol.parse_time(done) > podcontrol.parse_time(st["lastSuccessfulTime"])):
                    st["lastSuccessfulTime"] = done
                    changed = True
        for ref in list(st.get("active") or []):
            if ref.get("uid") in children:
                continue
            try:
                await self.client.get(JOBS, ref.get("name", ""), ref.get("namespace"))
            except status.StatusError as e:
                if e.code != 404:
                    raise
                self.recorder.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                _remove_active(st, ref.get("uid"))
                changed = True
        if podcontrol.meta(cj).get("deletionTimestamp"):
            return cj, None, changed
        spec = cj.get("spec") or {}
        zone = spec.get("timeZone")
        if zone is not None and cron.zone_error(zone):
            self.recorder.event(cj, "Warning", "UnknownTimeZone",
                                f"invalid timeZone: {zone!r}: {cron.zone_error(zone)}")
            return cj, None, changed
        if spec.get("suspend"):
            return cj, None, changed
        text = schedule_text(cj)
        if "TZ" in spec.get("schedule", ""):
            self.recorder.event(cj, "Warning", "UnsupportedSchedule",
                                f"CRON_TZ or TZ used in schedule {spec.get('schedule')!r} is not officially "
                                "supported, see "
                                "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ "
                                "for more details")
        try:
            sched = cron.parse(text)
        except cron.CronError as e:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {spec.get('schedule')!r} : {e}")
            return cj, None, changed
        try:
            _, scheduled, missed = most_recent(cj, now, sched, True)
        except cron.CronError as e:
            self.recorder.event(cj, "Warning", "InvalidSchedule",
                                f"invalid schedule: {spec.get('schedule')} : {e}")
            return cj, None, changed
        if scheduled is None:
            return cj, next_delay(cj, now, sched), changed
        if missed > MANY_MISSED:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                "too many missed start times. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            self.recorder.event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                                + scheduled.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return cj, next_delay(cj, now, sched), changed
        name = job_name(cj, scheduled)
        if any(r.get("name") == name for r in st.get("active") or []) or \
                st.get("lastScheduleTime") == podcontrol.format_time(scheduled):
            return cj, next_delay(cj, now, sched), changed
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and st.get("active"):
            self.recorder.event(cj, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and "
                                "concurrency policy is Forbid")
            return cj, next_delay(cj, now, sched), changed
        if policy == "Replace":
            for ref in list(st.get("active") or []):
                await self._delete_job(cj, ref.get("name", ""), ref.get("uid"))
                changed = True
        job = await self._create_job(cj, scheduled)
        if job is None:
            return cj, None, changed
        m = podcontrol.meta(job)
        st.setdefault("active", []).append({"kind": "Job", "namespace": m["namespace"], "name": m["name"],
                                            "uid": m["uid"], "apiVersion": "batch/v1",
                                            "resourceVersion": m.get("resourceVersion", "")})
        st["lastScheduleTime"] = podcontrol.format_time(scheduled)
        return cj, next_delay(cj, now, sched), True

    async def _create_job(self, cj: Obj, scheduled: datetime) -> Obj | None:
        """getJobFromTemplate2 and create; an existing job of ours is taken as created."""
        spec = cj.get("spec") or {}
        template = spec.get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        zone = cron.zone(spec.get("timeZone") or "")
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = _rfc3339(scheduled.astimezone(zone))
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": job_name(cj, scheduled), "namespace": podcontrol.meta(cj)["namespace"],
                            "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                            "ownerReferences": [podcontrol.controller_ref(cj, "batch/v1", "CronJob")]},
               "spec": copy.deepcopy(template.get("spec") or {})}
        try:
            created = await self.client.create(JOBS, job)
        except status.StatusError as e:
            if podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                raise
            if e.code != 409 or e.reason != "AlreadyExists":
                self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {e}")
                raise
            existing = await self.client.get(JOBS, job["metadata"]["name"], job["metadata"]["namespace"])
            active = (cj.get("status") or {}).get("active") or []
            if not podcontrol.is_controlled_by(existing, cj) or \
                    any(r.get("uid") == podcontrol.meta(existing)["uid"] for r in active):
                return None
            return existing
        self.recorder.event(cj, "Normal", "SuccessfulCreate",
                            f"Created job {podcontrol.meta(created)['name']}")
        return created

    async def _delete_job(self, cj: Obj, name: str, uid: str | None) -> bool:
        try:
            await self.client.delete(JOBS, name, podcontrol.meta(cj)["namespace"],
                                     propagation_policy="Background")
        except status.StatusError as e:
            self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {e}")
            return False
        _remove_active(cj.setdefault("status", {}), uid)
        self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    async def _cleanup_finished(self, cj: Obj, jobs: list[Obj]) -> bool:
        """cleanupFinishedJobs: keep at most the history limits of finished jobs."""
        spec = cj.get("spec") or {}
        changed = False
        for kind, field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            finished = sorted((j for j in jobs if jt.condition_true(j, kind)), key=_by_start_time)
            for job in finished[:max(0, len(finished) - int(limit))]:
                m = podcontrol.meta(job)
                changed = await self._delete_job(cj, m["name"], m["uid"]) or changed
        return changed


def _remove_active(st: Obj, uid: str | None) -> None:
    st["active"] = [r for r in st.get("active") or [] if r.get("uid") != uid]
    if not st["active"]:
        del st["active"]


def _by_start_time(job: Obj) -> tuple:
    start = (job.get("status") or {}).get("startTime")
    return (start is None, start or "", podcontrol.meta(job).get("name", ""))


def _rfc3339(t: datetime) -> str:
    text = t.replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z")
