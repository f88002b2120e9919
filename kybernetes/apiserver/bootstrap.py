"""Objects the API server itself owns and keeps in place.

The four system namespaces, the ``kubernetes`` Service in ``default`` at the
first service IP, its Endpoints and EndpointSlice pointing at this server
(moved when its advertised address or port changed), and the two system priority classes. Created on start when missing and
checked again every few seconds, as kube-apiserver's bootstrap controllers do.
"""

from __future__ import annotations

import asyncio
import logging

from kybernetes.api import defaulting, registry, status
from kybernetes.apiserver import preparing, strategies

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
INTERVAL = 10.0


async def _create(state, group: str, version: str, plural: str, obj: dict) -> None:
    r = registry.lookup(group, version, plural)
    store = state.stores[(group, version, plural)]
    meta = obj["metadata"]
    try:
        await store.read(meta.get("namespace", ""), meta["name"])
        return
    except status.StatusError as e:
        if e.reason != "NotFound":
            raise
    obj.setdefault("apiVersion", r.api_version)
    obj.setdefault("kind", r.kind)
    defaulting.default(r.group, r.kind, obj)
    preparing.prepare_for_create(r.group, r.kind, obj, timestamp=preparing.now())
    strategies.prepare_create(r.group, r.kind, obj)
    try:
        await store.create(obj)
    except status.StatusError as e:
        if e.reason != "AlreadyExists":
            raise


async def ensure(state) -> None:
    for name in SYSTEM_NAMESPACES:
        await _create(state, "", "v1", "namespaces", {"metadata": {"name": name}})
    for name, value in (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)):
        await _create(state, "scheduling.k8s.io", "v1", "priorityclasses", {
            "metadata": {"name": name}, "value": value,
            "description": "Used for system critical pods that must not be moved from their current node."
            if name == "system-node-critical" else
            "Used for system critical pods that must run in the cluster, but can be moved to another "
            "node if necessary."})
    await _kubernetes_service(state)


async def _kubernetes_service(state) -> None:
    settings = state.settings
    svc_store = state.stores[("", "v1", "services")]
    try:
        await svc_store.read("default", "kubernetes")
    except status.StatusError as e:
        if e.reason != "NotFound":
            raise
        ip = state.services.ips.first()
        try:
            await state.services.ips.allocate("default/kubernetes", ip)
        except Exception:  # already held from an earlier start
            pass
        await _create(state, "", "v1", "services", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": settings.port}]},
        })
    address, port = settings.advertise_address, settings.port
    await _create(state, "", "v1", "endpoints", {
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })
    await _create(state, "discovery.k8s.io", "v1", "endpointslices", {
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes",
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
    await _point_at(state, address, port)


async def _point_at(state, address: str, port: int) -> None:
    """An Endpoints or EndpointSlice left by an earlier start at another
    address or port is moved to this server's (kube-apiserver's endpoint
    reconciler, with one API server)."""
    subsets = [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]

    async def endpoints(current: dict | None) -> dict | None:
        if current is None or [{k: s.get(k) for k in ("addresses", "ports")}
                               for s in current.get("subsets") or []] == subsets:
            return current
        return {**current, "subsets": subsets}

    async def slice_(current: dict | None) -> dict | None:
        if current is None or ([e.get("addresses") for e in current.get("endpoints") or []] == [[address]]
                               and [p.get("port") for p in current.get("ports") or []] == [port]):
            return current
        return {**current, "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}

    for (group, plural), update in ((("", "endpoints"), endpoints),
                                    (("discovery.k8s.io", "endpointslices"), slice_)):
        try:
            await state.stores[(group, "v1", plural)].guaranteed_update("default", "kubernetes", update)
        except status.StatusError as e:
            if e.reason != "NotFound":
                raise


async def keep(state) -> None:
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            await ensure(state)
        except Exception as e:  # logged, retried next round
            log.warning("bootstrap objects: %s", e)
