"""Cron schedules and their next run times, as robfig/cron v3's ``ParseStandard``
(what kube-controller-manager's CronJob controller uses).

Five fields (minute, hour, day of month, month, day of week) with ``*``/``?``,
lists, ranges, steps (``a/n`` means ``a-max/n``) and names (``jan``,
``mon``); the descriptors ``@yearly``/``@annually``, ``@monthly``,
``@weekly``, ``@daily``/``@midnight``, ``@hourly`` and ``@every <duration>``;
and a ``TZ=``/``CRON_TZ=`` prefix (the controller prefixes ``TZ=<spec.timeZone>``).
Syntax checking is the API's (``kybernetes.api.validation.cron``), so the
controller and the API server agree on what is valid. Schedules without a
zone run in UTC (upstream uses the controller's local zone, UTC in practice).

As in robfig, when both day of month and day of week are restricted a day
matching either runs; when either is ``*`` both must match.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from kybernetes.api.validation import cron as cronspec

CronError = cronspec.CronError
zone_error = cronspec.time_zone_error

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


class Schedule(Protocol):
    def next(self, t: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class SpecSchedule:
    """A five-field schedule in a time zone."""
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool
    zone: tzinfo

    def _day_matches(self, w: datetime) -> bool:
        dom = w.day in self.days
        dow = (w.weekday() + 1) % 7 in self.weekdays
        return dom and dow if self.days_star or self.weekdays_star else dom or dow

    def next(self, t: datetime) -> datetime | None:
        """The first activation strictly after ``t`` (None if none within five years)."""
        w = t.astimezone(self.zone).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        limit = w.year + 5
        while w.year <= limit:
            if w.month not in self.months:
                w = _first_of_next_month(w)
            elif not self._day_matches(w):
                w = datetime(w.year, w.month, w.day) + timedelta(days=1)
            elif w.hour not in self.hours:
                w = w.replace(minute=0, second=0) + timedelta(hours=1)
            elif w.minute not in self.minutes or w.second:
                w = w.replace(second=0) + timedelta(minutes=1)
            else:
                return w.replace(tzinfo=self.zone).astimezone(t.tzinfo or timezone.utc)
        return None


@dataclass(frozen=True)
class EverySchedule:
    """``@every <duration>``: a constant delay, in whole seconds, at least one."""
    seconds: int

    def next(self, t: datetime) -> datetime | None:
        return t.replace(microsecond=0) + timedelta(seconds=self.seconds)


def _first_of_next_month(w: datetime) -> datetime:
    return datetime(w.year + (w.month == 12), w.month % 12 + 1, 1)


def zone(name: str) -> tzinfo:
    if name in ("", "UTC"):
        return timezone.utc
    if name == "Local":
        return datetime.now().astimezone().tzinfo or timezone.utc
    return ZoneInfo(name)


def _star(field: str) -> bool:
    """robfig's starBit: a ``*``/``?`` expression without a step above one."""
    for expr in field.split(","):
        base, _, step = expr.partition("/")
        if base in ("*", "?") and (not step or step == "1"):
            return True
    return False


def parse(spec: str) -> Schedule:
    """Parse a schedule (raises ``CronError`` with robfig's message)."""
    parsed = cronspec.fields(spec)  # validates everything, the zone included
    tz, body = timezone.utc, spec
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, body = spec.partition(" ")
        tz = zone(head.partition("=")[2])
        body = body.strip()
    if isinstance(parsed, str):
        if body.startswith("@every "):
            seconds = _duration(body[len("@every "):])
            return EverySchedule(max(1, math.floor(seconds)))
        body = _DESCRIPTORS[body]
        parsed = cronspec.fields(body)
    parts = body.split()
    minutes, hours, days, months, weekdays = (frozenset(f) for f in parsed)
    return SpecSchedule(minutes, hours, days, months, weekdays, _star(parts[2]), _star(parts[4]), tz)


_DURATION = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """time.ParseDuration for an already validated duration."""
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text.lstrip("+-")) if n)
