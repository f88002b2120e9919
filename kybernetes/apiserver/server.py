"""The API server process: TLS listener, request pipeline, routing, lifecycle.

authenticate → authorize → route. Resource requests go to the generic
handlers (reading, writing, deleting, watching, subresources) with the
resource's ``ResourceStore``; everything else is discovery, OpenAPI, health
and version. Every failure leaves as a ``Status`` body; an unexpected
exception is a 500 with the server still serving. ``/readyz`` answers ok
once every watch cache is filled and the bootstrap objects exist.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from kybernetes.api import openapi, openapi_v2, openapi_v2_protobuf, registry, status
from kybernetes.apiserver import (admission, allocation, authn, authz, bootstrap, componentstatuses,
                                  deleting, discovery, encoding, join, kubelets, metrics, nodeproxy, pki,
                                  reading, requestinfo, resource_store, strategies, subresources, tokens,
                                  watchcache, watching, writing)
from kybernetes.apiserver.calls import STATE, Call, respond_status
from kybernetes.storage.types import Store

log = logging.getLogger(__name__)

VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4-kyb", "gitCommit": "kybernetes",
    "gitTreeState": "clean", "buildDate": "2026-11-25T00:00:00Z", "goVersion": "python3",
    "compiler": "cpython", "platform": "linux/amd64",
}


@dataclass
class Settings:
    bind_address: str = "127.0.0.1"
    port: int = 6443
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    cluster_domain: str = "cluster.local"
    advertise_address: str = "127.0.0.1"
    # More addresses to listen on beside bind_address (kyb server adds the
    # root bridge's address, where pods reach it). Bound with IP_FREEBIND:
    # the address may appear only later, when the first node makes the bridge.
    extra_bind_addresses: tuple[str, ...] = ()
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    # --service-account-signing-key-file; unset, a key of this process only
    # (tokens die with it), which is what in-process tests want.
    service_account_key_file: str = ""
    # --service-account-issuer; unset, k3s's https://kubernetes.default.svc.<cluster domain>.
    service_account_issuer: str = ""
    # --api-audiences; unset, the issuer (as kube-apiserver defaults it).
    api_audiences: tuple[str, ...] = ()
    service_account_max_token_expiration: int = 0  # seconds; 0: no cap
    service_account_extend_token_expiration: bool = True
    # --kubelet-client-certificate/--kubelet-client-key: the API server's
    # identity towards kubelets (logs, exec, proxy, metrics).
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    # --kubelet-certificate-authority: checks kubelets' serving certificates;
    # unset, they are not checked (kube-apiserver's default).
    kubelet_certificate_authority: str = ""

    @property
    def issuer(self) -> str:
        return self.service_account_issuer or f"https://kubernetes.default.svc.{self.cluster_domain}"

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(self.api_audiences) or (self.issuer,)


@dataclass
class State:
    """What handlers reach through ``request.app[STATE]``."""

    store: Store
    settings: Settings
    stores: dict[tuple[str, str, str], resource_store.ResourceStore]
    caches: dict[str, watchcache.WatchCache]
    admission: admission.Chain
    authenticator: authn.Authenticator
    authorizer: authz.Authorizer
    services: strategies.ServiceAddresses
    service_accounts: tokens.ServiceAccountTokens
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    kubelet_client: kubelets.KubeletClient = field(default_factory=kubelets.KubeletClient)
    join: join.JoinService | None = None  # /cacerts and node credentials (kyb server sets it)

    def resource_store(self, group: str, version: str, plural: str) -> resource_store.ResourceStore | None:
        return self.stores.get((group, version, plural))


def build_state(store: Store, settings: Settings, authenticator: authn.Authenticator) -> State:
    caches: dict[str, watchcache.WatchCache] = {}
    stores = {}
    for r in registry.all_resources():
        if not r.stored:
            continue
        cache = caches.get(r.key_prefix)
        if cache is None:
            cache = caches[r.key_prefix] = watchcache.WatchCache(store, r.key_prefix)
        stores[(r.group, r.version, r.plural)] = resource_store.ResourceStore(r, store, cache)

    ns_store = stores[("", "v1", "namespaces")]
    pc_store = stores[("scheduling.k8s.io", "v1", "priorityclasses")]

    async def get_namespace(name: str) -> dict | None:
        obj = ns_store.cache.get(ns_store.key("", name)) if ns_store.cache.ready.is_set() else None
        if obj is not None:
            return obj
        try:
            return (await ns_store.read("", name))[0]
        except status.StatusError:
            return None

    async def get_priority_class(name: str) -> dict | None:
        try:
            return (await pc_store.read("", name))[0]
        except status.StatusError:
            return None

    async def lookup(plural: str, namespace: str, name: str) -> dict | None:
        # Token checks read the watch cache, as upstream's read informers:
        # every authenticated request makes them.
        rs = stores[("", "v1", plural)]
        if rs.cache.ready.is_set():
            return rs.cache.get(rs.key(namespace, name))
        try:
            return (await rs.read(namespace, name))[0]
        except status.StatusError:
            return None

    if settings.service_account_key_file:
        key = pki.load_service_account_key(settings.service_account_key_file)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service_accounts = tokens.ServiceAccountTokens(
        key, settings.issuer, settings.audiences, lookup,
        max_expiration_seconds=settings.service_account_max_token_expiration,
        extend_expiration=settings.service_account_extend_token_expiration)
    authenticator.add_token_authenticator(service_accounts)

    chain = admission.Chain([
        admission.NamespaceLifecycle(get_namespace),
        admission.ServiceAccount(),
        admission.DefaultTolerationSeconds(settings.default_not_ready_toleration_seconds,
                                           settings.default_unreachable_toleration_seconds),
        admission.Priority(get_priority_class),
    ])
    ips = allocation.IPAllocator(store, settings.service_cidr)
    ports = allocation.PortAllocator(store, *settings.node_port_range)
    return State(store, settings, stores, caches, chain, authenticator, authz.AlwaysAllow(),
                 strategies.ServiceAddresses(ips, ports), service_accounts,
                 kubelet_client=kubelets.KubeletClient(settings.kubelet_client_certificate,
                                                       settings.kubelet_client_key,
                                                       settings.kubelet_certificate_authority))


# -- routing -------------------------------------------------------------------------


def _json(body: bytes | dict, code: int = 200, content_type: str = encoding.JSON) -> web.Response:
    data = body if isinstance(body, bytes) else encoding.orjson.dumps(body)
    return web.Response(body=data, status=code, headers={"Content-Type": content_type,
                                                         "Cache-Control": "no-cache, private"})


async def _non_resource(request: web.Request, state: State) -> web.StreamResponse:
    path = request.path.rstrip("/") or "/"
    if path in ("/healthz", "/livez"):
        return web.Response(text="ok", content_type="text/plain")
    if path == "/readyz":
        if state.ready.is_set():
            return web.Response(text="ok", content_type="text/plain")
        return web.Response(text="[-]kybernetes-ready failed: not ready yet\nreadyz check failed",
                            status=500, content_type="text/plain")
    if path.startswith(("/healthz/", "/livez/", "/readyz/")):
        return web.Response(text="ok", content_type="text/plain")
    if path == "/version":
        return _json(VERSION_INFO)
    accept = request.headers.get("Accept", "")
    if path in ("/api", "/apis"):
        version = discovery.wants_aggregated(accept)
        if version:
            ct = discovery.AGGREGATED_V2 if version == "v2" else discovery.AGGREGATED_V2BETA1
            return _json(discovery.aggregated(path == "/api", version), content_type=ct)
        return _json(discovery.api_versions() if path == "/api" else discovery.api_group_list())
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        body = discovery.resource_list("", parts[1])
        if body is not None:
            return _json(body)
    if parts[0] == "apis" and len(parts) == 2:
        body = discovery.api_group(parts[1])
        if body is not None:
            return _json(body)
    if parts[0] == "apis" and len(parts) == 3:
        body = discovery.resource_list(parts[1], parts[2])
        if body is not None:
            return _json(body)
    if path == "/openapi/v2":
        # kubectl asks for gnostic's protobuf only; JSON to anyone else, as kube-apiserver.
        if any(media_type in accept for media_type in openapi_v2_protobuf.MEDIA_TYPES):
            return _json(openapi_v2_protobuf.document_bytes(),
                         content_type=openapi_v2_protobuf.CONTENT_TYPE)
        return _json(openapi_v2.json_bytes())
    if path == "/openapi/v3":
        return _json(openapi.root())
    if path.startswith("/openapi/v3/"):
        doc = openapi.document_bytes_at(path[len("/openapi/v3/"):])
        if doc is not None:
            return _json(doc)
    if path == "/":
        paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3",
                 "/readyz", "/version"]
        paths += sorted({f"/apis/{g}" for g, _ in registry.group_versions() if g} |
                        {f"/apis/{g}/{v}" for g, vs in registry.group_versions() if g for v in vs})
        return _json({"paths": sorted(paths)})
    raise status.not_found_path()


async def _resource(request: web.Request, state: State, info: requestinfo.RequestInfo,
                    user: admission.UserInfo) -> web.StreamResponse:
    r = registry.lookup(info.group, info.version, info.resource)
    if r is None:
        raise status.not_found_path()
    if r.namespaced is False and info.namespace:
        raise status.not_found_path()
    sub = info.subresource
    if sub and r.subresource(sub) is None:
        raise status.not_found_path()
    verb = info.verb
    # The routes kube-apiserver installs: a collection takes GET, POST and
    # DELETE, a named object GET, PUT, PATCH and DELETE; any other method on
    # a path that exists is 405.
    if not sub and ((info.name and verb == "create") or (not info.name and verb in ("update", "patch"))):
        raise status.error(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
    if sub:
        allowed = r.subresource(sub).verbs  # type: ignore[union-attr]
        check = {"create": "create", "get": "get", "update": "update", "patch": "patch",
                 "delete": "delete"}.get(verb, verb)
    else:
        allowed, check = r.verbs, verb
    if check not in allowed:
        raise status.error(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
    rendering = encoding.negotiate(request.headers.get("Accept"))
    if r.group == "" and r.plural == "componentstatuses":
        computed = Call(request, info, r, None, user, rendering)  # type: ignore[arg-type]
        return await componentstatuses.serve(computed)
    if r.virtual and r.group == "" and r.plural == "bindings":
        pods = state.stores[("", "v1", "pods")]
        return await subresources.bind(Call(request, info, pods.resource, pods, user, rendering),
                                       named_by_body=True)
    if r.virtual:
        dummy = Call(request, info, r, None, user, rendering)  # type: ignore[arg-type]
        return await subresources.review(dummy)
    store = state.stores[(r.group, r.version, r.plural)]
    call = Call(request, info, r, store, user, rendering)
    if r.namespaced and not info.namespace and verb in ("get", "create", "update", "patch", "delete"):
        raise status.not_found_path()
    if sub == "scale":
        return await (subresources.get_scale(call) if verb == "get" else subresources.update_scale(call))
    if sub == "binding":
        return await subresources.bind(call)
    if sub == "eviction":
        return await subresources.evict(call)
    if sub == "finalize":
        return await subresources.finalize(call)
    if sub == "token":
        return await subresources.token_request(call)
    if sub and nodeproxy.handles(call):
        return await nodeproxy.serve(call)
    if sub and sub != "status":
        raise status.error(501, "NotImplemented", f"the {r.plural}/{sub} subresource is not served yet")
    if verb == "get":
        return await reading.get(call)
    if verb == "list":
        return await reading.list_(call)
    if verb == "watch":
        return await watching.watch(call)
    if verb == "create":
        return await writing.create(call)
    if verb == "update":
        return await writing.update(call)
    if verb == "patch":
        return await writing.patch(call)
    if verb == "delete":
        return await deleting.delete(call)
    if verb == "deletecollection":
        return await deleting.delete_collection(call)
    raise status.error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


async def dispatch(request: web.Request) -> web.StreamResponse:
    state: State = request.app[STATE]
    try:
        info = requestinfo.parse(request.method, request.path, request.query)
        user = await state.authenticator.authenticate(request)
        if user is None:
            if not authn.Authenticator.is_public(request.path) or "Authorization" in request.headers:
                raise status.unauthorized()
            user = admission.UserInfo("system:anonymous", ("system:unauthenticated",))
        allowed, reason = await state.authorizer.authorize(user, info)
        if not allowed:
            raise status.error(403, "Forbidden", authz.forbidden_message(user, info, reason))
        if not info.is_resource:
            return await _non_resource(request, state)
        if info.group == metrics.GROUP:
            return await metrics.serve(request, state, info)
        return await _resource(request, state, info, user)
    except status.StatusError as e:
        return respond_status(e)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # a bug must cost one request, never the server
        log.exception("internal error serving %s %s", request.method, request.path)
        return respond_status(status.internal(f"{type(e).__name__}: {e}"))


def make_app(state: State) -> web.Application:
    app = web.Application(client_max_size=encoding.MAX_BODY + 1024 * 1024, handler_args={
        "max_field_size": 65536, "max_line_size": 65536})
    app[STATE] = state
    if state.join is not None:
        join.add_routes(app, state.join)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class APIServer:
    def __init__(self, store: Store, settings: Settings, authenticator: authn.Authenticator,
                 ssl_context: ssl.SSLContext | None):
        self.store = store
        self.settings = settings
        self.state = build_state(store, settings, authenticator)
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def ready(self) -> asyncio.Event:
        return self.state.ready

    async def start(self) -> None:
        for cache in self.state.caches.values():
            self._tasks.append(asyncio.create_task(cache.run(), name=f"watchcache {cache.prefix}"))
        app = make_app(self.state)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.bind_address, self.settings.port,
                           ssl_context=self.ssl_context, reuse_address=True)
        await site.start()
        for address in self.settings.extra_bind_addresses:
            await web.SockSite(self._runner, _freebind_socket(address, self.settings.port),
                               ssl_context=self.ssl_context).start()
        await asyncio.gather(*(c.ready.wait() for c in self.state.caches.values()))
        # The caches hold every object for good: keep the cyclic garbage
        # collector from walking them again and again (full collections of
        # a 10,000-pod cache took up to a second). Plain JSON objects hold no
        # reference cycles, so nothing frozen is ever cyclic garbage.
        gc.freeze()
        await bootstrap.ensure(self.state)
        self._tasks.append(asyncio.create_task(bootstrap.keep(self.state), name="bootstrap"))
        self.state.ready.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._runner is not None:
            await self._runner.cleanup()
        await self.state.kubelet_client.close()


def _freebind_socket(address: str, port: int) -> socket.socket:
    """A listening TCP socket on ``address``, which need not exist yet."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        sock.bind((address, port))
        sock.listen(512)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def ssl_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """TLS for the API server: its certificate, and client certificates
    verified against the cluster CA when a client presents one."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
