"""The EndpointSlice controller: discovery.k8s.io/v1 EndpointSlices for each Service.

As ``pkg/controller/endpointslice``: for a Service with a selector (not
ExternalName) the selected pods with an IP that have not finished — being
deleted included, with ``terminating: true`` and ``ready: false`` unless
publishNotReadyAddresses — become endpoints in slices labelled
``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``,
named ``<service>-<random>``, owned by the Service (the garbage collector
removes them with it), at most 100 endpoints each
(``endpointslice_reconciling`` decides the changes). Pods on a node the
cache does not know are skipped and the Service retried, as upstream.

Because the informer may lag behind the controller's own writes, a tracker
remembers the resourceVersion of every slice written (or that it was
deleted); a sync that would act on an older view fails and is retried
(upstream's EndpointSliceTracker), so slices are never duplicated.
"""

from __future__ import annotations

import logging

from kybernetes.api import registry, status
from kybernetes.client import controller, indexer
from kybernetes.controllers import endpointslice_reconciling as er
from kybernetes.controllers import podcontrol
from kybernetes.controllers import service_endpoints as se
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

ENDPOINT_SLICES = registry.lookup("discovery.k8s.io", "v1", "endpointslices")
STALE_RETRY = 0.1
Obj = dict


class StaleInformerCache(Exception):
    """The cache does not yet show this controller's last writes."""


class EndpointSliceController(se.ServicePodHandlers):
    name = "endpointslice"
    max_endpoints_per_slice = 100

    def __init__(self, ctx: Context):
        self.ctx, self.client = ctx, ctx.client
        self.queue = ctx.queue("endpoint_slice")
        self.recorder = ctx.recorder("endpoint-slice-controller")
        self.triggers = se.TriggerTimes()
        self.written: dict[str, dict[str, int | None]] = {}  # service key -> slice -> RV (None: deleted)
        self.services = ctx.informer("", "v1", "services")
        self.pods = ctx.informer("", "v1", "pods")
        self.nodes = ctx.informer("", "v1", "nodes")
        self.slices = ctx.informer("discovery.k8s.io", "v1", "endpointslices")
        self.services.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._pod, self._pod_updated, self._pod)
        self.nodes.add_event_handler(self._node, None, self._node)
        self.slices.add_event_handler(self._slice, lambda old, new: self._slice(new), self._slice_deleted)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    # --- handlers ---

    def _node(self, node: Obj) -> None:
        name = podcontrol.meta(node).get("name")
        for pod in self.pods.store.list():
            if (pod.get("spec") or {}).get("nodeName") == name:
                self._pod(pod)

    def _slice(self, slice_: Obj) -> None:
        m = podcontrol.meta(slice_)
        lbls = m.get("labels") or {}
        if lbls.get(er.MANAGED_BY_LABEL) == er.CONTROLLER_NAME and lbls.get(er.SERVICE_NAME_LABEL):
            self.queue.add(f"{m.get('namespace')}/{lbls[er.SERVICE_NAME_LABEL]}")

    def _slice_deleted(self, slice_: Obj) -> None:
        m = podcontrol.meta(slice_)
        service = (m.get("labels") or {}).get(er.SERVICE_NAME_LABEL)
        if service:
            # Deleted, by us or anyone: no longer something to wait for.
            self.written.get(f"{m.get('namespace')}/{service}", {}).pop(m.get("name"), None)
        self._slice(slice_)

    # --- sync ---

    async def sync(self, key: str) -> None:
        ns, name = indexer.split_key(key)
        svc = self.services.store.get(key)
        if svc is None:
            self.triggers.forget(key)
            self.written.pop(key, None)
            return  # the garbage collector deletes the slices the Service owned
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            return
        existing = [s for s in self.slices.store.by_index(indexer.NAMESPACE_INDEX, ns)
                    if (podcontrol.meta(s).get("labels") or {}).get(er.SERVICE_NAME_LABEL) == name
                    and (podcontrol.meta(s).get("labels") or {}).get(er.MANAGED_BY_LABEL)
                    == er.CONTROLLER_NAME]
        try:
            self._check_fresh(key, existing)
        except StaleInformerCache as e:
            log.debug("endpointslice %s: %s; retrying", key, e)
            self.queue.add_after(key, STALE_RETRY)
            return
        pods = [p for p in self.pods.store.by_index(indexer.NAMESPACE_INDEX, ns) if se.selects(svc, p)]
        trigger = self.triggers.compute(key, svc, pods)
        errors: list[Exception] = []
        supported = se.address_types(svc)
        for s in existing:
            if s.get("addressType") not in supported:
                await self._delete(key, s)
        for address_type in supported:
            desired, skipped = self._desired(svc, pods, address_type)
            if skipped:
                errors.append(RuntimeError(f"skipping pods {', '.join(skipped)} for Service {key}: "
                                           "node not found"))
            mine = [s for s in existing if s.get("addressType") == address_type]
            p = er.plan(svc, desired, mine, address_type, self.max_endpoints_per_slice)
            await self._finalize(key, svc, p, trigger)
        self.triggers.commit(key)
        if errors:
            raise errors[0]

    def _desired(self, svc: Obj, pods: list[Obj], address_type: str) -> tuple[dict, list[str]]:
        desired: dict[bytes, tuple[list[Obj], dict[bytes, Obj]]] = {}
        skipped = []
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        for pod in pods:
            if not se.in_endpoints(pod, True):
                continue
            ports = er.endpoint_ports(svc, pod)
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = self.nodes.store.get(node_name) if node_name else None
            if node is None and not publish:
                skipped.append(podcontrol.meta(pod).get("name", ""))
                continue
            ep = er.pod_to_endpoint(pod, node, svc, address_type)
            if ep["addresses"]:
                entry = desired.setdefault(er.port_key(ports), (ports, {}))
                entry[1][er.endpoint_key(ep)] = ep
        return desired, skipped

    def _check_fresh(self, key: str, existing: list[Obj]) -> None:
        written = self.written.get(key)
        if not written:
            return
        cached = {podcontrol.meta(s)["name"]: int(podcontrol.meta(s).get("resourceVersion") or 0)
                  for s in existing}
        for name, rv in list(written.items()):
            if rv is None:
                if name in cached:
                    raise StaleInformerCache(f"EndpointSlice {name} still cached after its deletion")
            elif cached.get(name, 0) < rv:
                raise StaleInformerCache(f"EndpointSlice {name} not yet cached at resourceVersion {rv}")
            del written[name]

    async def _finalize(self, key: str, svc: Obj, p: er.Plan, trigger: str | None) -> None:
        written = self.written.setdefault(key, {})
        ns = podcontrol.meta(svc)["namespace"]

        def annotate(s: Obj) -> None:
            if trigger:
                s["metadata"].setdefault("annotations", {})[se.TRIGGER_TIME_ANNOTATION] = trigger
            elif s["metadata"].get("annotations"):
                s["metadata"]["annotations"].pop(se.TRIGGER_TIME_ANNOTATION, None)

        if not podcontrol.meta(svc).get("deletionTimestamp"):
            for s in p.create:
                annotate(s)
                try:
                    created = await self.client.create(ENDPOINT_SLICES, s, ns)
                except status.StatusError as e:
                    if podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                        return
                    raise
                written[podcontrol.meta(created)["name"]] = int(podcontrol.meta(created)["resourceVersion"])
        for s in p.update:
            annotate(s)
            updated = await self.client.update(ENDPOINT_SLICES, s)
            written[podcontrol.meta(updated)["name"]] = int(podcontrol.meta(updated)["resourceVersion"])
        for s in p.delete:
            await self._delete(key, s)

    async def _delete(self, key: str, s: Obj) -> None:
        m = podcontrol.meta(s)
        try:
            await self.client.delete(ENDPOINT_SLICES, m["name"], m["namespace"])
        except status.StatusError as e:
            if e.code != 404:
                raise
        self.written.setdefault(key, {})[m["name"]] = None
