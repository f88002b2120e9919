"""The cluster's DNS data: Namespaces, Services and ready EndpointSlice endpoints,
reduced to what names need, indexed for the lookups CoreDNS's kubernetes plugin
makes (service by name, endpoints by service, services and endpoints by IP).

It is fed by informer handlers and never keeps or changes the objects it is
given: each is read into small frozen records. Every change is reported to
``on_change`` as the set of dependency keys it touches (``svc:<ns>/<name>`` for
the names under a Service, ``ip:<address>`` for reverse names; None for
everything), so that packed answers can be dropped selectively.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    protocol: str
    port: int


# CoreDNS gives an endpoint slice without ports one sentinel port, so that its
# endpoints still get A records.
NO_PORT = Port("", "", -1)


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]
    headless: bool
    external_name: str
    ports: tuple[Port, ...]


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    hostname: str  # spec.hostname, or the address with dashes (CoreDNS's endpointHostname)


@dataclass(frozen=True, slots=True)
class Slice:
    namespace: str
    service: str
    ports: tuple[Port, ...]
    endpoints: tuple[Endpoint, ...]  # ready ones only


def dep_service(namespace: str, name: str) -> str:
    return f"svc:{namespace}/{name}"


def dep_ip(ip: str) -> str:
    return f"ip:{ip}"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def service_of(obj: dict[str, Any]) -> Service:
    meta, spec = _meta(obj), obj.get("spec") or {}
    type_ = spec.get("type") or "ClusterIP"
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    headless = spec.get("clusterIP") == "None"
    ports = tuple(Port(p.get("name") or "", p.get("protocol") or "TCP", int(p.get("port") or 0))
                  for p in spec.get("ports") or [])
    return Service(meta.get("namespace", ""), meta.get("name", ""), type_,
                   tuple(ip for ip in ips if ip and ip != "None"), headless,
                   spec.get("externalName") or "", ports)


def slice_of(obj: dict[str, Any]) -> Slice:
    meta = _meta(obj)
    ports = tuple(Port(p.get("name") or "", p.get("protocol") or "TCP", int(p.get("port") or 0))
                  for p in obj.get("ports") or []) or (NO_PORT,)
    endpoints = []
    for ep in obj.get("endpoints") or []:
        # An unknown readiness counts as ready (EndpointConditions' API docs; CoreDNS).
        if (ep.get("conditions") or {}).get("ready") is False:
            continue
        for ip in ep.get("addresses") or []:
            endpoints.append(Endpoint(ip, ep.get("hostname") or dashed(ip)))
    return Slice(meta.get("namespace", ""), (meta.get("labels") or {}).get(SERVICE_NAME_LABEL, ""),
                 ports, tuple(endpoints))


class Records:
    def __init__(self, on_change: Callable[[set[str] | None], None] | None = None):
        self.on_change = on_change or (lambda deps: None)
        self.namespaces: set[str] = set()
        self.services: dict[tuple[str, str], Service] = {}
        self.slices: dict[tuple[str, str], Slice] = {}
        self._slices_by_service: dict[tuple[str, str], dict[str, Slice]] = {}
        self._by_cluster_ip: dict[str, set[tuple[str, str]]] = {}
        self._by_endpoint_ip: dict[str, set[tuple[str, str]]] = {}
        self.modified = int(time.time())

    # --- lookups ---

    def endpoints(self, namespace: str, service: str) -> list[tuple[Slice, Endpoint]]:
        found = []
        for name in sorted(self._slices_by_service.get((namespace, service), {})):
            s = self._slices_by_service[(namespace, service)][name]
            found.extend((s, ep) for ep in s.endpoints)
        return found

    def reverse(self, ip: str, zone: str) -> list[str]:
        """PTR targets for ``ip``: the Service with that ClusterIP, else every
        endpoint with that address (as CoreDNS's serviceRecordForIP)."""
        for ns, name in sorted(self._by_cluster_ip.get(ip, ())):
            return [f"{name}.{ns}.svc.{zone}"]
        names = []
        for ns, slice_name in sorted(self._by_endpoint_ip.get(ip, ())):
            s = self.slices[(ns, slice_name)]
            names.extend(f"{ep.hostname}.{s.service}.{ns}.svc.{zone}" for ep in s.endpoints if ep.ip == ip)
        return names

    # --- informer handlers ---

    def _changed(self, deps: set[str] | None) -> None:
        self.modified = int(time.time())
        self.on_change(deps)

    def namespace_added(self, obj: dict[str, Any]) -> None:
        name = _meta(obj).get("name", "")
        if name not in self.namespaces:
            self.namespaces.add(name)
            self._changed(None)

    def namespace_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.namespace_added(new)

    def namespace_deleted(self, obj: dict[str, Any]) -> None:
        name = _meta(obj).get("name", "")
        if name in self.namespaces:
            self.namespaces.discard(name)
            self._changed(None)

    def service_added(self, obj: dict[str, Any]) -> None:
        self._set_service(service_of(obj))

    def service_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._set_service(service_of(new))

    def service_deleted(self, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        key = (meta.get("namespace", ""), meta.get("name", ""))
        old = self.services.pop(key, None)
        if old is not None:
            self._index_cluster_ips(key, old.cluster_ips, ())
            self._changed({dep_service(*key), *map(dep_ip, old.cluster_ips)})

    def _set_service(self, svc: Service) -> None:
        key = (svc.namespace, svc.name)
        old = self.services.get(key)
        if old == svc:
            return
        self.services[key] = svc
        old_ips = old.cluster_ips if old else ()
        self._index_cluster_ips(key, old_ips, svc.cluster_ips)
        self._changed({dep_service(*key), *map(dep_ip, old_ips), *map(dep_ip, svc.cluster_ips)})

    def _index_cluster_ips(self, key: tuple[str, str], old: tuple[str, ...], new: tuple[str, ...]) -> None:
        _reindex(self._by_cluster_ip, key, old, new)

    def slice_added(self, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        self._set_slice((meta.get("namespace", ""), meta.get("name", "")), slice_of(obj))

    def slice_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.slice_added(new)

    def slice_deleted(self, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        self._set_slice((meta.get("namespace", ""), meta.get("name", "")), None)

    def _set_slice(self, key: tuple[str, str], new: Slice | None) -> None:
        old = self.slices.get(key)
        if old == new:
            return
        deps: set[str] = set()
        if old is not None:
            del self.slices[key]
            by_service = self._slices_by_service.get((old.namespace, old.service), {})
            by_service.pop(key[1], None)
            if not by_service:
                self._slices_by_service.pop((old.namespace, old.service), None)
            deps.add(dep_service(old.namespace, old.service))
        if new is not None:
            self.slices[key] = new
            self._slices_by_service.setdefault((new.namespace, new.service), {})[key[1]] = new
            deps.add(dep_service(new.namespace, new.service))
        old_ips = tuple(ep.ip for ep in old.endpoints) if old else ()
        new_ips = tuple(ep.ip for ep in new.endpoints) if new else ()
        _reindex(self._by_endpoint_ip, key, old_ips, new_ips)
        deps.update(map(dep_ip, old_ips))
        deps.update(map(dep_ip, new_ips))
        self._changed(deps)


def _reindex(index: dict[str, set[tuple[str, str]]], key: tuple[str, str],
             old: tuple[str, ...], new: tuple[str, ...]) -> None:
    for ip in old:
        keys = index.get(ip)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[ip]
    for ip in new:
        index.setdefault(ip, set()).add(key)
