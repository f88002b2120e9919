"""PodTopologySpread: DoNotSchedule constraints as a filter, ScheduleAnyway as a score.

Filter (kube-scheduler 1.32 filtering.go): over the nodes that pass the
constraint's node inclusion policies (nodeAffinityPolicy Honor: the pod's
nodeSelector and required affinity; nodeTaintsPolicy Honor: its
tolerations) and carry every constraint's topology key, count the pods in
the pod's namespace, not terminating, matching the selector, per topology
value. A node fails if it lacks a key ("node(s) didn't match pod topology
spread constraints (missing required label)", UnschedulableAndUnresolvable)
or if ``count(value) + self-match - global minimum > maxSkew`` ("node(s)
didn't match pod topology spread constraints"); the minimum is 0 while
fewer than minDomains domains exist.

Score (scoring.go): per constraint ``count * log(domains + 2) + maxSkew - 1``
summed and rounded, then reversed so fewer matching pods score higher;
nodes missing a required key score 0. A pod with no constraints at all gets
the system defaults (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway);
upstream selects "the same workload" with the selectors of the Services,
ReplicaSets, ReplicationControllers and StatefulSets matching the pod; here
the pods sharing its controller owner stand for them.
"""

from __future__ import annotations

import math

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import framework, nodeinfo, podinfo, selectors

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
NOT_MATCH = "node(s) didn't match pod topology spread constraints"


class _OwnerConstraint:
    """A system default constraint: pods with the same controller owner are "the workload"."""

    hard = False
    honor_affinity, honor_taints = True, False

    def __init__(self, key: str, max_skew: int, owner_uid: str):
        self.topology_key, self.max_skew, self.owner_uid = key, max_skew, owner_uid

    def matches(self, pi: podinfo.PodInfo) -> bool:
        return pi.owner_uid == self.owner_uid


def _matches(c, pi: podinfo.PodInfo) -> bool:
    if isinstance(c, _OwnerConstraint):
        return c.matches(pi)
    return c.selector.matches(pi.labels)


def _eligible(c, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> bool:
    """matchNodeInclusionPolicies."""
    if c.honor_affinity:
        if pod.node_selector and any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
            return False
        req = pod.required_node_affinity
        if req is not None and not req.matches(node.name, node.labels):
            return False
    if c.honor_taints:
        for taint in node.taints:
            if not selectors.tolerated(pod.tolerations, taint):
                return False
    return True


def _counts(pod: podinfo.PodInfo, c, cluster: caches.Cache) -> dict[str, int]:
    """Matching pods (same namespace, not terminating) per node name."""
    per_node: dict[str, int] = {}
    for key, pi in cluster.namespace_pods(pod.namespace).items():
        if pi.terminating or key == pod.key or not _matches(c, pi):
            continue
        node = cluster.pods[key][1]
        per_node[node] = per_node.get(node, 0) + 1
    return per_node


class PodTopologySpread:
    name = "PodTopologySpread"
    MISSING = framework.Status(framework.UNRESOLVABLE, (MISSING_LABEL,), name)
    SKEW = framework.Status(framework.UNSCHEDULABLE, (NOT_MATCH,), name)

    def __init__(self, weight: int = 2, default_constraints: bool = True):
        self.weight = weight
        self.default_constraints = default_constraints

    # --- filter ---

    def pre_filter(self, state: framework.State, pod: podinfo.PodInfo, cluster: caches.Cache) -> bool:
        if not pod.hard_spread:
            return False
        keys = [c.topology_key for c in pod.hard_spread]
        per_constraint = []
        for c in pod.hard_spread:
            per_node = _counts(pod, c, cluster)
            domains: dict[str, int] = {}
            for info in cluster.node_list:
                labels = info.labels
                if any(k not in labels for k in keys) or not _eligible(c, pod, info):
                    continue
                value = labels[c.topology_key]
                domains[value] = domains.get(value, 0) + per_node.get(info.name, 0)
            if len(domains) < c.min_domains or not domains:
                minimum = 0
            else:
                minimum = min(domains.values())
            per_constraint.append((domains, minimum))
        state["pts"] = per_constraint
        return True

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        labels = node.labels
        for c, (domains, minimum) in zip(pod.hard_spread, state["pts"]):
            value = labels.get(c.topology_key)
            if value is None:
                return self.MISSING
            if domains.get(value, 0) + c.self_match - minimum > c.max_skew:
                return self.SKEW
        return None

    # --- score ---

    def _soft_constraints(self, pod: podinfo.PodInfo) -> tuple[list, bool]:
        if pod.hard_spread or pod.soft_spread:
            return pod.soft_spread, True
        if self.default_constraints and pod.owner_uid:
            return [_OwnerConstraint(HOSTNAME, 3, pod.owner_uid),
                    _OwnerConstraint(ZONE, 5, pod.owner_uid)], False
        return [], False

    def pre_score(self, state: framework.State, pod: podinfo.PodInfo, nodes: list[nodeinfo.NodeInfo],
                  cluster: caches.Cache) -> bool:
        constraints, require_all = self._soft_constraints(pod)
        if not constraints:
            return False
        keys = [c.topology_key for c in constraints]
        ignored: set[str] = set()
        pair_counts: dict[tuple[str, str], int] = {}
        sizes = [0] * len(constraints)
        for info in nodes:
            if require_all and any(k not in info.labels for k in keys):
                ignored.add(info.name)
                continue
            for i, c in enumerate(constraints):
                value = info.labels.get(c.topology_key)
                if c.topology_key == HOSTNAME or value is None:
                    continue
                if (c.topology_key, value) not in pair_counts:
                    pair_counts[(c.topology_key, value)] = 0
                    sizes[i] += 1
        weights = [math.log((len(nodes) - len(ignored) if c.topology_key == HOSTNAME else sizes[i]) + 2)
                   for i, c in enumerate(constraints)]
        for c in constraints:
            if c.topology_key == HOSTNAME or not any(p[0] == c.topology_key for p in pair_counts):
                continue
            for node_name, n in _counts(pod, c, cluster).items():
                info = cluster.nodes.get(node_name)
                if info is None or info.node is None or not _eligible(c, pod, info):
                    continue
                if require_all and any(k not in info.labels for k in keys):
                    continue
                pair = (c.topology_key, info.labels.get(c.topology_key))
                if pair in pair_counts:
                    pair_counts[pair] += n
        state["pts_score"] = (constraints, ignored, pair_counts, weights)
        state["pts_names"] = [info.name for info in nodes]
        return True

    def score(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> int:
        constraints, ignored, pair_counts, weights = state["pts_score"]
        if node.name in ignored:
            return 0
        total = 0.0
        for c, w in zip(constraints, weights):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == HOSTNAME:
                cnt = sum(1 for pi in node.pods.values() if pi.namespace == pod.namespace
                          and not pi.terminating and pi.key != pod.key and _matches(c, pi))
            else:
                cnt = pair_counts.get((c.topology_key, value), 0)
            total += cnt * w + (c.max_skew - 1)
        return int(_round_half_away(total))

    def normalize(self, state, scores: list[int]) -> None:
        _, ignored, _, _ = state["pts_score"]
        names = state["pts_names"]
        kept = [s for name, s in zip(names, scores) if name not in ignored]
        lo = min(kept) if kept else 0
        hi = max(kept) if kept else 0
        for i, name in enumerate(names):
            if name in ignored:
                scores[i] = 0
            elif hi == 0:
                scores[i] = framework.MAX_NODE_SCORE
            else:
                scores[i] = framework.MAX_NODE_SCORE * (hi + lo - scores[i]) // hi


def _round_half_away(x: float) -> float:
    """Go's math.Round (halves away from zero), not Python's banker's rounding."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)
