"""Human-readable durations and ages, as apimachinery's ``util/duration`` prints them.

Every AGE cell of a Table (and ``3 (5m ago)`` restarts, Job durations, event
times) goes through ``human``; ``since`` adds the printers'
``translateTimestampSince`` rule that a missing or zero timestamp reads
``<unknown>``. Go truncates toward zero everywhere; so do these.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

_NS = 1_000_000_000


def _nanoseconds(delta: float | timedelta) -> int:
    if isinstance(delta, timedelta):
        return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000
    return int(delta * _NS)


def _div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _negative(seconds: int) -> str:
    """A negative duration (a time in the future): ``0s`` within a second of clock
    skew, ``<invalid>`` beyond."""
    return "<invalid>" if seconds < -1 else "0s"


def short_human(delta: float | timedelta) -> str:
    """duration.ShortHumanDuration: ``5s``, ``10m``, ``3h``, ``2d``, ``1y``."""
    ns = _nanoseconds(delta)
    seconds = _div(ns, _NS)
    if seconds < 0:
        return _negative(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = _div(ns, 60 * _NS)
    if minutes < 60:
        return f"{minutes}m"
    hours = _div(ns, 3600 * _NS)
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human(delta: float | timedelta) -> str:
    """duration.HumanDuration: ~2-3 significant figures (``90s``, ``3m20s``, ``3h4m``, ``2d5h``)."""
    ns = _nanoseconds(delta)
    seconds = _div(ns, _NS)
    if seconds < 0:
        return _negative(seconds)
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = _div(ns, 60 * _NS)
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = _div(ns, 3600 * _NS)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


@functools.lru_cache(maxsize=4096)
def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 metav1.Time / MicroTime; None when empty, zero (year 1) or unparsable."""
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    if ts.year == 1 and ts.month == 1 and ts.day == 1 and ts.hour == 0 and ts.minute == 0 and ts.second == 0:
        return None
    return ts


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


def since(timestamp: str | None, now: datetime) -> str:
    """translateTimestampSince: ``human(now - timestamp)``, ``<unknown>`` when unset."""
    ts = parse_timestamp(timestamp) if isinstance(timestamp, str) else None
    if ts is None:
        return "<unknown>"
    return human(_aware(now) - ts)


def until(timestamp: str | None, now: datetime) -> str:
    """translateTimestampUntil: ``human(timestamp - now)``, ``<unknown>`` when unset."""
    ts = parse_timestamp(timestamp) if isinstance(timestamp, str) else None
    if ts is None:
        return "<unknown>"
    return human(ts - _aware(now))


def between(start: str | None, end: str | None) -> str | None:
    """``human(end - start)`` for two timestamps, or None when either is unset."""
    a = parse_timestamp(start) if isinstance(start, str) else None
    b = parse_timestamp(end) if isinstance(end, str) else None
    if a is None or b is None:
        return None
    return human(b - a)
