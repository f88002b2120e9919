"""The resourceVersion parameters of a LIST or WATCH, checked as kube-apiserver
checks them (apimachinery's ValidateListOptions) before any storage is read.

A bad combination is a 422 on the ``ListOptions.meta.k8s.io`` kind, e.g.
``ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden:
resourceVersionMatch is forbidden unless resourceVersion is provided``.
The WatchList feature (``sendInitialEvents``) is on, as in 1.32.
"""

from __future__ import annotations

from typing import Mapping

from kybernetes.api import status, validation
from kybernetes.api.validation import field

EXACT, NOT_OLDER_THAN = "Exact", "NotOlderThan"


def validate(query: Mapping[str, str], *, watch: bool) -> None:
    causes = _watch_causes(query) if watch else _list_causes(query)
    if causes:
        message = validation.invalid_message("ListOptions", "", causes, "meta.k8s.io")
        raise status.invalid("ListOptions", "meta.k8s.io", "", causes, message)


def _list_causes(query: Mapping[str, str]) -> list[dict]:
    causes = []
    match = query.get("resourceVersionMatch", "")
    rv = query.get("resourceVersion", "")
    if match:
        if not rv:
            causes.append(field.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if query.get("continue"):
            causes.append(field.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            causes.append(field.not_supported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN, ""]))
        if match == EXACT and rv == "0":
            causes.append(field.forbidden(
                "resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if "sendInitialEvents" in query:
        causes.append(field.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return causes


def _watch_causes(query: Mapping[str, str]) -> list[dict]:
    causes = []
    match = query.get("resourceVersionMatch", "")
    send_initial = "sendInitialEvents" in query
    if send_initial and match != NOT_OLDER_THAN:
        causes.append(field.forbidden(
            "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
    if match:
        if not send_initial:
            causes.append(field.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        if match != NOT_OLDER_THAN:
            causes.append(field.not_supported("resourceVersionMatch", match, [NOT_OLDER_THAN]))
        if query.get("continue"):
            causes.append(field.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
    return causes
