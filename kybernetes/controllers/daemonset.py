"""The DaemonSet controller: one pod of each DaemonSet on every eligible node.

As kube-controller-manager's ``daemon_controller.go``: ``sync(key)`` claims
the set's pods, maps them to their target nodes (spec.nodeName, or the
``metadata.name In [node]`` affinity term of pods the scheduler has not bound
yet), creates a pod for every eligible node without one (slow-start batches,
under expectations), deletes pods on nodes that no longer qualify, failed and
succeeded pods (failed ones with a back-off), and surplus pods; then the
RollingUpdate plan (``daemonset_update``); then the status that ``kubectl
rollout status ds/x`` reads. Pods are created with node affinity, not
spec.nodeName, so the scheduler binds them (upstream since 1.12). Pods bound
to nodes that were deleted are left to the pod GC controller, as upstream.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import labels, status
from kybernetes.client import controller, indexer
from kybernetes.controllers import daemonset_nodes as dsn
from kybernetes.controllers import daemonset_update as dsu
from kybernetes.controllers import expectations, history, podcontrol, podutil, status_writing
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

DAEMONSETS = dsu.DAEMONSETS
BURST_REPLICAS = 250
FAILED_POD_BACKOFF = (1.0, 900.0)  # failedPodsBackoff: 1 s doubling to 15 min
Obj = dict


class DaemonSetController:
    name = "daemonset"

    def __init__(self, ctx: Context):
        self.ctx, self.client, self.clock = ctx, ctx.client, ctx.clock
        self.queue = ctx.queue("daemonset")
        self.recorder = ctx.recorder("daemonset-controller")
        self.expectations = expectations.ControllerExpectations(ctx.clock)
        self.pod_control = podcontrol.PodControl(self.client, self.recorder)
        self.failed_backoff: dict[str, tuple[float, float]] = {}
        self.dss = ctx.informer("apps", "v1", "daemonsets")
        self.pods = ctx.informer("", "v1", "pods")
        self.nodes = ctx.informer("", "v1", "nodes")
        self.revisions = ctx.informer("apps", "v1", "controllerrevisions")
        self.dss.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_event_handler(self._node_added, self._node_updated, self._node_added)
        self.revisions.add_event_handler(self._owned, lambda old, new: self._owned(new), self._owned)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    # --- handlers: objects to keys ---

    def _enqueue(self, ds: Obj) -> None:
        self.queue.add(indexer.key_of(ds))

    def _owned(self, obj: Obj) -> None:
        key = podcontrol.owner_key(obj, "DaemonSet")
        if key is not None:
            self.queue.add(key)

    def _matching(self, pod: Obj) -> None:
        ns = podcontrol.meta(pod).get("namespace", "")
        for ds in self.dss.store.by_index(indexer.NAMESPACE_INDEX, ns):
            if _selector(ds).matches(podcontrol.meta(pod).get("labels")):
                self._enqueue(ds)

    def _pod_added(self, pod: Obj) -> None:
        key = podcontrol.owner_key(pod, "DaemonSet")
        if key is None:
            self._matching(pod)
            return
        if podcontrol.is_being_deleted(pod):
            self.expectations.deletion_observed(key)
        else:
            self.expectations.creation_observed(key)
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if podcontrol.meta(old).get("resourceVersion") == podcontrol.meta(new).get("resourceVersion"):
            return
        key = podcontrol.owner_key(new, "DaemonSet")
        old_key = podcontrol.owner_key(old, "DaemonSet")
        if old_key is not None and old_key != key:
            self.queue.add(old_key)
        if key is None:
            if podcontrol.meta(old).get("labels") != podcontrol.meta(new).get("labels") or \
                    old_key is not None:
                self._matching(new)
            return
        if podcontrol.is_being_deleted(new) and not podcontrol.is_being_deleted(old):
            self.expectations.deletion_observed(key)
        self.queue.add(key)
        ds = self.dss.store.get(key)
        min_ready = int(((ds or {}).get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and not podutil.is_pod_ready(old) and podutil.is_pod_ready(new):
            self.queue.add_after(key, min_ready + 1)

    def _pod_deleted(self, pod: Obj) -> None:
        key = podcontrol.owner_key(pod, "DaemonSet")
        if key is not None:
            self.expectations.deletion_observed(key)
            self.queue.add(key)

    def _node_added(self, node: Obj) -> None:
        for ds in self.dss.store.list():
            if any(dsn.should_run(node, ds)):
                self._enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if _same_for_scheduling(old, new):
            return  # shouldIgnoreNodeUpdate: heartbeats and the like change nothing here
        for ds in self.dss.store.list():
            if dsn.should_run(old, ds) != dsn.should_run(new, ds):
                self._enqueue(ds)

    # --- sync ---

    async def sync(self, key: str) -> None:
        ds = self.dss.store.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        spec = ds.get("spec") or {}
        sel = spec.get("selector") or {}
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        if podcontrol.meta(ds).get("deletionTimestamp"):
            return
        nodes = self.nodes.store.list()
        ref = podcontrol.controller_ref(ds, "apps/v1", "DaemonSet")
        pods = await self._claimed_pods(ds)
        cur, old = await dsu.construct_history(self.client, self.revisions.store, pods, ds, ref)
        hash_ = (podcontrol.meta(cur).get("labels") or {}).get(history.REVISION_LABEL, "")
        if not self.expectations.satisfied(key):
            await self._update_status(ds, nodes, pods, hash_, observed=False)
            return
        try:
            await self._manage(key, ds, nodes, pods, hash_)
            if self.expectations.satisfied(key) and \
                    (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
                wanted = _wanted(ds, nodes)
                to_delete, to_create = dsu.rolling_update_plan(
                    ds, _by_node(pods), wanted, hash_, self.clock.now())
                await self._sync_nodes(key, ds, to_delete, to_create, hash_)
            await dsu.cleanup_history(self.client, ds, old, pods)
        finally:
            await self._update_status(ds, nodes, await self._claimed_pods(ds), hash_,
                                      observed=True)

    async def _claimed_pods(self, ds: Obj) -> list[Obj]:
        ns = podcontrol.meta(ds)["namespace"]
        manager = podcontrol.ControllerRefManager(self.client, podcontrol.PODS, ds, _selector(ds),
                                                  "apps/v1", "DaemonSet")
        pods = await manager.claim(self.pods.store.by_index(indexer.NAMESPACE_INDEX, ns))
        # Deleted pods that already finished are no longer the set's concern.
        return [p for p in pods if not (podutil.is_pod_terminal(p) and podcontrol.is_being_deleted(p))]

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> None:
        by_node = _by_node(pods)
        spec = dsn.daemon_pod_spec(ds)
        need, delete = [], []
        for node in nodes:
            node_pods = by_node.get(podcontrol.meta(node)["name"], [])
            n, d = self._pods_should_be_on_node(key, ds, spec, node, node_pods, hash_)
            need += n
            delete += d
        # Unscheduled pods meant for nodes that no longer exist: nothing else removes them.
        existing = {podcontrol.meta(n)["name"] for n in nodes}
        for node_name, node_pods in by_node.items():
            if node_name not in existing:
                delete += [podcontrol.meta(p)["name"] for p in node_pods
                           if not (p.get("spec") or {}).get("nodeName")]
        await self._sync_nodes(key, ds, delete, need, hash_)

    def _pods_should_be_on_node(self, key: str, ds: Obj, spec: Obj, node: Obj, pods: list[Obj],
                                hash_: str) -> tuple[list[str], list[str]]:
        node_name = podcontrol.meta(node)["name"]
        should_run, should_continue = dsn.should_run(node, ds, spec)
        if should_run and not pods:
            return [node_name], []
        if not should_continue:
            return [], [podcontrol.meta(p)["name"] for p in pods if not podcontrol.is_being_deleted(p)]
        delete, running = [], []
        for pod in pods:
            if podcontrol.is_being_deleted(pod):
                continue
            name = podcontrol.meta(pod)["name"]
            if podutil.phase(pod) == "Failed":
                generation = (ds.get("status") or {}).get("observedGeneration", 0)
                bkey = f"{podcontrol.meta(ds)['uid']}/{generation}/{node_name}"
                delay = self._in_backoff(bkey)
                if delay:
                    self.queue.add_after(key, delay)
                    continue
                self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                    f"Found failed daemon pod {podcontrol.meta(pod)['namespace']}/{name} "
                                    f"on node {node_name}, will try to kill it")
                delete.append(name)
            elif podutil.phase(pod) == "Succeeded":
                self.recorder.event(ds, "Normal", "SucceededDaemonPod",
                                    f"Found succeeded daemon pod {podcontrol.meta(pod)['namespace']}/{name} "
                                    f"on node {node_name}, will try to delete it")
                delete.append(name)
            else:
                running.append(pod)
        running.sort(key=dsu.by_creation)
        if not dsu.allows_surge(ds):
            return [], delete + [podcontrol.meta(p)["name"] for p in running[1:]]
        if not running:
            return ([node_name] if should_run else []), delete
        # With surge: keep the oldest new pod and, while it is not yet available,
        # the oldest old pod (deleted once the new one is available or the old one not ready).
        newest = oldest_old = None
        for pod in running:
            if dsu.is_updated(pod, hash_, ds) and newest is None:
                newest = pod
            elif not dsu.is_updated(pod, hash_, ds) and oldest_old is None:
                oldest_old = pod
            else:
                delete.append(podcontrol.meta(pod)["name"])
        if newest is not None and oldest_old is not None:
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if not podutil.is_pod_ready(oldest_old) or \
                    podutil.is_pod_available(newest, min_ready, self.clock.now()):
                delete.append(podcontrol.meta(oldest_old)["name"])
        return [], delete

    def _in_backoff(self, bkey: str) -> float:
        """The remaining back-off before a failed pod on this node may be deleted
        again (0 when it may be deleted now; the attempt is then recorded)."""
        now = self.clock.monotonic()
        delay, last = self.failed_backoff.get(bkey, (0.0, 0.0))
        if delay and now - last < delay:
            return delay - (now - last)
        initial, cap = FAILED_POD_BACKOFF
        delay = initial if not delay or now - last > 2 * cap else min(delay * 2, cap)
        self.failed_backoff[bkey] = (delay, now)
        return 0.0

    async def _sync_nodes(self, key: str, ds: Obj, delete: list[str], create: list[str], hash_: str) -> None:
        """syncNodes: create a pod on each node in ``create``, delete ``delete``."""
        create, delete = create[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create and not delete:
            return
        self.expectations.set(key, len(create), len(delete))
        ns = podcontrol.meta(ds)["namespace"]
        template = dsu.pod_template(ds, hash_)
        ref = podcontrol.controller_ref(ds, "apps/v1", "DaemonSet")
        errors: list[BaseException] = []

        async def create_on(node_name: str) -> None:
            node_template = {**template, "spec": copy.deepcopy(template.get("spec") or {})}
            dsn.with_node_affinity(node_template["spec"], node_name)
            try:
                await self.pod_control.create_pod(ns, node_template, ds, ref)
            except status.StatusError as e:
                # Every create fails in a terminating namespace: nothing to do about it.
                if not podcontrol.has_status_cause(e, podcontrol.NAMESPACE_TERMINATING_CAUSE):
                    raise

        # Each call takes the next node, in order, when the batch starts it.
        nodes = iter(create)
        successes, error = await podcontrol.slow_start_batch(len(create), 1, lambda: create_on(next(nodes)))
        if successes < len(create):
            # Failed or never attempted: the informer will not observe these.
            self.expectations.lower(key, len(create) - successes, 0)
        if error is not None:
            errors.append(error)
        for name in delete:
            try:
                await self.pod_control.delete_pod(ns, name, ds)
            except Exception as e:
                self.expectations.deletion_observed(key)
                if not (isinstance(e, status.StatusError) and e.code == 404):
                    errors.append(e)
        if errors:
            raise errors[0]

    async def _update_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str,
                             observed: bool) -> None:
        wanted = _wanted(ds, nodes)
        counts = dsu.daemon_status(ds, _by_node(pods), wanted, hash_, self.clock.now())
        generation = podcontrol.meta(ds).get("generation", 0)
        current = ds.get("status") or {}
        if all(current.get(k, 0) == v for k, v in counts.items()) and \
                current.get("observedGeneration", 0) >= generation:
            return
        new = {**counts, "observedGeneration": generation} if observed else counts
        await status_writing.update_status(self.client, DAEMONSETS, ds,
                                           lambda obj: {**(obj.get("status") or {}), **new},
                                           attempts=2, conflicts_only=True)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and counts["numberReady"] != counts["numberAvailable"]:
            self.queue.add_after(indexer.key_of(ds), min_ready)


def _selector(ds: Obj) -> labels.Selector:
    try:
        return labels.from_label_selector((ds.get("spec") or {}).get("selector"))
    except labels.SelectorError:
        return labels.nothing()


def _wanted(ds: Obj, nodes: list[Obj]) -> dict[str, bool]:
    """Node name -> whether a daemon pod should run there."""
    spec = dsn.daemon_pod_spec(ds)
    return {podcontrol.meta(n)["name"]: dsn.should_run(n, ds, spec)[0] for n in nodes}


def _same_for_scheduling(old: Obj, new: Obj) -> bool:
    """Labels, spec (taints, unschedulable) and true conditions unchanged."""
    def view(node: Obj) -> tuple:
        conditions = sorted(c.get("type", "") for c in (node.get("status") or {}).get("conditions") or []
                            if c.get("status") == "True")
        return podcontrol.meta(node).get("labels"), node.get("spec"), conditions
    return view(old) == view(new)


def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        node = dsn.target_node(pod)
        if node is not None:
            out.setdefault(node, []).append(pod)
    return out


