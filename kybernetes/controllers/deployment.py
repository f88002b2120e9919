"""The deployment controller (pkg/controller/deployment/deployment_controller.go).

A Deployment owns ReplicaSets, one per pod template it has run; the newest
runs the current template (its name and selector carry the template's
``pod-template-hash``), older ones are kept at zero as revision history for
``kubectl rollout undo``. ``sync(key)`` claims the replica sets, then either
only follows a scaling (also while paused), or rolls out (RollingUpdate or
Recreate, ``deployment_rollout``), and writes the status, conditions and the
revision annotation. Pods are never touched here: the replica set controller
creates and deletes them.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import labels
from kybernetes.client import controller, indexer
from kybernetes.controllers import deployment_replicasets as rsutil
from kybernetes.controllers import deployment_status as dstatus
from kybernetes.controllers import deployment_util as util
from kybernetes.controllers import podcontrol
from kybernetes.controllers.context import Context
from kybernetes.controllers.deployment_rollout import DeploymentRollout
from kybernetes.controllers.deployment_sync import DEPLOYMENTS, REPLICASETS
from kybernetes.controllers.podcontrol import meta

log = logging.getLogger(__name__)


class DeploymentController(DeploymentRollout):
    name = "deployment"

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.queue = ctx.queue(self.name)
        self.recorder = ctx.recorder("deployment-controller")
        self.d_informer = ctx.informer("apps", "v1", "deployments")
        self.rs_informer = ctx.informer("apps", "v1", "replicasets")
        self.pod_informer = ctx.informer("", "v1", "pods")
        self.d_informer.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.rs_informer.add_event_handler(self._add_rs, self._update_rs, self._delete_rs)
        self.pod_informer.add_event_handler(on_delete=self._delete_pod)

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.ctx.settings.workers, self.name)

    # --- handlers: objects to keys ---

    def _enqueue(self, d: dict) -> None:
        self.queue.add(indexer.key_of(d))

    def _resolve(self, namespace: str, ref: dict) -> dict | None:
        if ref.get("kind") != "Deployment":
            return None
        d = self.d_informer.store.get_by(namespace, ref.get("name", ""))
        return d if d is not None and meta(d).get("uid") == ref.get("uid") else None

    def _deployments_selecting(self, rs: dict) -> list[dict]:
        m = meta(rs)
        if not m.get("labels"):
            return []
        out = []
        for d in self.d_informer.store.by_index(indexer.NAMESPACE_INDEX, m.get("namespace", "")):
            try:
                sel = labels.from_label_selector(util.spec(d).get("selector"))
            except labels.SelectorError:
                continue
            if not sel.empty and sel.matches(m["labels"]):
                out.append(d)
        return out

    def _add_rs(self, rs: dict) -> None:
        if podcontrol.is_being_deleted(rs):
            self._delete_rs(rs)
            return
        ref = podcontrol.controller_of(rs)
        if ref is not None:
            d = self._resolve(meta(rs).get("namespace", ""), ref)
            if d is not None:
                self._enqueue(d)
            return
        for d in self._deployments_selecting(rs):
            self._enqueue(d)

    def _update_rs(self, old: dict, cur: dict) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        ns = meta(cur).get("namespace", "")
        cur_ref, old_ref = podcontrol.controller_of(cur), podcontrol.controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve(ns, old_ref)
            if d is not None:
                self._enqueue(d)
        if cur_ref is not None:
            d = self._resolve(ns, cur_ref)
            if d is not None:
                self._enqueue(d)
            return
        if ref_changed or meta(old).get("labels") != meta(cur).get("labels"):
            for d in self._deployments_selecting(cur):
                self._enqueue(d)

    def _delete_rs(self, rs: dict) -> None:
        ref = podcontrol.controller_of(rs)
        if ref is not None:
            d = self._resolve(meta(rs).get("namespace", ""), ref)
            if d is not None:
                self._enqueue(d)

    def _delete_pod(self, pod: dict) -> None:
        """A Recreate rollout waits for the last old pod to go: sync when none is left."""
        ns = meta(pod).get("namespace", "")
        ref = podcontrol.controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.store.get_by(ns, ref.get("name", ""))
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return
        rs_ref = podcontrol.controller_of(rs)
        d = self._resolve(ns, rs_ref) if rs_ref is not None else None
        if d is None or (util.spec(d).get("strategy") or {}).get("type") != "Recreate":
            return
        owned = [r for r in self.rs_informer.store.by_index(indexer.NAMESPACE_INDEX, ns)
                 if (podcontrol.controller_of(r) or {}).get("uid") == meta(d).get("uid")]
        if not any(self.pod_map(d, owned).values()):
            self._enqueue(d)

    # --- sync ---

    async def sync(self, key: str) -> None:
        cached = self.d_informer.store.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        selector = util.spec(d).get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            generation = meta(d).get("generation", 0)
            if (d.get("status") or {}).get("observedGeneration", 0) < generation:
                d.setdefault("status", {})["observedGeneration"] = generation
                await self.update_status(d)
            return
        try:
            rs_list = await self.replica_sets_for(d)
        except labels.SelectorError as e:
            log.error("deployment %s has an invalid label selector: %s", key, e)
            return
        pod_map = self.pod_map(d, rs_list)
        if podcontrol.is_being_deleted(d):
            new, olds = await self.all_rss_and_sync_revision(d, rs_list, False)
            return await self.sync_deployment_status(olds + [new], new, d)
        await self.check_paused_conditions(d)
        if util.spec(d).get("paused") or await self.is_scaling_event(d, rs_list):
            return await self.sync_scaling(d, rs_list)
        strategy = (util.spec(d).get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            return await self.rollout_recreate(d, rs_list, pod_map)
        if strategy == "RollingUpdate":
            return await self.rollout_rolling(d, rs_list)
        raise ValueError(f"unexpected deployment strategy type: {strategy}")

    async def replica_sets_for(self, d: dict) -> list[dict]:
        """getReplicaSetsForDeployment: every replica set in the namespace, claimed (orphans
        matching the selector adopted, ours that stopped matching released)."""
        selector = labels.from_label_selector(util.spec(d).get("selector"))
        manager = podcontrol.ControllerRefManager(
            self.client, REPLICASETS, d, selector, "apps/v1", "Deployment",
            podcontrol.recheck_deletion_timestamp(self.client, DEPLOYMENTS, d, "Deployment"))
        all_rs = self.rs_informer.store.by_index(indexer.NAMESPACE_INDEX, meta(d)["namespace"])
        return await manager.claim(all_rs)

    def pod_map(self, d: dict, rs_list: list[dict]) -> dict[str, list[dict]]:
        """getPodMapForDeployment: the deployment's pods by the uid of the replica set controlling them."""
        selector = labels.from_label_selector(util.spec(d).get("selector"))
        out: dict[str, list[dict]] = {meta(rs)["uid"]: [] for rs in rs_list}
        for pod in self.pod_informer.store.by_index(indexer.NAMESPACE_INDEX, meta(d).get("namespace", "")):
            ref = podcontrol.controller_of(pod)
            if ref is not None and ref.get("uid") in out and selector.matches(meta(pod).get("labels") or {}):
                out[ref["uid"]].append(pod)
        return out

    async def check_paused_conditions(self, d: dict) -> None:
        """Progressing=Unknown DeploymentPaused / DeploymentResumed, so that time spent
        paused never counts against progressDeadlineSeconds."""
        if not dstatus.has_progress_deadline(d):
            return
        cond = dstatus.get_condition(d.get("status") or {}, "Progressing")
        if cond is not None and cond.get("reason") == util.TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == util.PAUSED
        paused = bool(util.spec(d).get("paused"))
        if paused == paused_cond:
            return
        reason, message = (util.PAUSED, "Deployment is paused") if paused else \
            (util.RESUMED, "Deployment is resumed")
        dstatus.set_condition(d.setdefault("status", {}),
                           dstatus.new_condition("Progressing", "Unknown", reason, message, self.clock.now()))
        await self.update_status(d)

    async def is_scaling_event(self, d: dict, rs_list: list[dict]) -> bool:
        """True when an active replica set was sized for another spec.replicas."""
        new, olds = await self.all_rss_and_sync_revision(d, rs_list, False)
        for rs in rsutil.filter_active(olds + [new]):
            desired = util.desired_replicas_annotation(rs)
            if desired is not None and desired != util.replicas(d):
                return True
        return False

    async def sync_scaling(self, d: dict, rs_list: list[dict]) -> None:
        """sync: scale (no rollout) for a scaling event or a paused deployment."""
        new, olds = await self.all_rss_and_sync_revision(d, rs_list, False)
        await self.scale(d, new, olds, rs_list)
        new, olds = self._current(rs_list, [new])[0], self._current(rs_list, olds)
        if util.spec(d).get("paused"):
            await self.cleanup(olds, d)
        await self.sync_deployment_status(olds + [new], new, d)

