"""kube-apiserver's Table output: the columns and rows ``kubectl get`` prints.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
the Table the server builds; ``-o wide`` only unhides the ``priority: 1``
columns, which the server always fills. This module is the server's
TableConvertor as pure functions over JSON objects: ``columns`` and ``row``
per (group, kind), and ``table`` for a list (or a one-row watch event).

Kinds with a printer in upstream's ``printers.go`` (and the aggregator's
APIService) print their own columns; every other kind, custom resources
without printer columns included, gets ``rest.NewDefaultTableConvertor``'s
NAME and CREATED AT (an RFC 3339 ``date`` cell).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from kybernetes.api import (
    durations,
    printing_apps,
    printing_autoscaling,
    printing_cluster,
    printing_core,
    printing_events,
    printing_network,
    printing_pods,
    printing_storage,
)
from kybernetes.api.printing_base import META, NAME, Col, Printer, column_dicts, dig, name

TABLE_API_VERSION = "meta.k8s.io/v1"

_PRINTERS: dict[tuple[str, str], Printer] = {
    **printing_pods.PRINTERS,
    **printing_core.PRINTERS,
    **printing_events.PRINTERS,
    **printing_storage.PRINTERS,
    **printing_apps.PRINTERS,
    **printing_autoscaling.PRINTERS,
    **printing_network.PRINTERS,
    **printing_cluster.PRINTERS,
}


def _created_at(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    ts = durations.parse_timestamp(dig(obj, "metadata", "creationTimestamp", default=""))
    # Go formats the zero time too: a missing timestamp reads 0001-01-01T00:00:00Z.
    stamp = ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "0001-01-01T00:00:00Z"
    return [name(obj), stamp]


DEFAULT_PRINTER = Printer((NAME, Col("Created At", "date", (META, "creationTimestamp"))), _created_at)


def printer(group: str, kind: str) -> Printer:
    """The printer for (group, kind); the default table for kinds upstream has none for."""
    return _PRINTERS.get((group, kind), DEFAULT_PRINTER)


def has_printer(group: str, kind: str) -> bool:
    return (group, kind) in _PRINTERS


def columns(group: str, kind: str) -> list[dict[str, Any]]:
    """``columnDefinitions``: name, type, format, description, priority (1 = shown by ``-o wide``)."""
    return column_dicts(printer(group, kind).columns)


def row(group: str, kind: str, obj: Mapping[str, Any], now: datetime) -> list[Any]:
    """The ``cells`` of ``obj``'s row, every column included (strings, ints, bools)."""
    return printer(group, kind).cells(obj, now)


def row_conditions(group: str, kind: str, obj: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """TableRow.conditions: a Completed condition for Succeeded or Failed pods, else None."""
    conditions = printer(group, kind).conditions
    return conditions(obj) if conditions is not None else None


def _row_object(obj: Mapping[str, Any], include_object: str, api_version: str) -> Mapping[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": obj.get("metadata") or {}}


def table(
    group: str,
    kind: str,
    objects: Iterable[Mapping[str, Any]],
    now: datetime,
    *,
    include_object: str = "Metadata",
    no_headers: bool = False,
    api_version: str = TABLE_API_VERSION,
) -> dict[str, Any]:
    """A meta.k8s.io Table of ``objects``; the caller fills metadata.resourceVersion/continue.

    ``include_object`` is the request's ``includeObject``: ``Metadata`` (the
    default) puts a PartialObjectMetadata in each row, ``Object`` the object
    itself, ``None`` nothing. ``no_headers`` (TableOptions.noHeaders) leaves
    the column definitions out, as for watch events after the first.
    ``api_version`` is the Table version asked for (``meta.k8s.io/v1beta1``
    is still accepted by kubectl's Accept header).
    """
    p = printer(group, kind)
    items = list(objects)
    if p.sort_key is not None:
        items.sort(key=p.sort_key)
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": p.cells(obj, now)}
        conditions = p.conditions(obj) if p.conditions is not None else None
        if conditions:
            entry["conditions"] = conditions
        shown = _row_object(obj, include_object, api_version)
        if shown is not None:
            entry["object"] = shown
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {},
        "columnDefinitions": [] if no_headers else column_dicts(p.columns),
        "rows": rows,
    }
