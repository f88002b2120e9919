"""The kubelet's own HTTPS API (port 10250), as the API server reaches it.

Paths and parameters are the real kubelet's (pkg/kubelet/server/server.go):
``/healthz``, ``/pods``, ``/stats/summary``, ``/containerLogs/{ns}/{pod}/{container}``,
``/exec``, ``/attach`` (``/{ns}/{pod}[/{uid}]/{container}``) and
``/portForward/{ns}/{pod}[/{uid}]``. Streaming protocols live in ``streams/``.

TLS with client certificates: the caller must present a certificate signed
by the cluster CA (else 401) whose CN is the API server's kubelet-client
identity or whose O includes ``system:masters`` (else 403) — the decision
the real kubelet delegates to a SubjectAccessReview, which the API server's
identity always passes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from kybernetes.kubelet import config
from kybernetes.kubelet.streams import attach, logs, portforward, remotecommand
from kybernetes.runtime import errors as runtime_errors, records

log = logging.getLogger(__name__)
MASTERS = "system:masters"


@dataclass
class ContainerRef:
    container_id: str
    container_name: str
    log_path: str
    pod: dict
    tty: bool = False
    stdin: bool = False


class PodHost(Protocol):
    runtime: object

    async def find_container(self, namespace: str, pod: str, container: str | None, *,
                             previous: bool = False) -> ContainerRef: ...

    async def pod_netns(self, namespace: str, pod: str) -> str: ...

    async def stats_summary(self) -> dict: ...

    def pods(self) -> list[dict]: ...


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.json_response(body, status=code)


def _message(e: LookupError) -> str:
    """A PodHost lookup's message (without the quotes ``str`` puts round a KeyError's)."""
    return str(e.args[0]) if e.args else str(e)


def _peer_identity(request: web.Request) -> tuple[str, list[str]] | None:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    if not cert:
        return None
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    return cn, orgs


class KubeletServer:
    def __init__(self, host: PodHost, *, cert: str, key: str, client_ca: str,
                 allowed_cn: str = config.APISERVER_CLIENT_CN) -> None:
        self.host = host
        self.allowed_cn = allowed_cn
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.load_cert_chain(cert, key)
        self.ssl.load_verify_locations(client_ca)
        self.ssl.verify_mode = ssl.CERT_OPTIONAL  # no certificate: 401, not a handshake failure
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/pods", self.pods)
        r.add_get("/stats/summary", self.stats)
        r.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        for verb, handler in (("exec", self.exec), ("attach", self.attach)):
            for path in (f"/{verb}/{{ns}}/{{pod}}/{{container}}", f"/{verb}/{{ns}}/{{pod}}/{{uid}}/{{container}}"):
                r.add_route("GET", path, handler)
                r.add_route("POST", path, handler)
        for path in ("/portForward/{ns}/{pod}", "/portForward/{ns}/{pod}/{uid}"):
            r.add_route("GET", path, self.port_forward)
            r.add_route("POST", path, self.port_forward)
        return app

    async def start(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, ssl_context=self.ssl)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        ident = _peer_identity(request)
        if ident is None:
            return web.Response(status=401, text="Unauthorized")
        cn, orgs = ident
        if cn != self.allowed_cn and MASTERS not in orgs:
            verb = "create" if request.method == "POST" else "get"
            sub = request.path.strip("/").split("/")[0]
            return web.Response(status=403, text=f"Forbidden (user={cn}, verb={verb}, resource=nodes, "
                                                 f"subresource(s)=[{_subresource(sub)}])")
        return await handler(request)

    # -- plain endpoints ----------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def pods(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                  "items": self.host.pods()})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.host.stats_summary())

    async def _find(self, request: web.Request, previous: bool = False) -> ContainerRef:
        m = request.match_info
        return await self.host.find_container(m["ns"], m["pod"], m.get("container"), previous=previous)

    async def _running(self, container_id: str) -> bool:
        try:
            st = await self.host.runtime.status(container_id)  # type: ignore[attr-defined]
        except runtime_errors.ContainerNotFound:
            return False
        return st.state in (records.RUNNING, records.CREATED)

    # -- logs --------------------------------------------------------------------------

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        try:
            opts = logs.LogOptions.from_query(request.query)
        except logs.OptionsError as e:
            return status(422, "Invalid", str(e))
        try:
            ref = await self._find(request, previous=opts.previous)
        except LookupError as e:
            msg = _message(e)
            code, reason = (400, "BadRequest") if opts.previous and "previous" in msg else (404, "NotFound")
            return status(code, reason, msg)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def running() -> bool:
            return False if opts.previous else await self._running(ref.container_id)

        try:
            await logs.stream_logs(ref.log_path, opts, resp.write, running)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        await resp.write_eof()
        return resp

    # -- exec / attach -------------------------------------------------------------------

    async def _stream_container(self, request: web.Request,
                                opts: remotecommand.Options) -> ContainerRef | web.Response:
        """The container an exec or attach streams to, or the error to answer
        (remotecommand.NewOptions wants a stream; then the container must exist)."""
        if not (opts.stdin or opts.stdout or opts.stderr):
            return status(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
        try:
            return await self._find(request)
        except LookupError as e:
            return status(404, "NotFound", _message(e))

    async def exec(self, request: web.Request) -> web.StreamResponse:
        opts = remotecommand.Options.from_query(request)
        if not opts.command:
            return status(400, "BadRequest", "you must specify at least one command for the container")
        ref = await self._stream_container(request, opts)
        if isinstance(ref, web.Response):
            return ref
        if opts.tty and opts.stderr:
            opts.stderr = False  # a tty merges stderr into stdout
        runtime = self.host.runtime

        async def run(io: remotecommand.IO):
            return await remotecommand.run_exec(runtime, ref.container_id, opts, io)

        return await remotecommand.serve(request, opts, run)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        opts = remotecommand.Options.from_query(request, attach=True)
        ref = await self._stream_container(request, opts)
        if isinstance(ref, web.Response):
            return ref
        if opts.tty and not ref.tty:
            opts.tty = False
        if opts.tty:
            opts.stderr = False
        stdin_path = None
        if opts.stdin:
            try:
                stdin_path = self.host.runtime.stdin_path(ref.container_id)  # type: ignore[attr-defined]
            except (AttributeError, runtime_errors.ContainerNotFound):
                stdin_path = None

        async def run(io: remotecommand.IO):
            return await attach.run_attach(ref.log_path, stdin_path, opts, io,
                                           lambda: self._running(ref.container_id))

        return await remotecommand.serve(request, opts, run)

    # -- port-forward ----------------------------------------------------------------------

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        try:
            netns = await self.host.pod_netns(ns, pod)
        except LookupError as e:
            return status(404, "NotFound", _message(e))
        uid = request.match_info.get("uid") or self._pod_uid(ns, pod)
        connect = portforward.netns_connector(netns)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
            if portforward.TUNNEL_PROTOCOL in offered:
                return await portforward.serve_tunnel(request, connect, pod, uid)
            ports = portforward.ports_from_query(request)
            if not ports:
                return status(400, "BadRequest", "query parameter \"port\" is required")
            return await portforward.serve_websocket(request, connect, pod, uid, ports)
        return await portforward.serve_spdy(request, connect, pod, uid)

    def _pod_uid(self, ns: str, name: str) -> str:
        for p in self.host.pods():
            meta = p.get("metadata") or {}
            if meta.get("namespace") == ns and meta.get("name") == name:
                return meta.get("uid", "")
        return ""


def _subresource(first: str) -> str:
    return {"containerLogs": "log", "exec": "proxy", "attach": "proxy", "portForward": "proxy",
            "stats": "stats", "pods": "proxy", "healthz": "proxy"}.get(first, "proxy")
