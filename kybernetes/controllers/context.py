"""What every controller is given: the client, the shared informers, the
settings, a clock and event recorders (kube-controller-manager's ControllerContext)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from kybernetes.api import registry
from kybernetes.client import clock as clocks
from kybernetes.client import events, rest, workqueue
from kybernetes.client import informer as client_informer


@dataclass
class Settings:
    """kube-controller-manager's flags that the controllers read."""

    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 50.0
    node_startup_grace_period: float = 60.0
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    allocate_node_cidrs: bool = True
    terminated_pod_gc_threshold: int = 12500
    workers: int = 5
    resync_period: float = 0.0
    # namespace controller: delay before acting on a deleted namespace (upstream 5 s).
    namespace_deletion_grace_period: float = 5.0
    # root-ca-cert-publisher: the cluster CA (PEM); None means the client's kubeconfig CA.
    root_ca_pem: bytes | None = None
    # node lifecycle: --node-eviction-rate, --secondary-node-eviction-rate,
    # --large-cluster-size-threshold, --unhealthy-zone-threshold.
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55
    # pod GC: how often it runs (gcCheckPeriod) and how long a missing node is
    # given to appear before its pods count as orphaned (quarantineTime).
    pod_gc_period: float = 20.0
    pod_gc_quarantine: float = 40.0


class Controller(Protocol):
    """A controller: built from a Context, then ``run()`` until cancelled."""

    name: str

    async def run(self) -> None: ...


@dataclass
class Context:
    client: rest.Client
    informers: client_informer.SharedInformerFactory
    settings: Settings = field(default_factory=Settings)
    clock: clocks.Clock = field(default_factory=clocks.RealClock)
    _recorders: dict[str, events.EventRecorder] = field(default_factory=dict)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def informer(self, group: str, version: str, plural: str, **kw) -> client_informer.Informer:
        return self.informers.informer(resource(group, version, plural), **kw)

    def recorder(self, component: str) -> events.EventRecorder:
        """One event recorder per component name, started on first use."""
        rec = self._recorders.get(component)
        if rec is None:
            rec = self._recorders[component] = events.EventRecorder(self.client, component)
            self._tasks.append(asyncio.create_task(rec.run(), name=f"events:{component}"))
        return rec

    def queue(self, name: str) -> workqueue.WorkQueue:
        return workqueue.WorkQueue(name, clock=self.clock)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


def resource(group: str, version: str, plural: str) -> registry.Resource:
    r = registry.lookup(group, version, plural)
    if r is None:
        raise KeyError(f"{plural}.{group}/{version} is not a served resource")
    return r
