"""Per-node aggregates the filters and scores read: framework.NodeInfo.

Each ``NodeInfo`` holds the node's parsed allocatable resources, labels and
taints, and running sums over the pods placed on it (bound, or assumed by
this scheduler and not yet seen bound): requested resources, the "non-zero"
requests the scoring plugins use, used host ports, and the pods carrying
(anti-)affinity terms. Adding or removing a pod updates the sums in O(1), so
no decision ever rescans pods.
"""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler import podinfo

FILTER_EFFECTS = ("NoSchedule", "NoExecute")
ALL_IPS = "0.0.0.0"


class NodeInfo:
    __slots__ = ("name", "node", "labels", "taints", "prefer_taints", "unschedulable",
                 "allocatable", "allowed_pods", "requested", "nonzero_cpu", "nonzero_memory",
                 "pods", "ports", "port_any_ip", "affinity_pods", "anti_affinity_pods")

    def __init__(self, name: str):
        self.name = name
        self.node: dict[str, Any] | None = None
        self.labels: dict[str, str] = {}
        self.taints: list[dict] = []          # NoSchedule and NoExecute
        self.prefer_taints: list[dict] = []   # PreferNoSchedule
        self.unschedulable = False
        self.allocatable = podinfo.Resources()
        self.allowed_pods = 0
        self.requested = podinfo.Resources()
        self.nonzero_cpu = 0
        self.nonzero_memory = 0
        self.pods: dict[str, podinfo.PodInfo] = {}
        self.ports: dict[tuple[str, str, int], int] = {}
        self.port_any_ip: dict[tuple[str, int], int] = {}
        self.affinity_pods: dict[str, podinfo.PodInfo] = {}
        self.anti_affinity_pods: dict[str, podinfo.PodInfo] = {}

    def set_node(self, node: dict[str, Any] | None) -> None:
        self.node = node
        if node is None:
            return
        spec = node.get("spec") or {}
        alloc = (node.get("status") or {}).get("allocatable") or {}
        self.labels = (node.get("metadata") or {}).get("labels") or {}
        taints = spec.get("taints") or []
        self.taints = [t for t in taints if t.get("effect") in FILTER_EFFECTS]
        self.prefer_taints = [t for t in taints if t.get("effect") == "PreferNoSchedule"]
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = podinfo.Resources.of(alloc)
        self.allowed_pods = podinfo.whole(alloc["pods"]) if "pods" in alloc else 0

    def add_pod(self, pi: podinfo.PodInfo) -> None:
        self.pods[pi.key] = pi
        self.requested.add(pi.requests)
        self.nonzero_cpu += pi.nonzero_cpu
        self.nonzero_memory += pi.nonzero_memory
        for ip, proto, port in pi.host_ports:
            self.ports[(ip, proto, port)] = self.ports.get((ip, proto, port), 0) + 1
            self.port_any_ip[(proto, port)] = self.port_any_ip.get((proto, port), 0) + 1
        if pi.has_affinity:
            self.affinity_pods[pi.key] = pi
        if pi.required_anti_affinity:
            self.anti_affinity_pods[pi.key] = pi

    def remove_pod(self, pi: podinfo.PodInfo) -> None:
        if self.pods.pop(pi.key, None) is None:
            return
        self.requested.sub(pi.requests)
        self.nonzero_cpu -= pi.nonzero_cpu
        self.nonzero_memory -= pi.nonzero_memory
        for ip, proto, port in pi.host_ports:
            _decrement(self.ports, (ip, proto, port))
            _decrement(self.port_any_ip, (proto, port))
        self.affinity_pods.pop(pi.key, None)
        self.anti_affinity_pods.pop(pi.key, None)

    def port_conflict(self, ip: str, proto: str, port: int) -> bool:
        """HostPortInfo.CheckConflict: 0.0.0.0 clashes with any IP on the same protocol/port."""
        if ip == ALL_IPS:
            return (proto, port) in self.port_any_ip
        return (ALL_IPS, proto, port) in self.ports or (ip, proto, port) in self.ports

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)}, requested={self.requested})"


def _decrement(counts: dict, key: Any) -> None:
    n = counts.get(key, 0) - 1
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)
