"""NodeAffinity: ``spec.nodeSelector`` and required node affinity as a filter,
preferred node affinity as a score (sum of the weights of matching terms,
normalized by the best node)."""

from __future__ import annotations

from kybernetes.api import labels
from kybernetes.scheduler import framework, nodeinfo, podinfo


class NodeAffinity:
    name = "NodeAffinity"
    REJECT = framework.Status(framework.UNRESOLVABLE,
                              ("node(s) didn't match Pod's node affinity/selector",), name)

    def __init__(self, weight: int = 2):
        self.weight = weight

    def pre_filter(self, state, pod: podinfo.PodInfo, cluster) -> bool:
        return bool(pod.node_selector) or pod.required_node_affinity is not None

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        if pod.node_selector and not labels.matches_set(pod.node_selector, node.labels):
            return self.REJECT
        required = pod.required_node_affinity
        if required is not None and not required.matches(node.name, node.labels):
            return self.REJECT
        return None

    def pre_score(self, state, pod: podinfo.PodInfo, nodes, cluster) -> bool:
        return bool(pod.preferred_node_affinity)

    def score(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> int:
        total = 0
        for weight, term in pod.preferred_node_affinity:
            if weight and term.matches(node.name, node.labels):
                total += weight
        return total

    def normalize(self, state, scores: list[int]) -> None:
        framework.default_normalize(scores)
