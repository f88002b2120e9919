"""The JSON shapes of etcd's v3 gateway, turned into storage records and back.

The gateway is grpc-gateway over etcd's protobuf API, so it speaks protobuf's
JSON mapping: ``bytes`` fields (keys, values) are base64, ``int64`` fields
arrive as strings, and fields at their default (0, false, empty, the first
enum value such as ``PUT``) are left out. Every reader here therefore treats a
missing field as its zero. No I/O.
"""

from __future__ import annotations

import base64
from typing import Any

from kybernetes.storage.types import DELETE, PUT, Event, KeyValue

Json = dict[str, Any]


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def unb64_key(data: str | None) -> str:
    # surrogateescape: a key that is not UTF-8 (written by another client)
    # still round-trips, as continuing.prefix_end expects.
    return base64.b64decode(data or "").decode("utf-8", "surrogateescape")


def unb64(data: str | None) -> bytes:
    return base64.b64decode(data) if data else b""


def num(obj: Json | None, field: str) -> int:
    """An int64 field (a string in JSON, absent when 0)."""
    if not obj:
        return 0
    return int(obj.get(field) or 0)


def revision(response: Json) -> int:
    """header.revision: the store's revision when the member answered."""
    return num(response.get("header"), "revision")


def key_value(obj: Json) -> KeyValue:
    """mvccpb.KeyValue → KeyValue."""
    return KeyValue(
        key=unb64_key(obj.get("key")),
        value=unb64(obj.get("value")),
        create_revision=num(obj, "create_revision"),
        mod_revision=num(obj, "mod_revision"),
        version=num(obj, "version"),
    )


def event(obj: Json) -> Event:
    """mvccpb.Event → Event. A DELETE's kv carries only the key and the
    deletion's mod_revision, exactly as our Event contract wants."""
    kind = DELETE if obj.get("type") == "DELETE" else PUT
    prev = obj.get("prev_kv")
    return Event(kind, key_value(obj.get("kv") or {}), key_value(prev) if prev else None)


def key_range(prefix: str, end: str) -> Json:
    """key/range_end for [prefix, end). etcd rejects an empty key, and reads
    key "\\0" with range_end "\\0" as "every key", so the empty prefix maps
    there."""
    return {"key": b64(prefix or "\x00"), "range_end": b64(end)}


# -- transactions ---------------------------------------------------------------
# Compare targets and results are given by enum name, which the gateway accepts.

def compare_absent(key: str) -> Json:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def compare_mod(key: str, mod_revision: int) -> Json:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}


def put(key: str, value: bytes) -> Json:
    return {"request_put": {"key": b64(key), "value": b64(value), "prev_kv": True}}


def remove(key: str) -> Json:
    return {"request_delete_range": {"key": b64(key), "prev_kv": True}}


def read(key: str) -> Json:
    return {"request_range": {"key": b64(key)}}


def txn(compare: Json, success: Json, failure: Json) -> Json:
    return {"compare": [compare], "success": [success], "failure": [failure]}


def txn_kv(response: Json) -> KeyValue | None:
    """The one key read or deleted by a txn branch (kvs / prev_kvs), if any."""
    for result in response.get("responses") or []:
        for name in ("response_range", "response_delete_range"):
            part = result.get(name)
            if part is not None:
                kvs = part.get("kvs") or part.get("prev_kvs") or []
                return key_value(kvs[0]) if kvs else None
        part = result.get("response_put")
        if part is not None:
            prev = part.get("prev_kv")
            return key_value(prev) if prev else None
    return None
