"""The controller manager: every controller, run while this process leads.

``kyb controller-manager`` (and ``kyb server``, in process) builds one client
and one set of shared informers, takes the ``kube-controller-manager`` Lease
in kube-system, and only then starts the controllers, so that of two
managers only the leader acts. Losing the lease stops them all.

Controllers are registered by name in ``CONTROLLERS``; each module is
imported here and nowhere else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Callable

from kybernetes.client import informer, leaderelection, rest
from kybernetes.controllers.context import Context, Controller, Settings

log = logging.getLogger(__name__)

# name -> "module:Class"; modules are under kybernetes.controllers.
CONTROLLERS: dict[str, str] = {
    "namespace": "namespace:NamespaceController",
    "serviceaccount": "serviceaccount:ServiceAccountController",
    "root-ca-cert-publisher": "serviceaccount:RootCACertPublisher",
    "replicaset": "replicaset:ReplicaSetController",
    "replicationcontroller": "replicaset:ReplicationControllerController",
    "deployment": "deployment:DeploymentController",
    "daemonset": "daemonset:DaemonSetController",
    "statefulset": "statefulset:StatefulSetController",
    "job": "job:JobController",
    "cronjob": "cronjob:CronJobController",
    "endpoints": "endpoints:EndpointsController",
    "endpointslice": "endpointslice:EndpointSliceController",
    "garbagecollector": "garbagecollector:GarbageCollector",
    "nodelifecycle": "nodelifecycle:NodeLifecycleController",
    "nodeipam": "nodeipam:NodeIpamController",
    "podgc": "podgc:PodGCController",
}


def load(name: str) -> Callable[[Context], Controller] | None:
    """The controller class registered under ``name``, or None when its
    module does not exist (yet)."""
    module_name, _, cls = CONTROLLERS[name].partition(":")
    try:
        module = importlib.import_module(f"kybernetes.controllers.{module_name}")
    except ModuleNotFoundError as e:
        if e.name == f"kybernetes.controllers.{module_name}":
            return None
        raise
    return getattr(module, cls)


class ControllerManager:
    def __init__(self, client: rest.Client, settings: Settings | None = None, *,
                 controllers: list[str] | None = None, leader_elect: bool = True,
                 identity: str | None = None, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0):
        self.client = client
        self.settings = settings or Settings()
        self.names = controllers or list(CONTROLLERS)
        self.leader_elect = leader_elect
        self.identity = identity
        self.election = dict(lease_duration=lease_duration, renew_deadline=renew_deadline,
                             retry_period=retry_period)
        self.leading = asyncio.Event()

    async def run(self) -> None:
        if not self.leader_elect:
            await self._lead()
            return
        elector = leaderelection.LeaderElector(
            self.client, "kube-controller-manager", "kube-system",
            identity=self.identity, release_on_cancel=True, **self.election)
        await elector.run(self._lead, lambda: log.warning("controller-manager lost its lease"))

    async def _lead(self) -> None:
        factory = informer.SharedInformerFactory(self.client, resync_period=self.settings.resync_period)
        ctx = Context(self.client, factory, self.settings)
        controllers = []
        for name in self.names:
            cls = load(name)
            if cls is None:
                log.info("controller %s is not available", name)
                continue
            controllers.append(cls(ctx))
        factory.start()
        try:
            await factory.wait_for_sync()
            self.leading.set()
            log.info("controller-manager leading with %d controllers", len(controllers))
            async with asyncio.TaskGroup() as tg:
                for c in controllers:
                    tg.create_task(_supervise(c), name=f"controller:{c.name}")
        finally:
            self.leading.clear()
            await factory.shutdown()
            await ctx.close()


async def _supervise(controller: Controller) -> None:
    """Run one controller; a bug that ends it is logged and it starts again,
    without taking the other controllers down."""
    delay = 1.0
    while True:
        try:
            await controller.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("controller %s failed; restarting in %.0fs", controller.name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
