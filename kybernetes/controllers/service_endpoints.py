"""What the Endpoints and EndpointSlice controllers share about Services and pods.

``find_port`` is ``podutil.FindPort`` (pkg/api/v1/pod/util.go): a numeric
targetPort is used as is; a named one is looked up among the pod's container
ports (and restartable init containers') with the same protocol, so each pod
may serve a named port on a different number. ``in_endpoints`` is
``ShouldPodBeInEndpoints``: pods with an IP that have not finished (and,
unless asked to include them, are not being deleted). ``TriggerTimes`` is
the TriggerTimeTracker behind the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation: the earliest
change (a pod's Ready condition transition, a Service's creation) not yet
reflected in the Service's endpoints; with none, the annotation is removed.
``ServicePodHandlers`` are the informer handlers both controllers share.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from typing import Any

from kybernetes.client import indexer, informer, workqueue
from kybernetes.controllers import podcontrol, podutil

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS_LABEL = "service.kubernetes.io/headless"
_NEVER = datetime.max.replace(tzinfo=timezone.utc)
Obj = dict[str, Any]


class PortNotFound(LookupError):
    pass


def find_port(pod: Obj, service_port: Obj) -> int:
    target = service_port.get("targetPort")
    if target is None:
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    raise PortNotFound(f"no suitable port for manifest: {podcontrol.meta(pod).get('uid', '')}")


def in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    if podutil.is_pod_terminal(pod):
        return False
    st = pod.get("status") or {}
    if not st.get("podIP") and not st.get("podIPs"):
        return False
    return include_terminating or not podcontrol.is_being_deleted(pod)


def should_set_hostname(pod: Obj, svc: Obj) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == podcontrol.meta(svc).get("name") \
        and podcontrol.meta(pod).get("namespace") == podcontrol.meta(svc).get("namespace")


def address_types(svc: Obj) -> list[str]:
    """getAddressTypesForService: IPv4 and/or IPv6, from ipFamilies or the cluster IP."""
    spec = svc.get("spec") or {}
    families = spec.get("ipFamilies") or []
    if not families:
        ip = spec.get("clusterIP")
        try:
            families = ["IPv6" if ip and ipaddress.ip_address(ip).version == 6 else "IPv4"]
        except ValueError:
            families = ["IPv4"]
    return ["IPv6" if f == "IPv6" else "IPv4" for f in families]


def pod_ips(pod: Obj, address_type: str) -> list[str]:
    st = pod.get("status") or {}
    ips = [p.get("ip") for p in st.get("podIPs") or [] if p.get("ip")] or \
        ([st["podIP"]] if st.get("podIP") else [])
    version = 6 if address_type == "IPv6" else 4
    out = []
    for ip in ips:
        try:
            if ipaddress.ip_address(ip).version == version:
                out.append(ip)
        except ValueError:
            continue
    return out[:1]


def selects(svc: Obj, pod: Obj) -> bool:
    selector = (svc.get("spec") or {}).get("selector")
    if not selector:
        return False
    pod_labels = podcontrol.meta(pod).get("labels") or {}
    return all(pod_labels.get(k) == v for k, v in selector.items())


def services_for(services: indexer.Indexer, pod: Obj) -> list[str]:
    """Keys of the Services in the pod's namespace whose selector matches it."""
    ns = podcontrol.meta(pod).get("namespace", "")
    return [indexer.key_of(s) for s in services.by_index(indexer.NAMESPACE_INDEX, ns) if selects(s, pod)]


class ServicePodHandlers:
    """The informer handlers both controllers use: an object (a Service, or an Endpoints
    named after one) enqueues its key; a pod enqueues the Services selecting it, before or
    after an update (GetServicesToUpdateOnPodChange, simplified; nothing on a resync)."""

    queue: workqueue.WorkQueue
    services: informer.Informer

    def _enqueue(self, obj: Obj) -> None:
        self.queue.add(indexer.key_of(obj))

    def _pod(self, pod: Obj) -> None:
        for key in services_for(self.services.store, pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if podcontrol.meta(old).get("resourceVersion") == podcontrol.meta(new).get("resourceVersion"):
            return
        store = self.services.store
        for key in set(services_for(store, old)) | set(services_for(store, new)):
            self.queue.add(key)


def endpoint_labels(svc: Obj, extra: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(podcontrol.meta(svc).get("labels") or {})
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        out[HEADLESS_LABEL] = ""
    else:
        out.pop(HEADLESS_LABEL, None)
    out.update(extra or {})
    return out


def _after(t: str, before: str | None) -> bool:
    if before is None:
        return True
    a, b = podcontrol.parse_time(t), podcontrol.parse_time(before)
    return a is not None and (b is None or a > b)


class TriggerTimes:
    """Per Service: the trigger time of each pod last synced, and whether the Service was seen."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str, dict[str, str]]] = {}
        self._pending: dict[str, tuple[str, dict[str, str]]] = {}

    def compute(self, key: str, svc: Obj, pods: list[Obj]) -> str | None:
        """The earliest trigger time among changes not yet committed for ``key``;
        ``commit(key)`` once the endpoints reflecting them are written."""
        seen_svc, seen_pods = self._state.get(key, ("", {}))
        svc_uid = podcontrol.meta(svc).get("uid", "")
        triggers = []
        if seen_svc != svc_uid and podcontrol.meta(svc).get("creationTimestamp"):
            triggers.append(podcontrol.meta(svc)["creationTimestamp"])
        now_pods = {}
        for pod in pods:
            t = (podutil.ready_condition(pod) or {}).get("lastTransitionTime")
            if not t:
                continue
            name = podcontrol.meta(pod).get("name", "")
            now_pods[name] = t
            if _after(t, seen_pods.get(name)):
                triggers.append(t)
        self._pending[key] = (svc_uid, now_pods)
        if not triggers:
            return None
        return min(triggers, key=lambda s: podcontrol.parse_time(s) or _NEVER)

    def commit(self, key: str) -> None:
        if key in self._pending:
            self._state[key] = self._pending.pop(key)

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._pending.pop(key, None)
