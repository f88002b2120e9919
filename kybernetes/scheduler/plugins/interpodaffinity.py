"""InterPodAffinity: required pod (anti-)affinity as a filter, preferred as a score.

PreFilter counts, per topology pair (key, value of the node the pod runs on):
pods matching each of the incoming pod's required affinity terms, pods
matching its anti-affinity terms, and existing pods whose own required
anti-affinity terms match the incoming pod. Filter then checks, in
upstream's order: affinity ("node(s) didn't match pod affinity rules",
UnschedulableAndUnresolvable; the first pod of a self-affine group may go
anywhere with the topology labels), anti-affinity ("node(s) didn't match
pod anti-affinity rules") and existing pods' anti-affinity ("node(s) didn't
satisfy existing pods anti-affinity rules"), both Unschedulable.

Score: per topology pair, + weight for each pod matching a preferred
affinity term, - weight for preferred anti-affinity, and the symmetric terms
of existing pods (their required affinity with hardPodAffinityWeight 1);
normalized min..max to 0..100.

Only pods that can matter are visited: the incoming pod's term namespaces
(every pod when a term has a namespaceSelector) and the pods carrying
affinity terms, which the cache tracks.
"""

from __future__ import annotations

from typing import Iterable

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import framework, nodeinfo, podinfo, selectors

HARD_POD_AFFINITY_WEIGHT = 1


def _candidates(pod_terms: list[selectors.AffinityTerm], cluster: caches.Cache
                ) -> Iterable[tuple[podinfo.PodInfo, str]]:
    if any(t.namespace_selector is not None for t in pod_terms):
        return cluster.pods.values()
    namespaces = set().union(*(t.namespaces for t in pod_terms)) if pod_terms else set()
    return [(pi, cluster.pods[key][1]) for ns in namespaces
            for key, pi in cluster.namespace_pods(ns).items()]


def _labels_of(cluster: caches.Cache, node_name: str) -> dict:
    info = cluster.nodes.get(node_name)
    return info.labels if info is not None and info.node is not None else {}


class InterPodAffinity:
    name = "InterPodAffinity"
    AFFINITY = framework.Status(framework.UNRESOLVABLE, ("node(s) didn't match pod affinity rules",), name)
    ANTI = framework.Status(framework.UNSCHEDULABLE, ("node(s) didn't match pod anti-affinity rules",), name)
    EXISTING = framework.Status(framework.UNSCHEDULABLE,
                                ("node(s) didn't satisfy existing pods anti-affinity rules",), name)

    def __init__(self, namespace_labels: selectors.NamespaceLabels, weight: int = 2):
        self.namespace_labels = namespace_labels
        self.weight = weight

    # --- filter ---

    def pre_filter(self, state: framework.State, pod: podinfo.PodInfo, cluster: caches.Cache) -> bool:
        ns_labels = self.namespace_labels
        existing: dict[tuple[str, str], int] = {}
        for other in cluster.affinity_pods.values():
            if not other.required_anti_affinity or other.key == pod.key:
                continue
            node_labels = _labels_of(cluster, cluster.pods[other.key][1])
            for term in other.required_anti_affinity:
                tk = term.topology_key
                if tk in node_labels and term.matches(pod.namespace, pod.labels, ns_labels):
                    pair = (tk, node_labels[tk])
                    existing[pair] = existing.get(pair, 0) + 1
        if not pod.required_affinity and not pod.required_anti_affinity and not existing:
            return False
        affinity: dict[tuple[str, str], int] = {}
        anti: dict[tuple[str, str], int] = {}
        terms = pod.required_affinity + pod.required_anti_affinity
        for other, node_name in _candidates(terms, cluster):
            if other.key == pod.key:
                continue
            node_labels = _labels_of(cluster, node_name)
            for counts, group in ((affinity, pod.required_affinity), (anti, pod.required_anti_affinity)):
                for term in group:
                    tk = term.topology_key
                    if tk in node_labels and term.matches(other.namespace, other.labels, ns_labels):
                        pair = (tk, node_labels[tk])
                        counts[pair] = counts.get(pair, 0) + 1
        state["ipa"] = (existing, affinity, anti, pod.required_affinity and not affinity and all(
            t.matches(pod.namespace, pod.labels, ns_labels) for t in pod.required_affinity))
        return True

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        existing, affinity, anti, self_affine = state["ipa"]
        node_labels = node.labels
        if pod.required_affinity:
            present = True
            for term in pod.required_affinity:
                value = node_labels.get(term.topology_key)
                if value is None:
                    return self.AFFINITY
                if affinity.get((term.topology_key, value), 0) <= 0:
                    present = False
            if not present and not self_affine:
                return self.AFFINITY
        if anti:
            for term in pod.required_anti_affinity:
                value = node_labels.get(term.topology_key)
                if value is not None and anti.get((term.topology_key, value), 0) > 0:
                    return self.ANTI
        if existing:
            for pair in node_labels.items():
                if existing.get(pair, 0) > 0:
                    return self.EXISTING
        return None

    # --- score ---

    def pre_score(self, state: framework.State, pod: podinfo.PodInfo, nodes, cluster: caches.Cache) -> bool:
        ns_labels = self.namespace_labels
        scores: dict[tuple[str, str], int] = {}

        def add(term: selectors.AffinityTerm, node_labels: dict, weight: int) -> None:
            value = node_labels.get(term.topology_key)
            if value is not None:
                pair = (term.topology_key, value)
                scores[pair] = scores.get(pair, 0) + weight

        mine = pod.preferred_affinity + pod.preferred_anti_affinity
        if mine:
            for other, node_name in _candidates(mine, cluster):
                node_labels = _labels_of(cluster, node_name)
                if not node_labels or other.key == pod.key:
                    continue
                for term in pod.preferred_affinity:
                    if term.matches(other.namespace, other.labels, ns_labels):
                        add(term, node_labels, term.weight)
                for term in pod.preferred_anti_affinity:
                    if term.matches(other.namespace, other.labels, ns_labels):
                        add(term, node_labels, -term.weight)
        for other in cluster.affinity_pods.values():
            node_labels = _labels_of(cluster, cluster.pods[other.key][1])
            if not node_labels or other.key == pod.key:
                continue
            for term in other.required_affinity:
                if term.matches(pod.namespace, pod.labels, ns_labels):
                    add(term, node_labels, HARD_POD_AFFINITY_WEIGHT)
            for term in other.preferred_affinity:
                if term.matches(pod.namespace, pod.labels, ns_labels):
                    add(term, node_labels, term.weight)
            for term in other.preferred_anti_affinity:
                if term.matches(pod.namespace, pod.labels, ns_labels):
                    add(term, node_labels, -term.weight)
        scores = {pair: s for pair, s in scores.items() if s}
        if not scores:
            return False
        state["ipa_scores"] = scores
        return True

    def score(self, state, pod, node: nodeinfo.NodeInfo) -> int:
        scores = state["ipa_scores"]
        return sum(scores.get(pair, 0) for pair in node.labels.items())

    def normalize(self, state, scores: list[int]) -> None:
        if not scores:
            return
        lo, hi = min(scores), max(scores)
        diff = hi - lo
        for i, s in enumerate(scores):
            scores[i] = int(framework.MAX_NODE_SCORE * ((s - lo) / diff)) if diff > 0 else 0
