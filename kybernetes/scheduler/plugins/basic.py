"""The node-local filters that need no cluster-wide state: NodeUnschedulable,
NodeName, TaintToleration (with its PreferNoSchedule score) and NodePorts.

Reasons and status codes are kube-scheduler 1.32's, word for word: they end
up in FailedScheduling events that users and tools read.
"""

from __future__ import annotations

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import framework, nodeinfo, podinfo, selectors

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    """``spec.unschedulable`` nodes, unless the pod tolerates the unschedulable taint."""

    name = "NodeUnschedulable"
    REJECT = framework.Status(framework.UNRESOLVABLE, ("node(s) were unschedulable",), name)

    def pre_filter(self, state: framework.State, pod: podinfo.PodInfo, cluster: caches.Cache) -> bool:
        return not selectors.tolerated(pod.tolerations, UNSCHEDULABLE_TAINT)

    def filter(self, state, pod, node: nodeinfo.NodeInfo) -> framework.Status | None:
        return self.REJECT if node.unschedulable else None


class NodeName:
    """A pod that names its node fits only there."""

    name = "NodeName"
    REJECT = framework.Status(framework.UNRESOLVABLE,
                              ("node(s) didn't match the requested node name",), name)

    def pre_filter(self, state, pod: podinfo.PodInfo, cluster) -> bool:
        return bool(pod.node_name)

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        return None if node.name == pod.node_name else self.REJECT


class TaintToleration:
    """Filter: the first NoSchedule/NoExecute taint the pod does not tolerate rejects the node.
    Score: fewer untolerated PreferNoSchedule taints is better (reverse-normalized)."""

    name = "TaintToleration"

    def __init__(self, weight: int = 3):
        self.weight = weight

    def pre_filter(self, state, pod, cluster) -> bool:
        return True

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        if not node.taints:
            return None
        tolerations = pod.tolerations
        for taint in node.taints:
            if not selectors.tolerated(tolerations, taint):
                reason = f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
                return framework.Status(framework.UNRESOLVABLE, (reason,), self.name)
        return None

    def pre_score(self, state: framework.State, pod: podinfo.PodInfo, nodes, cluster) -> bool:
        if not any(n.prefer_taints for n in nodes):
            return False  # every node would score the same
        state["prefer_tolerations"] = [t for t in pod.tolerations
                                       if t.get("effect") in (None, "", "PreferNoSchedule")]
        return True

    def score(self, state, pod, node: nodeinfo.NodeInfo) -> int:
        tolerations = state["prefer_tolerations"]
        return sum(1 for t in node.prefer_taints if not selectors.tolerated(tolerations, t))

    def normalize(self, state, scores: list[int]) -> None:
        framework.default_normalize(scores, reverse=True)


class NodePorts:
    """A host port (protocol, IP) already taken on the node rejects it."""

    name = "NodePorts"
    REJECT = framework.Status(framework.UNSCHEDULABLE,
                              ("node(s) didn't have free ports for the requested pod ports",), name)

    def pre_filter(self, state, pod: podinfo.PodInfo, cluster) -> bool:
        return bool(pod.host_ports)

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        if not node.ports:
            return None
        for ip, proto, port in pod.host_ports:
            if node.port_conflict(ip, proto, port):
                return self.REJECT
        return None
