"""The scheduler's view of the cluster: nodes and the pods placed on them.

As kube-scheduler's internal cache (backend/cache/cache.go): pods observed
bound are added from the informer; a pod this scheduler has just decided on
is *assumed* onto its node at once, so the next decision (made before the
binding's watch event comes back) already counts it; the informer's event for
the bound pod then *confirms* it, and a failed binding *forgets* it. Assumed
pods never expire (kube-scheduler 1.32 sets durationToExpireAssumedPod to 0).

A pod may arrive before its node (informers race); its NodeInfo then exists
without a node object and is not offered to the filters until the node comes.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.scheduler import nodeinfo, podinfo

log = logging.getLogger(__name__)


class Cache:
    def __init__(self) -> None:
        self.nodes: dict[str, nodeinfo.NodeInfo] = {}
        self.node_list: list[nodeinfo.NodeInfo] = []   # nodes that exist, in arrival order
        self.pods: dict[str, tuple[podinfo.PodInfo, str]] = {}
        self.assumed: set[str] = set()
        self.by_namespace: dict[str, dict[str, podinfo.PodInfo]] = {}
        self.affinity_pods: dict[str, podinfo.PodInfo] = {}

    # --- nodes ---

    def _info(self, name: str) -> nodeinfo.NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = nodeinfo.NodeInfo(name)
        return info

    def add_node(self, node: dict[str, Any]) -> nodeinfo.NodeInfo:
        info = self._info(node["metadata"]["name"])
        if info.node is None:
            self.node_list.append(info)
        info.set_node(node)
        return info

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None or info.node is None:
            return
        self.node_list.remove(info)
        info.set_node(None)
        if not info.pods:
            del self.nodes[name]

    # --- pods ---

    def _place(self, pi: podinfo.PodInfo, node_name: str) -> None:
        self.pods[pi.key] = (pi, node_name)
        self._info(node_name).add_pod(pi)
        self.by_namespace.setdefault(pi.namespace, {})[pi.key] = pi
        if pi.has_affinity:
            self.affinity_pods[pi.key] = pi

    def _unplace(self, key: str) -> podinfo.PodInfo | None:
        entry = self.pods.pop(key, None)
        if entry is None:
            return None
        pi, node_name = entry
        info = self.nodes.get(node_name)
        if info is not None:
            info.remove_pod(pi)
            if info.node is None and not info.pods:
                del self.nodes[node_name]
        ns = self.by_namespace.get(pi.namespace)
        if ns is not None:
            ns.pop(key, None)
            if not ns:
                del self.by_namespace[pi.namespace]
        self.affinity_pods.pop(key, None)
        return pi

    def assume(self, pi: podinfo.PodInfo, node_name: str) -> None:
        """Count ``pi`` on ``node_name`` until the binding is observed or fails."""
        self._unplace(pi.key)
        self._place(pi, node_name)
        self.assumed.add(pi.key)

    def forget(self, key: str) -> None:
        """The binding failed: take the assumed pod off its node."""
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    def add_pod(self, pi: podinfo.PodInfo) -> None:
        """A pod observed bound (confirms an assumed one), or a bound pod that changed."""
        self.assumed.discard(pi.key)
        self._unplace(pi.key)
        self._place(pi, pi.node_name)

    update_pod = add_pod

    def remove_pod(self, key: str) -> None:
        self.assumed.discard(key)
        self._unplace(key)

    def node_of(self, key: str) -> str | None:
        entry = self.pods.get(key)
        return entry[1] if entry else None

    def namespace_pods(self, namespace: str) -> dict[str, podinfo.PodInfo]:
        return self.by_namespace.get(namespace) or {}

    def placed_pods(self) -> list[tuple[podinfo.PodInfo, str]]:
        return list(self.pods.values())
