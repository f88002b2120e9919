"""Desired EndpointSlices for one Service (``staging/src/k8s.io/endpointslice/reconciler.go``).

Pods become endpoints (``pod_to_endpoint``: conditions ready / serving /
terminating, nodeName, zone, hostname, targetRef) grouped by the set of
ports they resolve. For each port set, existing slices keep their endpoints
where possible: changed or removed endpoints mark a slice for update (or
deletion when it empties); new endpoints first fill slices already being
updated, then one unchanged slice with room for all of them, then new
slices of at most ``max_per_slice``. A Service with no endpoints keeps one
empty placeholder slice. ``plan`` returns what to create, update and delete;
writing is the controller's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

from kybernetes.controllers import podcontrol, podutil
from kybernetes.controllers import service_endpoints as se

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
Obj = dict[str, Any]


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def _key(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def endpoint_ports(svc: Obj, pod: Obj) -> list[Obj]:
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        try:
            number = se.find_port(pod, sp)
        except se.PortNotFound:
            continue
        port: Obj = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def pod_to_endpoint(pod: Obj, node: Obj | None, svc: Obj, address_type: str) -> Obj:
    serving = podutil.is_pod_ready(pod)
    terminating = podcontrol.is_being_deleted(pod)
    ready = bool((svc.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    m = podcontrol.meta(pod)
    ep: Obj = {"addresses": se.pod_ips(pod, address_type),
               "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
    if se.should_set_hostname(pod, svc):
        ep["hostname"] = pod["spec"]["hostname"]
    ep["targetRef"] = {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"),
                       "uid": m.get("uid")}
    if (pod.get("spec") or {}).get("nodeName"):
        ep["nodeName"] = pod["spec"]["nodeName"]
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(ZONE_LABEL)
    if zone:
        ep["zone"] = zone
    return ep


def endpoint_key(ep: Obj) -> bytes:
    """EndpointSet's hash: addresses, hostname and the target's namespace/name."""
    ref = ep.get("targetRef") or {}
    return _key([ep.get("addresses"), ep.get("hostname"), ref.get("namespace"), ref.get("name")])


def slice_labels(svc: Obj) -> dict[str, str]:
    own = {k: v for k, v in (podcontrol.meta(svc).get("labels") or {}).items()
           if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    svc_only = {**own, SERVICE_NAME_LABEL: podcontrol.meta(svc)["name"], MANAGED_BY_LABEL: CONTROLLER_NAME}
    return se.endpoint_labels({"metadata": {"labels": svc_only}, "spec": svc.get("spec") or {}})


def new_slice(svc: Obj, ports: list[Obj], address_type: str) -> Obj:
    m = podcontrol.meta(svc)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{m['name'][:62]}-", "namespace": m["namespace"],
                         "labels": slice_labels(svc),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": m["name"],
                                              "uid": m["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": address_type, "endpoints": [], "ports": copy.deepcopy(ports)}


def owned_by(slice_: Obj, svc: Obj) -> bool:
    return any(r.get("uid") == podcontrol.meta(svc).get("uid")
               for r in podcontrol.meta(slice_).get("ownerReferences") or [])


def plan(svc: Obj, desired: dict[bytes, tuple[list[Obj], dict[bytes, Obj]]], existing: list[Obj],
         address_type: str, max_per_slice: int) -> Plan:
    """reconcileByAddressType for one address type; ``desired`` maps a port-set
    key to (ports, endpoints by endpoint key)."""
    out = Plan()
    by_ports: dict[bytes, list[Obj]] = {}
    for s in existing:
        if owned_by(s, svc):
            by_ports.setdefault(_key(sorted(s.get("ports") or [], key=_key)), []).append(s)
        else:
            out.delete.append(s)
    for pk, (ports, endpoints) in desired.items():
        _by_port_mapping(svc, by_ports.get(pk, []), ports, dict(endpoints), address_type, max_per_slice, out)
    for pk, slices in by_ports.items():
        if pk not in desired:
            out.delete.extend(slices)
    if len(existing) == len(out.delete) and not out.create:
        placeholder = new_slice(svc, [], address_type)
        if len(out.delete) == 1 and _is_placeholder(out.delete[0], placeholder):
            out.delete = []
        else:
            out.create.append(placeholder)
    # finalize: turn creations into updates of slices that would be deleted.
    for victim in list(out.delete):
        if not out.create:
            break
        if victim.get("addressType") == address_type and owned_by(victim, svc):
            s = out.create.pop()
            s["metadata"] = {**copy.deepcopy(victim["metadata"]), "labels": s["metadata"]["labels"]}
            s["metadata"].pop("generateName", None)
            out.update.append(s)
            out.delete.remove(victim)
    return out


def _is_placeholder(s: Obj, placeholder: Obj) -> bool:
    return not s.get("endpoints") and not s.get("ports") and \
        (podcontrol.meta(s).get("labels") or {}) == placeholder["metadata"]["labels"]


def _by_port_mapping(svc: Obj, slices: list[Obj], ports: list[Obj], wanted: dict[bytes, Obj],
                     address_type: str, max_per_slice: int, out: Plan) -> None:
    labels_ = slice_labels(svc)
    updating, unchanged = [], []
    for s in slices:
        kept, changed = [], False
        for ep in s.get("endpoints") or []:
            got = wanted.pop(endpoint_key(ep), None)
            if got is None:
                changed = True
                continue
            kept.append(got)
            changed = changed or got != ep
        if (podcontrol.meta(s).get("labels") or {}) != labels_:
            changed = True
        if not changed:
            unchanged.append(s)
        elif not kept:
            out.delete.append(s)
        else:
            s2 = copy.deepcopy(s)
            s2["endpoints"], s2["metadata"]["labels"] = kept, dict(labels_)
            updating.append(s2)
    remaining = list(wanted.values())
    for s in updating:
        room = max_per_slice - len(s["endpoints"])
        if room > 0 and remaining:
            s["endpoints"] += remaining[:room]
            remaining = remaining[room:]
    if remaining:
        fits = [s for s in unchanged if max_per_slice - len(s.get("endpoints") or []) >= len(remaining)]
        if fits:
            best = max(fits, key=lambda s: len(s.get("endpoints") or []))
            s2 = copy.deepcopy(best)
            s2["endpoints"] = list(s2.get("endpoints") or []) + remaining
            updating.append(s2)
            remaining = []
    while remaining:
        s = new_slice(svc, ports, address_type)
        s["endpoints"], remaining = remaining[:max_per_slice], remaining[max_per_slice:]
        out.create.append(s)
    out.update.extend(updating)


def port_key(ports: list[Obj]) -> bytes:
    return _key(sorted(ports, key=_key))
