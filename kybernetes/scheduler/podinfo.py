"""What the scheduler needs to know about a pod, computed once per pod version.

kube-scheduler wraps every pod in a ``PodInfo`` (framework/types.go) holding
its parsed affinity terms, and its plugins' PreFilter steps compute the pod's
resource request. Here both happen once, when the pod enters the queue or the
cache, so the per-node hot loops only compare integers and look up labels:

- ``requests``: what NodeResourcesFit checks, as resourcehelper.PodRequests:
  the sum over containers, restartable (sidecar) init containers added to
  it, each other init container's request (plus the sidecars started before
  it) taken as a maximum, then ``spec.overhead`` added.
- ``nonzero_cpu``/``nonzero_memory``: the same with 100m / 200Mi for a
  container that requests nothing (schedutil.DefaultMilliCPURequest and
  DefaultMemoryRequest), used by the scoring plugins so best-effort pods still
  spread.
"""

from __future__ import annotations

import functools
from typing import Any

from kybernetes.api import quantities
from kybernetes.scheduler import selectors

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
NATIVE = ("cpu", "memory", "ephemeral-storage")


@functools.lru_cache(maxsize=4096)
def milli(value: str | int | float) -> int:
    return quantities.milli_value(quantities.parse(value))


@functools.lru_cache(maxsize=4096)
def whole(value: str | int | float) -> int:
    return quantities.value(quantities.parse(value))


class Resources:
    """A resource vector: milli-CPU, bytes, bytes, and scalar (extended) resources."""

    __slots__ = ("cpu", "memory", "ephemeral", "scalars")

    def __init__(self, cpu: int = 0, memory: int = 0, ephemeral: int = 0,
                 scalars: dict[str, int] | None = None):
        self.cpu, self.memory, self.ephemeral = cpu, memory, ephemeral
        self.scalars = scalars or {}

    @classmethod
    def of(cls, rl: dict[str, Any] | None) -> Resources:
        r = cls()
        for name, q in (rl or {}).items():
            r._set(name, q)
        return r

    def _set(self, name: str, q: Any) -> None:
        if name == "cpu":
            self.cpu = milli(q)
        elif name == "memory":
            self.memory = whole(q)
        elif name == "ephemeral-storage":
            self.ephemeral = whole(q)
        elif name != "pods":
            self.scalars[name] = whole(q)

    def add(self, other: Resources) -> None:
        self.cpu += other.cpu
        self.memory += other.memory
        self.ephemeral += other.ephemeral
        for k, v in other.scalars.items():
            self.scalars[k] = self.scalars.get(k, 0) + v

    def sub(self, other: Resources) -> None:
        self.cpu -= other.cpu
        self.memory -= other.memory
        self.ephemeral -= other.ephemeral
        for k, v in other.scalars.items():
            self.scalars[k] = self.scalars.get(k, 0) - v

    def plus(self, other: Resources) -> Resources:
        r = Resources(self.cpu, self.memory, self.ephemeral, dict(self.scalars))
        r.add(other)
        return r

    def maximum(self, other: Resources) -> None:
        self.cpu = max(self.cpu, other.cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral = max(self.ephemeral, other.ephemeral)
        for k, v in other.scalars.items():
            self.scalars[k] = max(self.scalars.get(k, 0), v)

    def is_zero(self) -> bool:
        return not (self.cpu or self.memory or self.ephemeral or any(self.scalars.values()))

    def __repr__(self) -> str:
        return f"Resources(cpu={self.cpu}m, memory={self.memory}, ephemeral={self.ephemeral}, {self.scalars})"


def _container_requests(c: dict[str, Any], nonzero: bool) -> Resources:
    req = (c.get("resources") or {}).get("requests") or {}
    r = Resources.of(req)
    if nonzero:
        if "cpu" not in req:
            r.cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in req:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(spec: dict[str, Any], nonzero: bool = False) -> Resources:
    """resourcehelper.PodRequests (sidecar-aware), plus overhead."""
    total = Resources()
    for c in spec.get("containers") or ():
        total.add(_container_requests(c, nonzero))
    sidecars = Resources()
    init_max = Resources()
    for c in spec.get("initContainers") or ():
        r = _container_requests(c, nonzero)
        if c.get("restartPolicy") == "Always":
            total.add(r)
            sidecars.add(r)
            init_max.maximum(sidecars)
        else:
            init_max.maximum(r.plus(sidecars))
    total.maximum(init_max)
    if spec.get("overhead"):
        total.add(Resources.of(spec["overhead"]))
    return total


def host_ports(spec: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port that asks for a host port."""
    out = []
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            port = p.get("hostPort") or 0
            if port > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", port))
    return out


class PodInfo:
    """A pod plus everything the plugins precompute from it. Never mutates ``pod``."""

    __slots__ = ("pod", "key", "uid", "namespace", "name", "labels", "priority", "requests",
                 "nonzero_cpu", "nonzero_memory", "host_ports", "tolerations", "node_selector",
                 "required_node_affinity", "preferred_node_affinity", "required_affinity",
                 "required_anti_affinity", "preferred_affinity", "preferred_anti_affinity",
                 "hard_spread", "soft_spread", "scheduler_name", "node_name", "terminating",
                 "owner_uid", "gated")

    def __init__(self, pod: dict[str, Any]):
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.namespace = meta.get("namespace", "")
        self.name = meta.get("name", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid = meta.get("uid", "")
        self.labels = meta.get("labels") or {}
        self.priority = spec.get("priority") or 0
        self.scheduler_name = spec.get("schedulerName") or "default-scheduler"
        self.node_name = spec.get("nodeName") or ""
        self.terminating = bool(meta.get("deletionTimestamp"))
        self.gated = bool(spec.get("schedulingGates"))
        self.owner_uid = next((o.get("uid", "") for o in meta.get("ownerReferences") or ()
                               if o.get("controller")), "")
        self.requests = pod_requests(spec)
        nz = pod_requests(spec, nonzero=True)
        self.nonzero_cpu, self.nonzero_memory = nz.cpu, nz.memory
        self.host_ports = host_ports(spec)
        self.tolerations = spec.get("tolerations") or []
        self.node_selector = spec.get("nodeSelector") or {}
        affinity = spec.get("affinity") or {}
        node_aff = affinity.get("nodeAffinity") or {}
        required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.required_node_affinity = selectors.NodeSelector(required) if required else None
        self.preferred_node_affinity = [
            (t.get("weight") or 0, selectors.NodeSelectorTerm(t.get("preference") or {}))
            for t in node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
        pod_aff = affinity.get("podAffinity") or {}
        anti = affinity.get("podAntiAffinity") or {}
        ns = self.namespace
        self.required_affinity = selectors.affinity_terms(
            ns, pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution"), self.labels)
        self.required_anti_affinity = selectors.affinity_terms(
            ns, anti.get("requiredDuringSchedulingIgnoredDuringExecution"), self.labels)
        self.preferred_affinity = selectors.weighted_affinity_terms(
            ns, pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution"), self.labels)
        self.preferred_anti_affinity = selectors.weighted_affinity_terms(
            ns, anti.get("preferredDuringSchedulingIgnoredDuringExecution"), self.labels)
        constraints = [selectors.SpreadConstraint(c, self.labels)
                       for c in spec.get("topologySpreadConstraints") or ()]
        self.hard_spread = [c for c in constraints if c.hard]
        self.soft_spread = [c for c in constraints if not c.hard]

    @property
    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity
                    or self.preferred_affinity or self.preferred_anti_affinity)
