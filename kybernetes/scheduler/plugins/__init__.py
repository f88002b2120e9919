"""The in-tree plugins of kube-scheduler's default profile that apply without volumes.

``default_framework`` assembles them in upstream's order (filters:
NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
NodeResourcesFit, PodTopologySpread, InterPodAffinity) with upstream's
score weights (TaintToleration 3, NodeAffinity 2, NodeResourcesFit 1,
PodTopologySpread 2, InterPodAffinity 2, NodeResourcesBalancedAllocation 1).
Volume plugins and ImageLocality have nothing to act on here and are left
out.
"""

from __future__ import annotations

import random

from kybernetes.scheduler import framework, selectors
from kybernetes.scheduler.plugins import (basic, interpodaffinity, nodeaffinity, noderesources,
                                          podtopologyspread)


def default_framework(namespace_labels: selectors.NamespaceLabels, *,
                      percentage_of_nodes_to_score: int = 0,
                      rng: random.Random | None = None) -> framework.Framework:
    taints = basic.TaintToleration(weight=3)
    affinity = nodeaffinity.NodeAffinity(weight=2)
    fit = noderesources.NodeResourcesFit(weight=1)
    spread = podtopologyspread.PodTopologySpread(weight=2)
    pod_affinity = interpodaffinity.InterPodAffinity(namespace_labels, weight=2)
    filters = [basic.NodeUnschedulable(), basic.NodeName(), taints, affinity, basic.NodePorts(),
               fit, spread, pod_affinity]
    scorers = [taints, affinity, fit, spread, pod_affinity,
               noderesources.NodeResourcesBalancedAllocation(weight=1)]
    return framework.Framework(filters, scorers, rng=rng,
                               percentage_of_nodes_to_score=percentage_of_nodes_to_score)
