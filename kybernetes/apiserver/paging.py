"""Continue tokens as the API server handles them beyond storage's own use.

A page whose revision was compacted away answers 410 Expired, and, as
kube-apiserver's etcd3 store does, the Status carries a fresh continue token
with revision -1 in ``metadata.continue``: the client may go on from the
same key at the latest revision, accepting an inconsistent list. A token
with revision -1 is turned back into an ordinary one at the current
revision before storage sees it.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from kybernetes.api import status

INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.")
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter.")


def peek(token: str) -> dict | None:
    """The token's fields, or None when it does not decode (storage then
    answers the 400 with its own reason)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def with_revision(data: dict, revision: int) -> str:
    raw = orjson.dumps({**data, "rv": revision})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def expired_continue(token: str) -> status.StatusError:
    data = peek(token)
    if data is None:
        return status.expired(CONTINUE_EXPIRED)
    err = status.expired(INCONSISTENT_CONTINUE)
    err.status["metadata"] = {"continue": with_revision(data, -1)}
    return err
