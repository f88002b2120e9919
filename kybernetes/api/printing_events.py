"""The Event printer: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (and the wide columns).

Upstream's ``printEvent``: LAST SEEN falls back to FIRST SEEN, FIRST SEEN to
``eventTime``; a series gives the last observation and its count; a
singleton event of the new API counts 1. Both served shapes are read, core/v1
(``involvedObject``, ``message``, ``source``) and events.k8s.io/v1
(``regarding``, ``note``, ``deprecatedSource``, ``reportingController``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api import durations
from kybernetes.api.printing_base import META, Col, Obj, Printer, core, name, num, text

EVENT_COLUMNS = (
    Col("Last Seen", doc=(core("Event"), "lastTimestamp")),
    Col("Type", doc=(core("Event"), "type")),
    Col("Reason", doc=(core("Event"), "reason")),
    Col("Object", doc=(core("Event"), "involvedObject")),
    Col("Subobject", doc=(core("ObjectReference"), "fieldPath"), priority=1),
    Col("Source", doc=(core("Event"), "source"), priority=1),
    Col("Message", doc=(core("Event"), "message")),
    Col("First Seen", doc=(core("Event"), "firstTimestamp"), priority=1),
    Col("Count", doc=(core("Event"), "count"), priority=1),
    Col("Name", doc=(META, "name"), priority=1, format="name"),
)


def _first(obj: Obj, *keys: str) -> Any:
    for key in keys:
        if obj.get(key) is not None:
            return obj[key]
    return None


def event_cells(ev: Obj, now: datetime) -> list[Any]:
    first_ts = _first(ev, "firstTimestamp", "deprecatedFirstTimestamp")
    first = durations.since(first_ts, now)
    if durations.parse_timestamp(text(first_ts)) is None:
        first = durations.since(ev.get("eventTime"), now)
    last_ts = _first(ev, "lastTimestamp", "deprecatedLastTimestamp")
    last = durations.since(last_ts, now) if durations.parse_timestamp(text(last_ts)) else first
    count = num(_first(ev, "count", "deprecatedCount"))
    series = ev.get("series")
    if isinstance(series, dict):
        last = durations.since(series.get("lastObservedTime"), now)
        count = num(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = _first(ev, "involvedObject", "regarding") or {}
    kind = text(involved.get("kind")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = _first(ev, "source", "deprecatedSource") or {}
    component = text(source.get("component")) or text(_first(ev, "reportingComponent", "reportingController"))
    host = text(source.get("host")) or text(ev.get("reportingInstance"))
    return [
        last,
        text(ev.get("type")),
        text(ev.get("reason")),
        target,
        text(involved.get("fieldPath")),
        f"{component}, {host}" if host else component,
        text(_first(ev, "message", "note")).strip(),
        first,
        count,
        name(ev),
    ]


PRINTERS = {
    ("", "Event"): Printer(EVENT_COLUMNS, event_cells),
    ("events.k8s.io", "Event"): Printer(EVENT_COLUMNS, event_cells),
}
