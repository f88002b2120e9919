"""The Endpoints controller: core/v1 Endpoints from each Service's selector and pods.

As ``endpoints_controller.go``: for a Service with a selector (not
ExternalName), every selected pod with an IP that is not finished (nor being
deleted, unless publishNotReadyAddresses) gives an address — with nodeName,
a targetRef to the pod, and hostname when the pod's hostname and subdomain
name this Service — for each service port whose targetPort the pod resolves
(``FindPort``); ready pods go in ``addresses``, others in
``notReadyAddresses`` (all in ``addresses`` with publishNotReadyAddresses).
Headless Services without ports list addresses without ports. Subsets are
repacked as ``RepackSubsets`` does (addresses grouped by the ports they
serve). The Endpoints carry the Service's labels, the
``service.kubernetes.io/headless`` label when headless, and the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation. Services
without a selector — like ``default/kubernetes``, whose Endpoints the API
server keeps — are left alone; a deleted Service's Endpoints are deleted.
"""

from __future__ import annotations

import copy
import logging

import orjson

from kybernetes.api import registry, status
from kybernetes.client import controller, indexer
from kybernetes.controllers import podcontrol, podutil
from kybernetes.controllers import service_endpoints as se
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

ENDPOINTS = registry.lookup("", "v1", "endpoints")
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
Obj = dict


class EndpointsController(se.ServicePodHandlers):
    name = "endpoints"

    def __init__(self, ctx: Context):
        self.ctx, self.client = ctx, ctx.client
        self.queue = ctx.queue("endpoint")
        self.recorder = ctx.recorder("endpoint-controller")
        self.triggers = se.TriggerTimes()
        self.services = ctx.informer("", "v1", "services")
        self.pods = ctx.informer("", "v1", "pods")
        self.endpoints = ctx.informer("", "v1", "endpoints")
        self.services.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._pod, self._pod_updated, self._pod)
        self.endpoints.add_event_handler(None, None, self._enqueue)

    async def run(self) -> None:
        # checkLeftoverEndpoints: Endpoints whose Service is gone (a deletion missed while down).
        for ep in self.endpoints.store.list():
            if indexer.key_of(ep) not in self.services.store and \
                    LEADER_ANNOTATION not in (podcontrol.meta(ep).get("annotations") or {}):
                self._enqueue(ep)
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    async def sync(self, key: str) -> None:
        ns, name = indexer.split_key(key)
        svc = self.services.store.get(key)
        if svc is None:
            self.triggers.forget(key)
            try:
                await self.client.delete(ENDPOINTS, name, ns)
            except status.StatusError as e:
                if e.code != 404:
                    raise
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            return
        pods = [p for p in self.pods.store.by_index(indexer.NAMESPACE_INDEX, ns) if se.selects(svc, p)]
        trigger = self.triggers.compute(key, svc, pods)
        subsets = repack(self._entries(svc, pods))
        current = self.endpoints.store.get(key)
        ep_labels = se.endpoint_labels(svc)
        if current is not None:
            current_labels = dict(podcontrol.meta(current).get("labels") or {})
            svc_labels = dict(podcontrol.meta(svc).get("labels") or {})
            current_labels.pop(se.HEADLESS_LABEL, None)
            annotations = podcontrol.meta(current).get("annotations") or {}
            over = annotations.get(OVER_CAPACITY)
            if (current.get("subsets") or []) == subsets and current_labels == svc_labels and \
                    (over is None) == (_count(subsets) <= MAX_CAPACITY):
                self.triggers.commit(key)
                return
        new = copy.deepcopy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        m = new["metadata"]
        m["labels"] = ep_labels
        annotations = dict(m.get("annotations") or {})
        annotations.pop(OVER_CAPACITY, None)
        if trigger:
            annotations[se.TRIGGER_TIME_ANNOTATION] = trigger
        else:
            annotations.pop(se.TRIGGER_TIME_ANNOTATION, None)
        if _count(subsets) > MAX_CAPACITY:
            annotations[OVER_CAPACITY] = "truncated"
            subsets = _truncate(subsets, MAX_CAPACITY)
        m["annotations"] = annotations
        new["subsets"] = subsets
        if not annotations:
            m.pop("annotations")
        try:
            if current is None:
                await self.client.create(ENDPOINTS, new)
            else:
                await self.client.update(ENDPOINTS, new)
        except status.StatusError as e:
            if podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                return
            if current is None and e.code == 409:
                raise  # created meanwhile: the cache will catch up; retry
            self.recorder.event(svc, "Warning", "FailedToUpdateEndpoint",
                                f"Failed to update endpoint {key}: {e}")
            raise
        self.triggers.commit(key)

    def _entries(self, svc: Obj, pods: list[Obj]) -> list[tuple[Obj, bool, Obj | None]]:
        """(address, ready, port or None) for every pod and port it serves."""
        spec = svc.get("spec") or {}
        tolerate = bool(spec.get("publishNotReadyAddresses"))
        address_type = se.address_types(svc)[0]
        out = []
        for pod in pods:
            if not se.in_endpoints(pod, tolerate):
                continue
            ips = se.pod_ips(pod, address_type)
            if not ips:
                continue
            pm = podcontrol.meta(pod)
            addr: Obj = {"ip": ips[0]}
            if se.should_set_hostname(pod, svc):
                addr["hostname"] = pod["spec"]["hostname"]
            if (pod.get("spec") or {}).get("nodeName"):
                addr["nodeName"] = pod["spec"]["nodeName"]
            addr["targetRef"] = {"kind": "Pod", "namespace": pm.get("namespace"), "name": pm.get("name"),
                                 "uid": pm.get("uid")}
            ready = tolerate or podutil.is_pod_ready(pod)
            ports = spec.get("ports") or []
            if not ports and spec.get("clusterIP") == "None":
                out.append((addr, ready, None))
            for sp in ports:
                try:
                    number = se.find_port(pod, sp)
                except se.PortNotFound as e:
                    log.debug("endpoints %s: pod %s: %s", podcontrol.meta(svc).get("name"), pm.get("name"), e)
                    continue
                port: Obj = {"port": number, "protocol": sp.get("protocol") or "TCP"}
                if sp.get("name"):
                    port["name"] = sp["name"]
                if sp.get("appProtocol"):
                    port["appProtocol"] = sp["appProtocol"]
                out.append((addr, ready, port))
        return out


def _key(obj: Obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def repack(entries: list[tuple[Obj, bool, Obj | None]]) -> list[Obj]:
    """RepackSubsets: ports offered by the same (address, ready) set share a subset."""
    addresses: dict[bytes, Obj] = {}
    by_port: dict[bytes, dict[bytes, bool]] = {}
    ports: dict[bytes, Obj | None] = {}
    for addr, ready, port in entries:
        ak, pk = _key(addr), _key(port)
        addresses[ak], ports[pk] = addr, port
        group = by_port.setdefault(pk, {})
        group[ak] = group.get(ak, False) or ready
    by_set: dict[frozenset, list[bytes]] = {}
    for pk, group in by_port.items():
        by_set.setdefault(frozenset(group.items()), []).append(pk)
    subsets = []
    for members, port_keys in by_set.items():
        subset: Obj = {}
        ready = sorted((addresses[a] for a, r in members if r), key=_addr_order)
        not_ready = sorted((addresses[a] for a, r in members if not r), key=_addr_order)
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        real = sorted((ports[p] for p in port_keys if ports[p] is not None),
                      key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        if real:
            subset["ports"] = real
        subsets.append(subset)
    subsets.sort(key=lambda s: _addr_order((s.get("addresses") or s.get("notReadyAddresses") or [{}])[0]))
    return subsets


def _addr_order(addr: Obj) -> tuple:
    return (addr.get("ip", ""), (addr.get("targetRef") or {}).get("uid", ""))


def _count(subsets: list[Obj]) -> int:
    return sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)


def _truncate(subsets: list[Obj], limit: int) -> list[Obj]:
    """truncateEndpoints: keep ``limit`` addresses, ready ones first, spread over subsets."""
    out, left = [], limit
    for field in ("addresses", "notReadyAddresses"):
        for s in subsets:
            keep = (s.get(field) or [])[:left]
            left -= len(keep)
            s2 = next((o for o in out if o.get("ports") == s.get("ports")), None)
            if s2 is None:
                s2 = {k: v for k, v in s.items() if k == "ports"}
                out.append(s2)
            if keep:
                s2[field] = keep
    return [s for s in out if s.get("addresses") or s.get("notReadyAddresses")]
