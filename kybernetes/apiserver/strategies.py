"""What individual kinds add to the generic create, update and delete
(k8s RESTCreateStrategy and friends): a pod starts Pending with its QoS
class, a namespace Active with the ``kubernetes`` finalizer, a job gets
its controller-uid selector, a Service its ClusterIP and NodePorts.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from kybernetes.api import quantities, status
from kybernetes.apiserver.allocation import AllocationError, IPAllocator, PortAllocator

Cleanup = Callable[[], Awaitable[None]]


def _noop() -> Cleanup:
    async def cleanup() -> None:
        return None
    return cleanup


def qos_class(pod: dict) -> str:
    """Guaranteed, Burstable or BestEffort, as upstream's qos.GetPodQOS."""
    spec = pod.get("spec", {})
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: dict[str, object] = {}
    limits: dict[str, object] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        for k, v in req.items():
            if _nonzero(v):
                requests[k] = v
        for k, v in lim.items():
            if _nonzero(v):
                limits[k] = v
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
        for k in ("cpu", "memory"):
            if k in req and k in lim and _cmp(req[k], lim[k]) != 0:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _nonzero(value) -> bool:
    try:
        return quantities.parse(value).sign() != 0
    except (ValueError, AttributeError, TypeError):
        return True


def _cmp(a, b) -> int:
    try:
        qa, qb = quantities.parse(a), quantities.parse(b)
        return 0 if qa == qb else (-1 if qa < qb else 1)
    except (ValueError, AttributeError, TypeError):
        return 0 if a == b else 1


def prepare_create(group: str, kind: str, obj: dict) -> None:
    """Synchronous per-kind changes before validation."""
    if group == "" and kind == "Pod":
        status_ = {"phase": "Pending", "qosClass": qos_class(obj)}
        obj["status"] = status_
    elif group == "" and kind == "Namespace":
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        spec["finalizers"] = ["kubernetes"]
    elif group == "" and kind == "PersistentVolumeClaim":
        obj["status"] = {"phase": "Pending"}
    elif group == "" and kind == "PersistentVolume":
        obj["status"] = {"phase": "Pending"}
    elif group == "" and kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    elif group == "batch" and kind == "Job":
        _job_selector(obj)


def prepare_update(group: str, kind: str, new: dict, old: dict) -> None:
    """Synchronous per-kind changes to an update before validation."""
    if group == "" and kind == "Service":
        drop_type_dependent_fields(new, old)


_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def drop_type_dependent_fields(new: dict, old: dict) -> None:
    """A Service changing type loses the fields the old type needed and the
    server filled in, unless the user changed them (k8s service strategy's
    dropTypeDependentFields): NodePort → ClusterIP drops the node ports, a
    switch to ExternalName the cluster IPs, and so on."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    kind, old_kind = spec.get("type", "ClusterIP"), old_spec.get("type", "ClusterIP")
    if old_kind != "ExternalName" and kind == "ExternalName":
        same_ips = (spec.get("clusterIP"), spec.get("clusterIPs")) == (old_spec.get("clusterIP"),
                                                                       old_spec.get("clusterIPs"))
        if same_ips:
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("ipFamilies") == old_spec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    if old_kind in _NODE_PORT_TYPES and kind not in _NODE_PORT_TYPES:
        held = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")}
        ports = spec.get("ports") or []
        if all(not p.get("nodePort") or p["nodePort"] in held for p in ports):
            for p in ports:
                p.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if old_kind == "LoadBalancer" and kind != "LoadBalancer":
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
        if spec.get("allocateLoadBalancerNodePorts") == old_spec.get("allocateLoadBalancerNodePorts"):
            spec.pop("allocateLoadBalancerNodePorts", None)
        if spec.get("loadBalancerClass") == old_spec.get("loadBalancerClass"):
            spec.pop("loadBalancerClass", None)


def _job_selector(job: dict) -> None:
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    meta = job["metadata"]
    uid, name = meta["uid"], meta["name"]
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = dict(template_meta.get("labels") or {})
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})
    template_meta["labels"] = labels
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


class ServiceAddresses:
    """ClusterIPs and NodePorts of Services, allocated on create and update,
    released on delete."""

    def __init__(self, ips: IPAllocator, ports: PortAllocator):
        self.ips = ips
        self.ports = ports

    @staticmethod
    def _invalid(name: str, field: str, value: str, detail: str) -> status.StatusError:
        cause = {"reason": "FieldValueInvalid", "message": f"Invalid value: {value}: {detail}",
                 "field": field}
        return status.invalid("Service", "", name, [cause],
                              f'Service "{name}" is invalid: {field}: Invalid value: {value}: {detail}')

    async def allocate(self, svc: dict, old: dict | None = None, *, dry_run: bool = False) -> Cleanup:
        """Fill in clusterIP(s) and nodePorts; the returned cleanup undoes
        what this call allocated (for a write that then fails). A dry run
        fills them in without holding them."""
        name = svc["metadata"]["name"]
        owner = f"{svc['metadata'].get('namespace', '')}/{name}"
        spec = svc.setdefault("spec", {})
        old_spec = (old or {}).get("spec", {})
        kind = spec.get("type", "ClusterIP")
        allocated_ips: list[str] = []
        allocated_ports: list[int] = []

        async def cleanup() -> None:
            for ip in allocated_ips:
                await self.ips.release(ip)
            for port in allocated_ports:
                await self.ports.release(port)

        try:
            if kind == "ExternalName":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            else:
                ip = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if not ip and old_spec.get("clusterIP"):
                    ip = old_spec["clusterIP"]  # upstream patchAllocatedValues
                if ip == "None":
                    spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
                elif ip and ip == old_spec.get("clusterIP"):
                    spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
                else:
                    try:
                        got = await self.ips.allocate(owner, ip or None, dry_run=dry_run)
                    except AllocationError as e:
                        raise self._invalid(name, "spec.clusterIPs", f'[]string{{"{ip}"}}', str(e)) from None
                    if not dry_run:
                        allocated_ips.append(got)
                    spec["clusterIP"], spec["clusterIPs"] = got, [got]
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
            if kind in ("NodePort", "LoadBalancer"):
                spec.setdefault("externalTrafficPolicy", "Cluster")
                if kind == "LoadBalancer":
                    spec.setdefault("allocateLoadBalancerNodePorts", True)
                old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                             for p in old_spec.get("ports") or [] if p.get("nodePort")}
                held = set(old_ports.values())
                for i, port in enumerate(spec.get("ports") or []):
                    wanted = port.get("nodePort")
                    previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                    if not wanted and previous:
                        port["nodePort"] = previous
                        continue
                    if wanted and wanted in held:
                        continue
                    try:
                        got_port = await self.ports.allocate(owner, wanted or None, dry_run=dry_run)
                    except AllocationError as e:
                        raise self._invalid(name, f"spec.ports[{i}].nodePort", str(wanted), str(e)) from None
                    if not dry_run:
                        allocated_ports.append(got_port)
                    port["nodePort"] = got_port
            else:
                for port in spec.get("ports") or []:
                    port.pop("nodePort", None)
                spec.pop("externalTrafficPolicy", None)
        except BaseException:
            await cleanup()
            raise
        return cleanup

    async def release_replaced(self, new: dict, old: dict) -> None:
        """After an update: give back what the old object held and the new does not."""
        new_spec, old_spec = new.get("spec", {}), old.get("spec", {})
        old_ip = old_spec.get("clusterIP")
        if old_ip and old_ip != "None" and old_ip != new_spec.get("clusterIP"):
            await self.ips.release(old_ip)
        kept = {p.get("nodePort") for p in new_spec.get("ports") or []}
        for p in old_spec.get("ports") or []:
            if p.get("nodePort") and p["nodePort"] not in kept:
                await self.ports.release(p["nodePort"])

    async def release(self, svc: dict) -> None:
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            await self.ips.release(ip)
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                await self.ports.release(p["nodePort"])


def noop_cleanup() -> Cleanup:
    return _noop()
