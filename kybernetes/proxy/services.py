"""Services and EndpointSlices as kube-proxy sees them: service ports and their endpoints.

Pure data, no I/O. kube-proxy works per *service port*, named
``namespace/name:port`` (``ServicePortName.String()``; no ``:port`` for an
unnamed port); each has the endpoints of every EndpointSlice labelled
``kubernetes.io/service-name`` whose port has the same name. ``categorize``
is kube-proxy's ``CategorizeEndpoints`` (pkg/proxy/topology.go) without
topology hints: ready endpoints, falling back to serving-and-terminating ones
when none is ready, and the node-local subset for ``Local`` traffic policies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, NamedTuple

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"
DEFAULT_AFFINITY_SECONDS = 10800  # core/v1 ClientIPConfig.timeoutSeconds default


class ServicePortName(NamedTuple):
    """A tuple, so that hashing and sorting thousands of them stay in C."""

    namespace: str
    name: str
    port: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclasses.dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with what the proxier needs of the Service."""

    name: ServicePortName
    protocol: str  # TCP, UDP or SCTP
    cluster_ip: str
    port: int
    node_port: int = 0
    affinity_seconds: int = 0  # 0: no sessionAffinity
    internal_local: bool = False
    external_local: bool = False

    @property
    def proto(self) -> str:
        """The protocol as iptables and nft spell it (kube-proxy lower-cases it)."""
        return self.protocol.lower()

    @property
    def externally_accessible(self) -> bool:
        return self.node_port != 0

    @property
    def external_policy_local(self) -> bool:
        return self.externally_accessible and self.external_local

    @property
    def uses_cluster_endpoints(self) -> bool:
        # kube-proxy's UsesClusterEndpoints: any externally accessible port needs
        # them, even with externalTrafficPolicy Local (pods reaching a node port
        # are short-circuited to all endpoints).
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_policy_local


@dataclasses.dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    local: bool = False

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclasses.dataclass
class ProxyState:
    """Everything one sync programs: service ports and their endpoints."""

    services: dict[ServicePortName, ServicePort] = dataclasses.field(default_factory=dict)
    endpoints: dict[ServicePortName, list[Endpoint]] = dataclasses.field(default_factory=dict)

    def endpoints_of(self, name: ServicePortName) -> list[Endpoint]:
        return self.endpoints.get(name, [])


def is_proxied(service: dict[str, Any]) -> bool:
    """kube-proxy skips headless and ExternalName Services, and those another
    proxy claims (the service-proxy-name label)."""
    spec = service.get("spec") or {}
    labels = (service.get("metadata") or {}).get("labels") or {}
    if PROXY_NAME_LABEL in labels or spec.get("type") == "ExternalName":
        return False
    ip = spec.get("clusterIP") or ""
    return ip not in ("", "None")


def service_ports(service: dict[str, Any]) -> list[ServicePort]:
    if not is_proxied(service):
        return []
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
    with_node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    ports = []
    for p in spec.get("ports") or []:
        ports.append(ServicePort(
            name=ServicePortName(meta.get("namespace", "default"), meta["name"], p.get("name") or ""),
            protocol=p.get("protocol") or "TCP",
            cluster_ip=spec["clusterIP"],
            port=int(p["port"]),
            node_port=int(p.get("nodePort") or 0) if with_node_ports else 0,
            affinity_seconds=affinity,
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            external_local=spec.get("externalTrafficPolicy") == "Local",
        ))
    return ports


def slice_endpoints(endpoint_slice: dict[str, Any], node_name: str) -> dict[ServicePortName, list[Endpoint]]:
    """The endpoints of one EndpointSlice by service port. Conditions default as
    the API documents: ready unset means ready, serving follows ready."""
    meta = endpoint_slice.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service or endpoint_slice.get("addressType", "IPv4") != "IPv4":
        return {}
    found: dict[ServicePortName, list[Endpoint]] = {}
    for port in endpoint_slice.get("ports") or []:
        if port.get("port") is None:
            continue
        name = ServicePortName(meta.get("namespace", "default"), service, port.get("name") or "")
        eps = found.setdefault(name, [])
        for ep in endpoint_slice.get("endpoints") or []:
            addresses = ep.get("addresses") or []
            if not addresses:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False
            serving = cond["serving"] if cond.get("serving") is not None else ready
            eps.append(Endpoint(
                ip=addresses[0], port=int(port["port"]), ready=ready, serving=bool(serving),
                terminating=bool(cond.get("terminating")),
                local=bool(node_name) and ep.get("nodeName") == node_name))
    return found


def build(services: Iterable[dict[str, Any]], endpoint_slices: Iterable[dict[str, Any]],
          node_name: str) -> ProxyState:
    """The state one sync programs, from the informers' caches."""
    return StateBuilder(node_name).build(services, endpoint_slices)


def reusable(part: Any, svc: ServicePort, endpoints: list[Endpoint]) -> bool:
    """Rules made earlier from `part.svc` and `part.endpoints` still hold for
    `svc` and `endpoints` (StateBuilder hands over the very same objects while
    they do not change; equal ones, from a fresh build, do as well)."""
    return ((part.svc is svc or part.svc == svc)
            and (part.endpoints is endpoints or part.endpoints == endpoints))


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


class StateBuilder:
    """`build` sync after sync, parsing again only the objects that changed.

    Informers replace an object on every change and never modify one in place
    (DESIGN.md), so the very same object as last time has the same service
    ports and endpoints: they are reused, and an unchanged service port keeps
    the very same ServicePort and endpoint list from one state to the next.
    That is what lets the proxiers reuse its rules (kube-proxy's change
    trackers serve the same purpose). Cached objects are held, so an id
    cannot be reused while it is a key."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self._services: dict[int, tuple[dict, list[ServicePort]]] = {}
        self._slices: dict[int, tuple[dict, dict[ServicePortName, list[Endpoint]]]] = {}
        self._merged: dict[ServicePortName, tuple[list[list[Endpoint]], list[Endpoint]]] = {}

    def build(self, services: Iterable[dict[str, Any]], endpoint_slices: Iterable[dict[str, Any]]) -> ProxyState:
        # Few new containers per unchanged object: each would count towards the
        # collector's next full pass over the whole cache, a pause at 5,000 Services.
        state = ProxyState()
        parsed_services: dict[int, tuple[dict, list[ServicePort]]] = {}
        for svc in services:
            hit = self._services.get(id(svc))
            if hit is None or hit[0] is not svc:
                hit = (svc, service_ports(svc))
            parsed_services[id(svc)] = hit
            for sp in hit[1]:
                state.services[sp.name] = sp
        parsed_slices: dict[int, tuple[dict, dict[ServicePortName, list[Endpoint]]]] = {}
        first: dict[ServicePortName, list[Endpoint]] = {}
        more: dict[ServicePortName, list[list[Endpoint]]] = {}  # ports with more than one slice
        for es in endpoint_slices:
            hit = self._slices.get(id(es))
            if hit is None or hit[0] is not es:
                hit = (es, {name: _merge([eps]) for name, eps in slice_endpoints(es, self.node_name).items()})
            parsed_slices[id(es)] = hit
            for name, eps in hit[1].items():
                if name in first:
                    more.setdefault(name, [first[name]]).append(eps)
                else:
                    first[name] = eps
        merged: dict[ServicePortName, tuple[list[list[Endpoint]], list[Endpoint]]] = {}
        for name, eps in first.items():
            if name not in state.services:
                continue
            parts = more.get(name)
            if parts is not None:
                hit = self._merged.get(name)
                if hit is None or not _same(hit[0], parts):
                    hit = (parts, _merge(parts))
                merged[name] = hit
                eps = hit[1]
            state.endpoints[name] = eps
        self._services, self._slices, self._merged = parsed_services, parsed_slices, merged
        return state


def _merge(parts: list[list[Endpoint]]) -> list[Endpoint]:
    """One service port's endpoints from all its slices, sorted by their string
    (as kube-proxy, so that rules only change with them)."""
    by_address: dict[str, Endpoint] = {}
    for eps in parts:
        for ep in eps:
            # The same address in two slices (a slice being replaced): keep the readier one.
            old = by_address.get(str(ep))
            if old is None or (ep.ready and not old.ready):
                by_address[str(ep)] = ep
    return [by_address[k] for k in sorted(by_address)]


@dataclasses.dataclass(frozen=True)
class Categorized:
    cluster: list[Endpoint]
    local: list[Endpoint]
    reachable: list[Endpoint]  # union of the two: the endpoints that get a chain
    has_any: bool


def categorize(endpoints: list[Endpoint], svc: ServicePort) -> Categorized:
    """kube-proxy's CategorizeEndpoints (topology hints aside)."""
    cluster: list[Endpoint] = []
    has_any = False
    if svc.uses_cluster_endpoints:
        cluster = [ep for ep in endpoints if ep.ready]
        if not cluster:
            cluster = [ep for ep in endpoints if ep.serving and ep.terminating]
        has_any = bool(cluster)
    if not svc.uses_local_endpoints:
        return Categorized(cluster, [], cluster, has_any)
    local_ready = local_terminating = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            local_ready = local_ready or ep.local
        elif ep.serving and ep.terminating:
            has_any = True
            local_terminating = local_terminating or ep.local
    local: list[Endpoint] = []
    if local_ready:
        local = [ep for ep in endpoints if ep.local and ep.ready]
    elif local_terminating:
        local = [ep for ep in endpoints if ep.local and ep.serving and ep.terminating]
    if not svc.uses_cluster_endpoints:
        return Categorized([], local, local, has_any)
    seen = {str(ep) for ep in cluster}
    reachable = cluster + [ep for ep in local if str(ep) not in seen]
    return Categorized(cluster, local, reachable, has_any)
