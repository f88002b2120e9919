"""Hand-built nodes and pods for the scheduler's unit tests."""

from __future__ import annotations

import random
from typing import Any

from kybernetes.scheduler import cache as caches
from kybernetes.scheduler import plugins, podinfo


def node(name: str, *, cpu: str = "4", memory: str = "16Gi", pods: int = 110,
         labels: dict | None = None, taints: list | None = None, unschedulable: bool = False,
         extra: dict | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": {"allocatable": alloc, "capacity": alloc}}


def pod(name: str, *, namespace: str = "default", cpu: str | None = None, memory: str | None = None,
        labels: dict | None = None, node_name: str | None = None, priority: int | None = None,
        **spec: Any) -> dict[str, Any]:
    requests = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    container = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    body = {"containers": [container], **spec}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "labels": labels or {}}, "spec": body}


def cluster(*nodes: dict, pods: tuple = ()) -> caches.Cache:
    c = caches.Cache()
    for n in nodes:
        c.add_node(n)
    for p in pods:
        c.add_pod(podinfo.PodInfo(p))
    return c


def framework(seed: int = 1, namespaces: dict | None = None):
    return plugins.default_framework(lambda ns: (namespaces or {}).get(ns), rng=random.Random(seed))


def schedule(c: caches.Cache, p: dict, seed: int = 1):
    return framework(seed).schedule(podinfo.PodInfo(p), c)
