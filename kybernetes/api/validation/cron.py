"""CronJob schedules: robfig/cron v3 ``ParseStandard``, as kube-apiserver uses to validate them.

Five fields (minute, hour, day of month, month, day of week) or a descriptor
(``@hourly``, ``@every 1h30m``, …), optionally prefixed by ``TZ=``/``CRON_TZ=``.
:func:`parse_error` returns the parser's error text (which becomes the detail
of ``spec.schedule: Invalid value``) or None. The CronJob controller may reuse
:func:`fields` to compute run times.
"""

from __future__ import annotations

import re

# field -> (min, max, names)
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                              "oct", "nov", "dec"))}),
    (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]*)")


class CronError(ValueError):
    pass


def _atoi(expr: str) -> int:
    """strconv.Atoi, with Go's error text."""
    body = expr[1:] if expr[:1] in "+-" else expr
    if not body or not body.isascii() or not body.isdigit():
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    n = int(expr)
    if not -(2**63) <= n < 2**63:
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": value out of range')
    return n


def _parse_int(expr: str) -> int:
    n = _atoi(expr)
    if n < 0:
        raise CronError(f"negative number ({n}) not allowed: {expr}")
    return n


def _int_or_name(expr: str, names: dict[str, int]) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _parse_int(expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if single:
            end = hi
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


def _parse_duration(s: str) -> float:
    """time.ParseDuration, for `@every`."""
    orig, text = s, s
    if text in ("0", "+0", "-0"):
        return 0.0
    if text[:1] in "+-":
        text = text[1:]
    if not text:
        raise CronError(f'time: invalid duration "{orig}"')
    total = 0.0
    while text:
        m = _DURATION_PART.match(text)
        num, unit = (m.group(1), m.group(2)) if m else ("", "")
        if not num or num == ".":
            raise CronError(f'time: invalid duration "{orig}"')
        if not unit:
            raise CronError(f'time: missing unit in duration "{orig}"')
        if unit not in _DURATION_UNITS:
            raise CronError(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += float(num) * _DURATION_UNITS[unit]
        text = text[m.end():] if m else ""
    return total


def fields(spec: str) -> list[set[int]] | str:
    """The allowed values of minute, hour, dom, month, dow, or a descriptor string; raises CronError."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, eq = spec.find(" "), spec.find("=")
        zone = spec[eq + 1:space] if space >= 0 else spec[eq + 1:]
        _load_location(zone)
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec in DESCRIPTORS:
            return spec
        if spec.startswith("@every "):
            try:
                _parse_duration(spec[len("@every "):])
            except CronError as e:
                raise CronError(f"failed to parse duration {spec}: {e}") from None
            return spec
        raise CronError(f"unrecognized descriptor: {spec}")
    parts = spec.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: [{' '.join(parts)}]")
    out: list[set[int]] = []
    for part, (lo, hi, names) in zip(parts, _BOUNDS):
        allowed: set[int] = set()
        for expr in (e for e in part.split(",") if e):
            allowed |= _range(expr, lo, hi, names)
        out.append(allowed)
    return out


def _load_location(zone: str) -> None:
    if zone in ("", "UTC", "Local"):
        return
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(zone)
    except Exception:  # noqa: BLE001 - any failure means Go's LoadLocation fails too
        raise CronError(f"provided bad location {zone}: unknown time zone {zone}") from None


def parse_error(spec: str) -> str | None:
    try:
        fields(spec)
    except CronError as e:
        return str(e)
    return None


def time_zone_error(zone: str) -> str | None:
    """time.LoadLocation's error for a CronJob spec.timeZone, or None."""
    if zone in ("UTC", ""):
        return None
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(zone)
    except Exception:  # noqa: BLE001
        return f"unknown time zone {zone}"
    return None
