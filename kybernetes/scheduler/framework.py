"""The scheduling framework: plugin protocols, one scheduling decision, and its diagnosis.

As kube-scheduler's framework runtime and schedule_one.go for one profile:

1. PreFilter: each filter plugin looks at the pod once and says whether it
   has anything to check (a plugin with nothing to check is skipped, as
   upstream's PreFilter ``Skip``).
2. Filter: nodes are visited round-robin from where the last decision
   stopped; a node fails on the first plugin that rejects it; the search
   stops once ``num_feasible_nodes_to_find`` nodes passed
   (percentageOfNodesToScore, adaptive: 50% minus 1% per 125 nodes, at least
   5% and at least 100 nodes).
3. Score: each score plugin (skipped if PreScore says it has nothing to say)
   scores every feasible node, normalizes to 0-100, and is weighted; the
   node with the highest total wins, ties broken at random (reservoir
   sampling, as selectHost).

When nothing fits, ``Result.statuses`` holds each node's rejection; the
``diagnosis`` module turns it into kube-scheduler's FailedScheduling text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import nodeinfo, podinfo

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE = 50

UNSCHEDULABLE = "Unschedulable"
UNRESOLVABLE = "UnschedulableAndUnresolvable"


class Status:
    """A plugin's rejection of a node: code, reasons (the message parts) and plugin."""

    __slots__ = ("code", "reasons", "plugin")

    def __init__(self, code: str, reasons: tuple[str, ...], plugin: str = ""):
        self.code, self.reasons, self.plugin = code, reasons, plugin

    @property
    def resolvable(self) -> bool:
        """Could preemption (removing pods) possibly help?"""
        return self.code == UNSCHEDULABLE

    def __repr__(self) -> str:
        return f"Status({self.code}, {self.reasons}, {self.plugin})"


State = dict


class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: State, pod: podinfo.PodInfo, cluster: caches.Cache) -> bool:
        """Precompute into ``state``; False when this plugin has nothing to check."""

    def filter(self, state: State, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> Status | None:
        """None if ``pod`` may go on ``node``."""


class ScorePlugin(Protocol):
    name: str
    weight: int

    def pre_score(self, state: State, pod: podinfo.PodInfo, nodes: list[nodeinfo.NodeInfo],
                  cluster: caches.Cache) -> bool:
        """Precompute into ``state``; False when this plugin would not tell nodes apart."""

    def score(self, state: State, pod: podinfo.PodInfo, node: nodeinfo.NodeInfo) -> int: ...

    def normalize(self, state: State, scores: list[int]) -> None:
        """Bring ``scores`` (one per node, in order) to 0..100 in place."""


class NoNodesAvailable(Exception):
    """ErrNoNodesAvailable."""

    def __str__(self) -> str:
        return "no nodes available to schedule pods"


@dataclass
class Result:
    node: str | None
    evaluated: int = 0
    feasible: int = 0
    statuses: dict[str, Status] = field(default_factory=dict)
    num_all_nodes: int = 0


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """schedule_one.go numFeasibleNodesToFind (percentage 0 = adaptive)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE - num_all_nodes // 125
        percentage = max(percentage, MIN_FEASIBLE_NODES_PERCENTAGE)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


class Framework:
    def __init__(self, filters: list[FilterPlugin], scorers: list[ScorePlugin], *,
                 percentage_of_nodes_to_score: int = 0, rng: random.Random | None = None):
        self.filters = filters
        self.scorers = scorers
        self.percentage = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.next_start = 0

    def run_filters(self, pod: podinfo.PodInfo, cluster: caches.Cache,
                    nodes: list[nodeinfo.NodeInfo], to_find: int, start: int = 0
                    ) -> tuple[list[nodeinfo.NodeInfo], dict[str, Status], State, int]:
        """Visit ``nodes`` from ``start`` until ``to_find`` pass: (feasible, statuses, state, visited)."""
        state: State = {}
        checks = [f.filter for f in self.filters if f.pre_filter(state, pod, cluster)]
        feasible: list[nodeinfo.NodeInfo] = []
        statuses: dict[str, Status] = {}
        n = len(nodes)
        visited = 0
        for i in range(n):
            info = nodes[(start + i) % n]
            visited += 1
            for check in checks:
                st = check(state, pod, info)
                if st is not None:
                    statuses[info.name] = st
                    break
            else:
                feasible.append(info)
                if len(feasible) >= to_find:
                    break
        return feasible, statuses, state, visited

    def schedule(self, pod: podinfo.PodInfo, cluster: caches.Cache) -> Result:
        nodes = cluster.node_list
        n = len(nodes)
        if n == 0:
            raise NoNodesAvailable()
        to_find = num_feasible_nodes_to_find(n, self.percentage)
        start = self.next_start % n
        feasible, statuses, state, visited = self.run_filters(pod, cluster, nodes, to_find, start)
        self.next_start = (start + visited) % n
        result = Result(None, visited, len(feasible), statuses, n)
        if not feasible:
            return result
        if len(feasible) == 1:
            result.node = feasible[0].name
            return result
        totals = self.score(state, pod, feasible, cluster)
        result.node = self.select_host(feasible, totals)
        return result

    def score(self, state: State, pod: podinfo.PodInfo, feasible: list[nodeinfo.NodeInfo],
              cluster: caches.Cache) -> list[int]:
        totals = [0] * len(feasible)
        for plugin in self.scorers:
            if not plugin.pre_score(state, pod, feasible, cluster):
                continue
            score = plugin.score
            scores = [score(state, pod, info) for info in feasible]
            plugin.normalize(state, scores)
            w = plugin.weight
            for i, s in enumerate(scores):
                totals[i] += s * w
        return totals

    def select_host(self, feasible: list[nodeinfo.NodeInfo], totals: list[int]) -> str:
        """The highest total; among equals a uniformly random one (as selectHost's reservoir)."""
        best = max(totals)
        ties = [i for i, s in enumerate(totals) if s == best]
        return feasible[ties[0] if len(ties) == 1 else self.rng.choice(ties)].name


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """helper.DefaultNormalizeScore: scale to 0..100 by the maximum (reversed if asked)."""
    top = max(scores) if scores else 0
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        s = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - s if reverse else s
