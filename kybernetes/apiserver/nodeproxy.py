"""Subresources answered by a kubelet: pods/log, exec, attach, portforward,
proxy, and nodes/proxy — what kube-apiserver forwards rather than stores.

The API server validates the request (the pod exists, the container is one
of its containers, the pod has a node), finds the node's kubelet
(``kubelets.location``) and relays:

- ``pods/log``: GET ``/containerLogs/{ns}/{pod}/{container}`` on the kubelet,
  the body streamed as it comes (``follow`` stays open), a kubelet error
  turned into a Status as upstream's GenericHttpResponseChecker does.
- ``pods/exec``, ``pods/attach``, ``pods/portforward``: an upgrade (websocket
  or SPDY/3.1, whatever the client asked). The request goes to the kubelet
  over a fresh TLS connection with the client's upgrade headers; a 101 head
  is relayed byte for byte and then bytes are spliced both ways until either
  side closes; any other answer of 400 or more is relayed with its body and
  the connection closed (UpgradeAwareHandler.tryUpgrade).
- ``pods/proxy`` (``http://podIP:port/path``) and ``nodes/proxy`` (the
  kubelet's own HTTPS API): plain HTTP relayed both ways.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import urllib.parse

import aiohttp
from aiohttp import web

from kybernetes.api import status
from kybernetes.api.validation import field, invalid_message
from kybernetes.apiserver import kubelets, splicing
from kybernetes.apiserver.calls import STATE, Call

log = logging.getLogger(__name__)

POD_SUBRESOURCES = ("log", "exec", "attach", "portforward", "proxy")
MAX_ERROR_BODY = 50000  # upstream reads at most this much of a kubelet's error
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
# Request headers the API server never passes on: the client's credentials
# are for the API server, the kubelet authenticates the API server's certificate.
NOT_FORWARDED = {"authorization", "host", "impersonate-user", "impersonate-group", "impersonate-uid",
                 "cookie"}


def handles(call: Call) -> bool:
    r, sub = call.resource, call.info.subresource
    if r.group != "":
        return False
    return (r.plural == "pods" and sub in POD_SUBRESOURCES) or (r.plural == "nodes" and sub == "proxy")


async def serve(call: Call) -> web.StreamResponse:
    sub = call.info.subresource
    if call.resource.plural == "nodes":
        return await node_proxy(call)
    if sub == "log":
        return await pod_log(call)
    if sub == "proxy":
        return await pod_proxy(call)
    return await pod_stream(call, sub)


# -- query parameters, as the parameter codec converts them --------------------


def _bool(call: Call, name: str) -> bool:
    values = call.query.getall(name, [])
    return bool(values) and values[0] not in ("0",) and values[0].lower() != "false"


def _int(call: Call, name: str) -> int | None:
    values = call.query.getall(name, [])
    if not values or values[0] == "":
        return None
    try:
        return int(values[0])
    except ValueError:
        raise status.bad_request(f'strconv.ParseInt: parsing "{values[0]}": invalid syntax') from None


def _time(call: Call, name: str) -> str | None:
    value = call.param(name)
    if not value:
        return None
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError(value)
    except ValueError:
        raise status.bad_request(
            f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as "2006"') from None
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the pod, its container, its node ------------------------------------------


def container_names(pod: dict) -> list[str]:
    """podutil.VisitContainers order: init containers, containers, ephemeral containers."""
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def choose_container(pod: dict, container: str) -> str:
    """validateContainer: the named one must exist; unnamed, the only one."""
    name = pod["metadata"]["name"]
    if not container:
        containers = (pod.get("spec") or {}).get("containers") or []
        if len(containers) == 1:
            return containers[0]["name"]
        if not containers:
            raise status.bad_request(f"a container name must be specified for pod {name}")
        raise status.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(container_names(pod))}]")
    if container not in container_names(pod):
        raise status.bad_request(f"container {container} is not valid for pod {name}")
    return container


async def node_location(call: Call, node_name: str) -> kubelets.Location:
    state = call.request.app[STATE]
    nodes = state.stores[("", "v1", "nodes")]
    return kubelets.location(await nodes.get("", node_name))


def _client(call: Call) -> kubelets.KubeletClient:
    return call.request.app[STATE].kubelet_client


def _generic_error(code: int, body: str, resource: str, name: str) -> status.StatusError:
    """GenericHttpResponseChecker: a kubelet's non-2xx answer as an API error."""
    if code == 500:
        return status.internal(body)
    if code == 400:
        return status.bad_request(body)
    reasons = {404: ("NotFound", "the server could not find the requested resource"),
               401: ("Unauthorized", "the server has asked for the client to provide credentials"),
               403: ("Forbidden", body),
               405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
               409: ("Conflict", "the server reported a conflict"),
               422: ("Invalid", "the server rejected our request due to an error in our request"),
               429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
               503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
               504: ("Timeout", "the server was unable to return a response in the time allotted, "
                                "but may still be processing the request")}
    reason, message = reasons.get(code, ("", f"the server responded with the status code {code} "
                                             "but did not return more information"))
    if code > 500 and code not in reasons:
        reason, message = "InternalError", f'an error on the server ("{body}") has prevented the request from succeeding'
    message = f"{message} ( {resource} {name})"  # upstream's "(<verb> <resource> <name>)", verb empty
    details = {"name": name, "kind": resource,
               "causes": [{"reason": "UnexpectedServerResponse", "message": body}]}
    err = status.error(code, reason, message, details)
    if not reason:
        err.status.pop("reason", None)
    return err


# -- pods/log ------------------------------------------------------------------


def _log_query(call: Call) -> tuple[dict[str, str], list[field.Cause]]:
    follow, previous, timestamps = _bool(call, "follow"), _bool(call, "previous"), _bool(call, "timestamps")
    since_seconds, tail, limit = _int(call, "sinceSeconds"), _int(call, "tailLines"), _int(call, "limitBytes")
    since_time = _time(call, "sinceTime")
    causes: list[field.Cause] = []
    # ValidatePodLogOptions
    if tail is not None and tail < 0:
        causes.append(field.make(field.INVALID, "tailLines", tail, field.IS_NEGATIVE))
    if limit is not None and limit < 1:
        causes.append(field.make(field.INVALID, "limitBytes", limit, "must be greater than 0"))
    if since_seconds is not None and since_time is not None:
        causes.append(field.make(field.FORBIDDEN, "",
                                 detail="at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since_seconds is not None and since_seconds < 1:
        causes.append(field.make(field.INVALID, "sinceSeconds", since_seconds, "must be greater than 0"))
    query: dict[str, str] = {}
    for flag, on in (("follow", follow), ("previous", previous), ("timestamps", timestamps)):
        if on:
            query[flag] = "true"
    for key, value in (("sinceSeconds", since_seconds), ("sinceTime", since_time),
                       ("tailLines", tail), ("limitBytes", limit)):
        if value is not None:
            query[key] = str(value)
    return query, causes


async def pod_log(call: Call) -> web.StreamResponse:
    name, namespace = call.info.name, call.info.namespace
    query, causes = _log_query(call)
    if causes:
        raise status.invalid("PodLogOptions", "", name, causes, invalid_message("PodLogOptions", name, causes))
    pod = await call.store.get(namespace, name)
    container = choose_container(pod, call.param("container"))
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        return web.Response(status=204)  # no location: an empty stream, as LocationStreamer
    loc = await node_location(call, node)
    path = f"/containerLogs/{namespace}/{name}/{container}"
    url = loc.url(path) + ("?" + urllib.parse.urlencode(query) if query else "")
    session = _client(call).session(insecure=_bool(call, "insecureSkipTLSVerifyBackend"))
    try:
        upstream = await session.get(url)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
        raise kubelets.unknown_error(f'Get "{url}": {kubelets.dial_error(e, loc)}') from None
    async with upstream:
        if not 200 <= upstream.status <= 206:
            body = (await upstream.content.read(MAX_ERROR_BODY)).decode("utf-8", "replace")
            raise _generic_error(upstream.status, body, "pods/log", name)
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain",
                                                           "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(call.request)
        await _copy_until_disconnected(call.request, upstream, response)
        return response


async def _copy_until_disconnected(request: web.Request, upstream: aiohttp.ClientResponse,
                                   response: web.StreamResponse) -> None:
    """Relay a body as it arrives; stop when it ends or the client goes away
    (a followed log may stay silent for hours)."""
    async def copy() -> None:
        while True:
            chunk = await upstream.content.readany()
            if not chunk:
                return
            await response.write(chunk)

    async def gone() -> None:
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(copy()), asyncio.create_task(gone())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        exc = t.exception()
        if exc is not None and not isinstance(exc, (ConnectionError, aiohttp.ClientError)):
            raise exc


# -- exec, attach, portforward -------------------------------------------------


def _stream_query(call: Call, sub: str) -> list[tuple[str, str]]:
    """streamParams: what the kubelet is asked, in upstream's form."""
    query: list[tuple[str, str]] = []
    if sub == "portforward":
        ports = []
        for value in call.query.getall("ports", []):
            try:
                ports.append(int(value))
            except ValueError:
                raise status.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        if ports:
            query.append(("port", ",".join(str(p) for p in ports)))
        return query
    for flag in ("stdin", "stdout", "stderr", "tty"):
        if _bool(call, flag):
            query.append((flag, "1"))
    if sub == "exec":
        query += [("command", c) for c in call.query.getall("command", [])]
    return query


def _is_upgrade(request: web.Request) -> bool:
    tokens = {t.strip().lower() for v in request.headers.getall("Connection", []) for t in v.split(",")}
    return "upgrade" in tokens


async def pod_stream(call: Call, sub: str) -> web.StreamResponse:
    name, namespace = call.info.name, call.info.namespace
    pod = await call.store.get(namespace, name)
    if sub != "portforward":
        container = choose_container(pod, call.param("container"))
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        raise status.bad_request(f"pod {name} does not have a host assigned")
    loc = await node_location(call, node)
    query = _stream_query(call, sub)
    if sub == "portforward":
        path = f"/portForward/{namespace}/{name}"
    else:
        path = f"/{sub}/{namespace}/{name}/{container}"
    if not _is_upgrade(call.request):
        raise status.bad_request("Upgrade request required")
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    return await splicing.upgrade(call.request, _client(call), loc, target)


# -- pods/proxy and nodes/proxy ------------------------------------------------


def split_scheme_name_port(ident: str) -> tuple[str, str, str] | None:
    """utilnet.SplitSchemeNamePort: "name", "name:port" or "scheme:name:port"."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
        if scheme not in ("http", "https"):
            return None
    else:
        return None
    return (scheme, name, port) if name else None


def _proxy_path(call: Call) -> str:
    """The path after ``.../{name}/proxy``, as sent (kept encoded), "/" when none."""
    raw = call.request.raw_path.split("?", 1)[0]
    marker = f"/{call.info.resource}/{urllib.parse.quote(call.info.name, safe=':@')}/proxy"
    i = raw.find(marker)
    if i < 0:
        marker = f"/{call.info.resource}/{call.info.name}/proxy"
        i = raw.find(marker)
    rest = raw[i + len(marker):] if i >= 0 else ""
    return rest if rest.startswith("/") else "/" + rest


def _global_unicast(ip: str) -> bool:
    """Go's IP.IsGlobalUnicast (private ranges included)."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (a.is_unspecified or a.is_loopback or a.is_link_local or a.is_multicast
                or ip == "255.255.255.255")


async def pod_proxy(call: Call) -> web.StreamResponse:
    parsed = split_scheme_name_port(call.info.name)
    if parsed is None:
        raise status.bad_request(f'invalid pod request "{call.info.name}"')
    scheme, name, port = parsed
    pod = await call.store.get(call.info.namespace, name)
    if not port:  # the first declared container port
        port = next((str(c["ports"][0].get("containerPort")) for c in (pod.get("spec") or {}).get("containers", [])
                     if c.get("ports")), "")
    ips = (pod.get("status") or {}).get("podIPs") or []
    ip = ips[0].get("ip", "") if ips else ""
    if not _global_unicast(ip):
        raise status.bad_request("address not allowed")
    host = f"[{ip}]" if ":" in ip else ip
    netloc = f"{host}:{port}" if port else host
    url = f"{scheme or 'http'}://{netloc}{_proxy_path(call)}"
    return await _relay(call, url, _client(call).session(), loc=None)


async def node_proxy(call: Call) -> web.StreamResponse:
    parsed = split_scheme_name_port(call.info.name)
    if parsed is None:
        raise status.bad_request(f'invalid node request "{call.info.name}"')
    scheme, name, port = parsed
    loc = await node_location(call, name)
    if port and port != str(loc.port):
        loc = kubelets.Location(loc.host, int(port))
        url = loc.url(_proxy_path(call), scheme or "http")
    else:
        url = loc.url(_proxy_path(call))
    return await _relay(call, url, _client(call).session(), loc=loc)


async def _relay(call: Call, url: str, session: aiohttp.ClientSession,
                 loc: kubelets.Location | None) -> web.StreamResponse:
    request = call.request
    if request.query_string:
        url += "?" + request.query_string
    headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED | HOP_BY_HOP}
    forwarded = request.remote or ""
    if forwarded:
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {forwarded}" if prior else forwarded
    body = await request.read() if request.can_read_body else None
    try:
        upstream = await session.request(request.method, url, headers=headers, data=body,
                                         allow_redirects=False, skip_auto_headers=("User-Agent",
                                                                                   "Accept-Encoding"))
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
        where = loc or kubelets.Location(*(urllib.parse.urlsplit(url).netloc.rsplit(":", 1) + ["80"])[:2])
        raise status.error(503, "ServiceUnavailable",
                           f"error trying to reach service: {kubelets.dial_error(e, where)}") from None
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for k, v in upstream.headers.items():
            if k.lower() not in HOP_BY_HOP:
                response.headers.add(k, v)
        if upstream.headers.get("Content-Length") is not None:
            response.content_length = int(upstream.headers["Content-Length"])
        elif request.method != "HEAD" and upstream.status not in (204, 304):
            response.enable_chunked_encoding()
        await response.prepare(request)
        if request.method != "HEAD":
            await _copy_until_disconnected(request, upstream, response)
        return response
