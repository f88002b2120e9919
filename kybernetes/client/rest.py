"""The async REST client every component talks to the API server through.

One aiohttp session per ``Client``; typed verbs take a ``registry.Resource``
and build kube-apiserver paths (``/api/v1/namespaces/{ns}/{plural}/{name}/{sub}``
or ``/apis/{group}/{version}/...``). Bodies are plain JSON dicts.

Errors: a non-2xx answer raises ``kybernetes.api.status.StatusError`` built
from the Status the server sent (or one synthesised from the HTTP code, as
apimachinery's NewGenericServerResponse, when the body is not a Status). A
server that cannot be reached, or a connection that breaks, raises this
module's ``ClientError`` naming the server. Requests time out after 30 s by
default; watches run until the server ends them (``timeout_seconds`` is sent
to the server and bounds the stream here too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

import kybernetes
from kybernetes.api import registry, status
from kybernetes.client import kubeconfig

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

# apimachinery's NewGenericServerResponse: reason and message for a bare HTTP code.
_GENERIC = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", "the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: ("NotAcceptable", "the server was unable to respond with a content type that the client supports"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Gone", "the server has asked for the client to start over"),
    413: ("RequestEntityTooLarge", "the server has rejected the request because it is too large"),
    415: ("UnsupportedMediaType", "the server was unable to handle the media type requested"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    500: ("InternalError", "an error on the server has prevented the request from succeeding"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, "
                     "but may still be processing the request"),
}


class ClientError(Exception):
    """The API server could not be reached, or the connection to it broke."""

    def __init__(self, server: str, message: str):
        super().__init__(f"{server}: {message}")
        self.server = server


def status_error(code: int, body: bytes) -> status.StatusError:
    """The StatusError an HTTP error answer stands for."""
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and obj.get("kind") == "Status":
        obj.setdefault("code", code)
        return status.StatusError(obj)
    reason, message = _GENERIC.get(code, ("", f"the server responded with the status code {code} "
                                              "but did not return more information"))
    text = body.decode("utf-8", "replace").strip()[:500]
    details = {"causes": [{"reason": "UnexpectedServerResponse", "message": text}]} if text else None
    return status.error(code, reason, message, details)


def path(res: registry.Resource, namespace: str | None = None, name: str | None = None,
         subresource: str | None = None) -> str:
    """The URL path of a collection, an object, or an object's subresource."""
    parts = ["/api/v1" if not res.group else f"/apis/{res.group}/{res.version}"]
    if res.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(res.plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def _params(**kw: Any) -> dict[str, str]:
    out = {}
    for k, v in kw.items():
        if v is None or v is False:
            continue
        out[k] = "true" if v is True else str(v)
    return out


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _typed(res: registry.Resource, obj: dict[str, Any], subresource: str | None) -> dict[str, Any]:
    """The object with kind/apiVersion filled in from the resource when missing (the server
    requires them, as kube-apiserver does); the caller's dict is not changed."""
    if subresource not in (None, "status") or ("kind" in obj and "apiVersion" in obj):
        return obj
    return {"kind": res.kind, "apiVersion": res.api_version, **obj}


class Client:
    """``async with Client(config, component="scheduler") as c: await c.get(pods, "x", "ns")``."""

    def __init__(self, config: kubeconfig.Config, *, component: str = "client", timeout: float = 30.0):
        self.config = config
        self.server = config.server.rstrip("/")
        # "<component>/<version>", as Kubernetes components identify themselves:
        # the API server names a write's default field manager after it.
        self.user_agent = f"{component}/v{kybernetes.__version__}"
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will drive it.
        if self._session is None:
            ssl_ctx = self.config.ssl_context()
            # Watches hold a connection each: no pool limit.
            connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else False, limit=0)
            auth = None
            if self.config.username is not None and self.config.password is not None:
                auth = aiohttp.BasicAuth(self.config.username, self.config.password)
            self._session = aiohttp.ClientSession(
                connector=connector, auth=auth, headers={"User-Agent": self.user_agent})
        return self._session

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if extra:
            headers.update(extra)
        return headers

    def _kwargs(self) -> dict[str, Any]:
        return {"server_hostname": self.config.tls_server_name} if self.config.tls_server_name else {}

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, data: bytes | str | None = None,
                      headers: dict[str, str] | None = None,
                      timeout: float | None = None) -> dict[str, Any] | bytes:
        """Any request; a JSON answer is decoded to a dict, anything else returned as bytes."""
        hdrs = self._headers(headers)
        if json is not None:
            data = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        session = self._get_session()
        try:
            async with session.request(
                    method, self.server + path, params=_params(**(params or {})), data=data,
                    headers=hdrs, timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
                    **self._kwargs()) as resp:
                body = await resp.read()
                code, ctype = resp.status, resp.content_type
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise ClientError(self.server, f"{method} {path}: {e!r}") from e
        if not 200 <= code < 300:
            raise status_error(code, body)
        if ctype == "application/json" or ctype.endswith("+json"):
            return orjson.loads(body) if body else {}
        return body

    # --- typed verbs ---

    async def get(self, res: registry.Resource, name: str, namespace: str | None = None, *,
                  resource_version: str | None = None, subresource: str | None = None,
                  params: dict[str, Any] | None = None) -> Any:
        """One object, or a subresource of it (``scale``, ``status``; ``log`` answers bytes)."""
        return await self.request("GET", path(res, namespace, name, subresource),
                                  params={"resourceVersion": resource_version, **(params or {})})

    async def list(self, res: registry.Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None,
                   resource_version_match: str | None = None) -> dict[str, Any]:
        """One page of the collection: the List object as the server sent it."""
        return await self.request("GET", path(res, namespace), params={
            "labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
            "continue": continue_, "resourceVersion": resource_version,
            "resourceVersionMatch": resource_version_match})

    async def create(self, res: registry.Resource, obj: dict[str, Any], namespace: str | None = None,
                     *, dry_run: bool = False, field_manager: str | None = None,
                     subresource: str | None = None, name: str | None = None) -> dict[str, Any]:
        """POST to the collection, or to ``{name}/{subresource}`` (pods/binding,
        serviceaccounts/token; the name defaults to the object's)."""
        ns = namespace or _meta(obj).get("namespace")
        if res.namespaced and not ns:
            raise ValueError(f"creating {res.plural} needs a namespace")
        target = path(res, ns, name or _meta(obj).get("name"), subresource) if subresource \
            else path(res, ns)
        return await self.request("POST", target, json=_typed(res, obj, subresource), params={
            "dryRun": "All" if dry_run else None, "fieldManager": field_manager})

    async def update(self, res: registry.Resource, obj: dict[str, Any], *,
                     subresource: str | None = None, field_manager: str | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """PUT the object (fenced by its metadata.resourceVersion, if set)."""
        meta = _meta(obj)
        return await self.request("PUT", path(res, meta.get("namespace"), meta["name"], subresource),
                                  json=_typed(res, obj, subresource),
                                  params={"dryRun": "All" if dry_run else None,
                                                    "fieldManager": field_manager})

    async def patch(self, res: registry.Resource, name: str, body: Any, *,
                    namespace: str | None = None, patch_type: str = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """PATCH with merge, strategic, json or apply (server-side apply needs a field manager)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
        return await self.request(
            "PATCH", path(res, namespace, name, subresource), data=data,
            headers={"Content-Type": PATCH_TYPES[patch_type]},
            params={"fieldManager": field_manager, "force": force if patch_type == "apply" else None,
                    "dryRun": "All" if dry_run else None})

    async def delete(self, res: registry.Resource, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: dict[str, str] | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """DELETE one object; returns the object (when deletion is deferred) or a Status."""
        return await self.request("DELETE", path(res, namespace, name), json=_delete_options(
            propagation_policy, grace_period_seconds, preconditions, dry_run))

    async def delete_collection(self, res: registry.Resource, namespace: str | None = None, *,
                                label_selector: str | None = None,
                                field_selector: str | None = None,
                                propagation_policy: str | None = None,
                                grace_period_seconds: int | None = None) -> dict[str, Any]:
        return await self.request(
            "DELETE", path(res, namespace),
            params={"labelSelector": label_selector, "fieldSelector": field_selector},
            json=_delete_options(propagation_policy, grace_period_seconds, None, False))

    async def watch(self, res: registry.Resource, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(type, object)`` pairs from a watch stream until the server ends it.

        kube-apiserver reports a failed watch (410 Expired, most often) as an
        ERROR event inside a 200 stream: that raises the StatusError it carries.
        A stream that breaks raises ClientError.
        """
        params = _params(watch=True, resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, timeoutSeconds=timeout_seconds,
                         allowWatchBookmarks=allow_bookmarks)
        timeout = aiohttp.ClientTimeout(
            total=timeout_seconds + self.timeout if timeout_seconds else None,
            connect=self.timeout, sock_read=None)
        target = path(res, namespace)
        try:
            resp = await self._get_session().get(self.server + target, params=params,
                                                 headers=self._headers(None), timeout=timeout,
                                                 **self._kwargs())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise ClientError(self.server, f"watch {target}: {e!r}") from e
        async with resp:
            try:
                if resp.status != 200:
                    raise status_error(resp.status, await resp.read())
                async for line in _lines(resp.content):
                    event = orjson.loads(line)
                    if event.get("type") == "ERROR":
                        raise status.StatusError(event.get("object") or {})
                    yield event["type"], event["object"]
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                raise ClientError(self.server, f"watch {target}: {e!r}") from e


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Newline-delimited frames of any size (StreamReader.readline caps line length)."""
    buf = bytearray()
    async for chunk in content.iter_any():
        start = len(buf)
        buf += chunk
        while (i := buf.find(b"\n", start)) >= 0:
            line = bytes(buf[:i])
            del buf[:i + 1]
            start = 0
            if line.strip():
                yield line
    if bytes(buf).strip():
        yield bytes(buf)


def _delete_options(propagation_policy: str | None, grace_period_seconds: int | None,
                    preconditions: dict[str, str] | None, dry_run: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        body["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        body["preconditions"] = preconditions
    if dry_run:
        body["dryRun"] = ["All"]
    return body
