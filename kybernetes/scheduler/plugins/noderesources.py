"""NodeResourcesFit (filter, and its default LeastAllocated score) and
NodeResourcesBalancedAllocation, as kube-scheduler 1.32's noderesources.

Fit: the node's allocatable minus the requests of the pods placed on it
(assumed ones included) must cover the pod's requests: pod count, cpu,
memory, ephemeral-storage and every extended/scalar resource the pod asks
for; each shortfall is a reason ("Too many pods", "Insufficient cpu", ...),
all of them Unschedulable (preemption could free room).

LeastAllocated scores ``(allocatable - requested) * 100 / allocatable`` for
cpu and memory (weight 1 each, averaged), counting requests as "non-zero"
(100m / 200Mi for containers without requests). BalancedAllocation scores
``(1 - std) * 100`` over the requested/allocatable fractions of cpu and
memory (real requests); it skips best-effort pods (kubernetes#129138).
"""

from __future__ import annotations

from kybernetes.scheduler import framework, nodeinfo, podinfo

MAX = framework.MAX_NODE_SCORE


class NodeResourcesFit:
    name = "NodeResourcesFit"
    TOO_MANY = "Too many pods"

    def __init__(self, weight: int = 1):
        self.weight = weight

    def pre_filter(self, state, pod, cluster) -> bool:
        return True

    def filter(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> framework.Status | None:
        reasons = None
        if len(node.pods) + 1 > node.allowed_pods:
            reasons = [self.TOO_MANY]
        want = pod.requests
        alloc, used = node.allocatable, node.requested
        if want.cpu > 0 and want.cpu > alloc.cpu - used.cpu:
            reasons = (reasons or []) + ["Insufficient cpu"]
        if want.memory > 0 and want.memory > alloc.memory - used.memory:
            reasons = (reasons or []) + ["Insufficient memory"]
        if want.ephemeral > 0 and want.ephemeral > alloc.ephemeral - used.ephemeral:
            reasons = (reasons or []) + ["Insufficient ephemeral-storage"]
        if want.scalars:
            for name, q in want.scalars.items():
                if q > 0 and alloc.scalars.get(name, 0) < q + used.scalars.get(name, 0):
                    reasons = (reasons or []) + [f"Insufficient {name}"]
        if reasons is None:
            return None
        return framework.Status(framework.UNSCHEDULABLE, tuple(reasons), self.name)

    # LeastAllocated, the default scoring strategy.

    def pre_score(self, state, pod, nodes, cluster) -> bool:
        return True

    def score(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> int:
        total = weights = 0
        cap = node.allocatable.cpu
        if cap:
            req = node.nonzero_cpu + pod.nonzero_cpu
            total += (cap - req) * MAX // cap if req <= cap else 0
            weights += 1
        cap = node.allocatable.memory
        if cap:
            req = node.nonzero_memory + pod.nonzero_memory
            total += (cap - req) * MAX // cap if req <= cap else 0
            weights += 1
        return total // weights if weights else 0

    def normalize(self, state, scores: list[int]) -> None:
        return None


class NodeResourcesBalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, weight: int = 1):
        self.weight = weight

    def pre_score(self, state, pod: podinfo.PodInfo, nodes, cluster) -> bool:
        return bool(pod.requests.cpu or pod.requests.memory)

    def score(self, state, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> int:
        cpu_cap, mem_cap = node.allocatable.cpu, node.allocatable.memory
        if not cpu_cap or not mem_cap:
            return MAX  # one fraction (or none): the standard deviation is 0
        cpu = (node.requested.cpu + pod.requests.cpu) / cpu_cap
        mem = (node.requested.memory + pod.requests.memory) / mem_cap
        std = abs((cpu if cpu < 1.0 else 1.0) - (mem if mem < 1.0 else 1.0)) / 2
        return int((1 - std) * MAX)

    def normalize(self, state, scores: list[int]) -> None:
        return None
