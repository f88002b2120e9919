"""ConfigMaps, Secrets and ServiceAccounts.

Keys are config keys (``[-._a-zA-Z0-9]+``); ConfigMaps and Secrets hold at
most 1 MiB; typed Secrets need their well-known keys
(``kubernetes.io/tls`` needs ``tls.crt`` and ``tls.key``, …). Objects marked
``immutable: true`` may not change their data, and a Secret's type never
changes. Secret ``stringData`` is folded into ``data`` before validation, as
upstream's conversion does.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

from kybernetes.api import names
from kybernetes.api.validation import access as a
from kybernetes.api.validation import field as f
from kybernetes.api.validation.field import Cause
from kybernetes.api.validation.meta import validate_object_meta, validate_object_meta_update

MAX_SECRET_SIZE = 1024 * 1024
IMMUTABLE_DETAIL = "field is immutable when `immutable` is set"


def _decoded_len(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.b64decode(value, validate=False))
    except (binascii.Error, ValueError):
        return len(value)


def secret_data(secret: Mapping[str, Any]) -> dict[str, int]:
    """Key -> decoded byte length of a Secret's data with stringData merged in."""
    data = {k: _decoded_len(v) for k, v in a.m(secret, "data").items()}
    for k, v in a.m(secret, "stringData").items():
        data[k] = len(v.encode()) if isinstance(v, str) else 0
    return data


def _json_error(raw: Any) -> str | None:
    try:
        text = base64.b64decode(raw).decode() if isinstance(raw, str) else ""
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return "invalid character looking for beginning of value"
    if not text.strip():
        return "unexpected end of JSON input"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        bad = text[e.pos] if e.pos < len(text) else ""
        return f"invalid character {bad!r} looking for beginning of value" if bad else "unexpected end of JSON input"
    if not isinstance(value, dict):
        return f"json: cannot unmarshal {type(value).__name__} into Go value of type map[string]interface {{}}"
    return None


def _secret_raw(secret: Mapping[str, Any], k: str) -> Any:
    string_data = a.m(secret, "stringData")
    if k in string_data:
        v = string_data[k]
        return base64.b64encode(v.encode()).decode() if isinstance(v, str) else ""
    return a.m(secret, "data").get(k)


def validate_secret(secret: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(secret, "metadata"), names.name_is_dns_subdomain)
    data = secret_data(secret)
    for k in sorted(data):
        errs += [f.invalid(f.key("data", k), k, m) for m in names.is_config_map_key(k)]
    if sum(data.values()) > MAX_SECRET_SIZE:
        errs.append(f.too_long("data", MAX_SECRET_SIZE))
    typ = a.s(secret, "type")
    if typ == "kubernetes.io/service-account-token":
        if not (a.sm(a.m(secret, "metadata"), "annotations") or {}).get("kubernetes.io/service-account.name"):
            errs.append(f.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif typ in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        k = ".dockercfg" if typ == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if k not in data:
            errs.append(f.required(f.key("data", k)))
        elif (msg := _json_error(_secret_raw(secret, k))) is not None:
            errs.append(f.invalid(f.key("data", k), "<secret contents redacted>", msg))
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [f.required("data[username]"), f.required("data[password]")]
    elif typ == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(f.required("data[ssh-privatekey]"))
    elif typ == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in data:
                errs.append(f.required(f.key("data", k)))
    return errs


def validate_secret_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    errs += f.immutable("type", a.s(new, "type"), a.s(old, "type"))
    if a.bp(old, "immutable") is True:
        if a.bp(new, "immutable") is not True:
            errs.append(f.forbidden("immutable", IMMUTABLE_DETAIL))
        new_data = dict(a.m(new, "data"))
        for k, v in a.m(new, "stringData").items():
            new_data[k] = base64.b64encode(v.encode()).decode() if isinstance(v, str) else ""
        if new_data != dict(a.m(old, "data")):
            errs.append(f.forbidden("data", IMMUTABLE_DETAIL))
    return errs + validate_secret(new)


def validate_config_map(cm: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta(a.m(cm, "metadata"), names.name_is_dns_subdomain)
    data, binary = a.m(cm, "data"), a.m(cm, "binaryData")
    total = 0
    for k in sorted(data):
        errs += [f.invalid(f.key("data", k), k, m) for m in names.is_config_map_key(k)]
        if k in binary:
            errs.append(f.invalid(f.key("data", k), k, "duplicate of key present in binaryData"))
        v = data[k]
        total += len(v.encode()) if isinstance(v, str) else 0
    for k in sorted(binary):
        errs += [f.invalid(f.key("binaryData", k), k, m) for m in names.is_config_map_key(k)]
        total += _decoded_len(binary[k])
    if total > MAX_SECRET_SIZE:
        # upstream reports the whole object: field.NewPath("") prints as "[]"
        errs.append(f.too_long("[]", MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    errs = validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata"))
    if a.bp(old, "immutable") is True:
        if a.bp(new, "immutable") is not True:
            errs.append(f.forbidden("immutable", IMMUTABLE_DETAIL))
        if dict(a.m(new, "data")) != dict(a.m(old, "data")):
            errs.append(f.forbidden("data", IMMUTABLE_DETAIL))
        if dict(a.m(new, "binaryData")) != dict(a.m(old, "binaryData")):
            errs.append(f.forbidden("binaryData", IMMUTABLE_DETAIL))
    return errs + validate_config_map(new)


def validate_service_account(sa: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta(a.m(sa, "metadata"), names.name_is_dns_subdomain)


def validate_service_account_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    return validate_object_meta_update(a.m(new, "metadata"), a.m(old, "metadata")) + validate_service_account(new)
