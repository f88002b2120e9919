"""One API request as the handlers see it, and how its answer is written.

``Call`` bundles what every handler needs: the parsed ``RequestInfo``, the
``Resource`` from the registry and its ``ResourceStore``, the authenticated
user, query parameters, the negotiated rendering and the warnings to send.
Objects cross version boundaries here too: events.k8s.io Events and
autoscaling/v1 HPAs are converted to and from the version they are stored as.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from kybernetes.api import conversion, printing, registry, status
from kybernetes.apiserver import encoding
from kybernetes.apiserver.admission import UserInfo
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.resource_store import ResourceStore


# Where handlers find the server's State (an AppKey, as aiohttp asks).
STATE: web.AppKey = web.AppKey("state")


@dataclass
class Call:
    request: web.Request
    info: RequestInfo
    resource: registry.Resource
    store: ResourceStore
    user: UserInfo
    rendering: encoding.Rendering
    warnings: list[str] = field(default_factory=list)
    # DeleteOptions may ask for a dry run in the body (kubectl delete --dry-run=server does).
    body_dry_run: list[str] = field(default_factory=list)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    def param(self, name: str, default: str = "") -> str:
        return self.request.query.get(name, default)

    def flag(self, name: str) -> bool:
        return self.request.query.get(name, "").lower() in ("true", "1")

    def int_param(self, name: str, default: int = 0) -> int:
        value = self.request.query.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise status.bad_request(f'invalid value for {name}: "{value}"') from None

    @property
    def dry_run(self) -> bool:
        values = self.request.query.getall("dryRun", []) + self.body_dry_run
        for value in values:
            if value != "All":
                raise status.bad_request(
                    f'Invalid dryRun value: "{value}": supported values: "All"')
        return bool(values)

    @property
    def field_manager(self) -> str:
        manager = self.param("fieldManager")
        if len(manager) > 128:
            raise status.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return manager

    def default_manager(self) -> str:
        """The manager of a write that names none: the client's user agent
        up to its first slash, as kube-apiserver derives it."""
        manager = self.field_manager
        if manager:
            return manager
        agent = self.request.headers.get("User-Agent", "")
        return agent.split("/", 1)[0] if agent else "unknown"

    @property
    def field_validation(self) -> str:
        mode = self.param("fieldValidation", "Warn") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise status.bad_request(
                f'fieldValidation: Unsupported value: "{mode}": supported values: '
                '"Ignore", "Strict", "Warn"')
        return mode

    def group_resource(self) -> tuple[str, str]:
        return self.resource.plural, self.resource.group

    def not_found(self, name: str) -> status.StatusError:
        return status.not_found(self.resource.plural, self.resource.group, name)


def storage_api_version(resource: registry.Resource) -> str:
    group, version = resource.storage_gv
    return f"{group}/{version}" if group else version


def to_storage(resource: registry.Resource, obj: dict) -> dict:
    if resource.group == "" and resource.kind == "Secret" and isinstance(obj.get("stringData"), dict):
        obj = fold_string_data(obj)
    target = storage_api_version(resource)
    if obj.get("apiVersion") == target:
        return obj
    return conversion.convert(obj, target)


def fold_string_data(secret: dict) -> dict:
    """A Secret's ``stringData`` written into ``data`` (base64), overriding
    it, and dropped: k8s Convert_v1_Secret_To_core_Secret does this on every
    write, so stringData is never stored or returned."""
    out = dict(secret)
    string_data = out.pop("stringData")
    data = dict(out.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        out["data"] = data
    return out


def from_storage(resource: registry.Resource, obj: dict) -> dict:
    if obj.get("apiVersion") == resource.api_version or resource.stored_as is None:
        return obj
    return conversion.convert(obj, resource.api_version)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _headers(call: Call | None, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type, "Cache-Control": "no-cache, private"}
    return headers


def add_warnings(response: web.StreamResponse, warnings: list[str]) -> None:
    for text in warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')


def respond(call: Call, body: Any, code: int = 200) -> web.Response:
    data, content_type = encoding.dumps(body, call.rendering)
    response = web.Response(body=data, status=code, headers=_headers(call, content_type))
    add_warnings(response, call.warnings)
    return response


def respond_status(err: status.StatusError, rendering: encoding.Rendering | None = None) -> web.Response:
    body = err.status
    if rendering is not None and rendering.format == "yaml":
        data, content_type = encoding.dumps(body, rendering)
    else:
        data, content_type = orjson.dumps(body), encoding.JSON
    response = web.Response(body=data, status=err.code, headers={"Content-Type": content_type,
                                                                   "Cache-Control": "no-cache, private"})
    retry = body.get("details", {}).get("retryAfterSeconds") if isinstance(body.get("details"), dict) else None
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


def render_object(call: Call, obj: dict) -> Any:
    """One object in the negotiated form (the object, a one-row Table, or
    PartialObjectMetadata)."""
    as_ = call.rendering.as_
    if as_ == "Table":
        table = printing.table(call.resource.group, call.resource.kind, [obj], now(),
                               include_object=call.param("includeObject", "Metadata"),
                               api_version=f"meta.k8s.io/{call.rendering.version}")
        table["metadata"] = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
        return table
    if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
        return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{call.rendering.version}",
                "metadata": obj.get("metadata", {})}
    return obj


def render_list(call: Call, items: list[dict], revision: int, token: str,
                remaining: int | None) -> Any:
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if token:
        meta["continue"] = token
    if remaining:
        meta["remainingItemCount"] = remaining
    as_ = call.rendering.as_
    if as_ == "Table":
        table = printing.table(call.resource.group, call.resource.kind, items, now(),
                               include_object=call.param("includeObject", "Metadata"),
                               api_version=f"meta.k8s.io/{call.rendering.version}")
        table["metadata"] = meta
        return table
    if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
        version = f"meta.k8s.io/{call.rendering.version}"
        return {"kind": "PartialObjectMetadataList", "apiVersion": version, "metadata": meta,
                "items": [{"kind": "PartialObjectMetadata", "apiVersion": version,
                           "metadata": o.get("metadata", {})} for o in items]}
    return {"kind": call.resource.list_kind, "apiVersion": call.resource.api_version,
            "metadata": meta, "items": items}
