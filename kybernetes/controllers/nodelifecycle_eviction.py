"""Taint-based eviction: pods on a node with NoExecute taints they do not
tolerate are deleted, as kube-controller-manager's taint-eviction-controller
(tainteviction, run here inside the node lifecycle controller as upstream
does without the SeparateTaintEvictionController split).

``sync(pod key)`` is level-triggered: from the pod's tolerations and its
node's NoExecute taints it computes when the pod must go.

- a taint no toleration matches: now;
- every taint tolerated: the earliest of, per taint, the taint's
  ``timeAdded`` plus the tolerationSeconds of the first toleration matching
  it (a toleration without tolerationSeconds tolerates forever; <= 0 means
  now). Upstream counts from when it noticed the taint; counting from
  timeAdded gives the same answer and survives a controller restart.

A pod whose time has come gets a ``TaintManagerEviction`` event ("Marking for
deletion Pod ns/name"), a DisruptionTarget condition (DeletionByTaintManager)
and an ordinary (graceful) delete; one whose time is still to come is queued
again for then. A scheduled eviction that no longer applies (taint removed,
toleration added, pod gone) is cancelled with "Cancelling deletion of Pod".
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from typing import Any

from kybernetes.api import durations, status
from kybernetes.client import controller, informer
from kybernetes.controllers import podutil
from kybernetes.controllers.context import Context
from kybernetes.controllers.nodelifecycle_health import condition, timestamp

log = logging.getLogger(__name__)

NODE_NAME_INDEX = "spec.nodeName"
COMPONENT = "taint-eviction-controller"


def node_name_index(pod: dict[str, Any]) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [name] if name else []


def ensure_node_name_index(pods: informer.Informer) -> None:
    """Pods by ``spec.nodeName`` (the index upstream's node controllers share)."""
    try:
        pods.add_indexers({NODE_NAME_INDEX: node_name_index})
    except ValueError:
        pass  # already there


def no_execute_taints(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [t for t in ((node or {}).get("spec") or {}).get("taints") or []
            if t.get("effect") == "NoExecute"]


def eviction_time(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]],
                  added: dict[tuple[str, str], datetime]) -> datetime | None:
    """When a pod with ``tolerations`` must leave a node with ``taints`` (None: never).
    ``added`` gives each taint's (key, effect) start time."""
    deadline: datetime | None = None
    for taint in taints:
        start = added[(taint.get("key", ""), taint.get("effect", ""))]
        match = next((t for t in tolerations if podutil.tolerates(t, taint)), None)
        if match is None:
            return datetime.min.replace(tzinfo=start.tzinfo)
        seconds = match.get("tolerationSeconds")
        if seconds is None:
            continue
        when = start + timedelta(seconds=max(int(seconds), 0))
        deadline = when if deadline is None or when < deadline else deadline
    return deadline


class TaintEvictionController:
    name = COMPONENT

    def __init__(self, ctx: Context, pods: informer.Informer, nodes: informer.Informer):
        self.client = ctx.client
        self.settings = ctx.settings
        self.clock = ctx.clock
        self.recorder = ctx.recorder(COMPONENT)
        self.pods, self.nodes = pods, nodes
        ensure_node_name_index(pods)
        self.queue = ctx.queue("noexec_taint_pod")
        self.scheduled: dict[str, datetime] = {}
        # When a taint without timeAdded was first seen: (node, key, effect) -> time.
        self.first_seen: dict[tuple[str, str, str], datetime] = {}
        pods.add_event_handler(self._pod, self._pod_updated, self._pod)
        nodes.add_event_handler(self._node, self._node_updated)

    def _pod(self, pod: dict) -> None:
        self.queue.add(informer_key(pod))

    def _pod_updated(self, old: dict, new: dict) -> None:
        o, n = old.get("spec") or {}, new.get("spec") or {}
        if o.get("tolerations") != n.get("tolerations") or o.get("nodeName") != n.get("nodeName"):
            self.queue.add(informer_key(new))

    def _node(self, node: dict) -> None:
        for key in self.pods.store.index_keys(NODE_NAME_INDEX, node["metadata"]["name"]):
            self.queue.add(key)

    def _node_updated(self, old: dict, new: dict) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self._node(new)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, 8, self.name, shutdown=True)

    def _taint_times(self, node: dict, taints: list[dict]) -> dict[tuple[str, str], datetime]:
        out = {}
        name = node["metadata"]["name"]
        current = {(name, t.get("key", ""), t.get("effect", "")) for t in taints}
        for seen in [k for k in self.first_seen if k[0] == name and k not in current]:
            del self.first_seen[seen]
        for t in taints:
            key = (t.get("key", ""), t.get("effect", ""))
            added = durations.parse_timestamp(t.get("timeAdded") or "")
            if added is None:
                added = self.first_seen.setdefault((name, *key), self.clock.now())
            out[key] = added
        return out

    async def sync(self, key: str) -> None:
        pod = self.pods.store.get(key)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or not node_name or pod["metadata"].get("deletionTimestamp"):
            self._cancel(key, pod is None)
            return
        node = self.nodes.store.get(node_name)
        taints = no_execute_taints(node)
        if node is None or not taints:
            self._cancel(key)
            return
        when = eviction_time(taints, (pod.get("spec") or {}).get("tolerations") or [],
                             self._taint_times(node, taints))
        if when is None:
            self._cancel(key)
            return
        now = self.clock.now()
        if when > now:
            self.scheduled[key] = when
            self.queue.add_after(key, (when - now).total_seconds())
            return
        self.scheduled.pop(key, None)
        await self._evict(pod)

    def _cancel(self, key: str, quiet: bool = False) -> None:
        if self.scheduled.pop(key, None) is not None and not quiet:
            namespace, _, name = key.partition("/")
            self.recorder.event({"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name},
                                "Normal", "TaintManagerEviction", f"Cancelling deletion of Pod {key}")

    async def _evict(self, pod: dict) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        log.info("taint eviction: deleting pod %s", key)
        self.recorder.event({"apiVersion": "v1", "kind": "Pod", "namespace": meta["namespace"],
                             "name": meta["name"]},
                            "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
        try:
            cond = condition(pod.get("status"), "DisruptionTarget")
            if cond is None or cond.get("status") != "True":
                new = copy.deepcopy(pod)
                conditions = [c for c in new.setdefault("status", {}).get("conditions") or []
                              if c.get("type") != "DisruptionTarget"]
                conditions.append({"type": "DisruptionTarget", "status": "True",
                                   "reason": "DeletionByTaintManager",
                                   "message": "Taint manager: deleting due to NoExecute taint",
                                   "lastTransitionTime": timestamp(self.clock.now())})
                new["status"]["conditions"] = conditions
                await self.client.update(self.pods.resource, new, subresource="status")
            await self.client.delete(self.pods.resource, meta["name"], meta["namespace"])
        except status.StatusError as e:
            if e.code != 404:
                raise


def informer_key(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}"
