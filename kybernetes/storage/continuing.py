"""Continue tokens for paginated lists, in kube-apiserver's own format.

A token is base64 of ``{"v":"meta.k8s.io/v1","rv":R,"start":"<key suffix>\\x00"}``
as k8s.io/apiserver/pkg/storage encodes it: the revision of the first page,
and the key to resume at, relative to the listed prefix so that a token for
one prefix can never read keys outside it. Both backends share this module.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from kybernetes.storage.errors import InvalidContinue

_VERSION = "meta.k8s.io/v1"


def encode(revision: int, prefix: str, last_key: str) -> str:
    """The token that resumes just after ``last_key`` at ``revision``."""
    start = last_key[len(prefix):] + "\x00"
    raw = orjson.dumps({"v": _VERSION, "rv": revision, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, prefix: str) -> tuple[int, str]:
    """(revision, first key to read) from a token made by ``encode``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            raise ValueError("unsupported version")
        revision = data["rv"]
        start = data["start"]
        if not isinstance(revision, int) or not isinstance(start, str) or revision <= 0:
            raise ValueError("bad fields")
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as e:
        raise InvalidContinue(f"continue key is not valid: {e}") from e
    # kube-apiserver refuses a start key that could climb out of the prefix.
    if start.startswith("/") or ".." in start.split("/"):
        raise InvalidContinue("continue key is not valid: invalid start key")
    return revision, prefix + start


def prefix_end(prefix: str) -> str:
    """The smallest key greater than every key that starts with ``prefix``
    (etcd's range_end for a prefix)."""
    raw = prefix.encode()
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            return (raw[:i] + bytes([raw[i] + 1])).decode("utf-8", "surrogateescape")
    return "\x00"  # etcd: range_end "\0" means "every key from the start"
