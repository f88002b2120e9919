"""metrics.k8s.io/v1beta1: NodeMetrics and PodMetrics, as metrics-server serves them.

What ``kubectl top`` and autoscalers read. Upstream the group is an
aggregated API served by metrics-server; here the API server answers it
itself, from each kubelet's ``/stats/summary`` (stats/v1alpha1) fetched when
asked: CPU ``usageNanoCores`` as a nanocore quantity (``"12345678n"``,
canonical, as ``resource.NewScaledQuantity(n, -9)``), memory
``workingSetBytes`` as a binary quantity (``"40960Ki"``). The objects carry
the node's or pod's name, namespace and labels and a fresh
creationTimestamp, as metrics-server's do. A node whose kubelet does not
answer, and a pod or container without CPU and memory figures, are left
out; getting one by name then is a 404 ``nodemetrics.metrics.k8s.io "x" not
found`` / ``podmetrics.metrics.k8s.io "ns/x" not found``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from typing import Any

import orjson
from aiohttp import web

from kybernetes.api import quantities, registry, status
from kybernetes.apiserver import encoding, kubelets, selecting
from kybernetes.apiserver.requestinfo import RequestInfo

log = logging.getLogger(__name__)

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "10s"  # the kubelet's usageNanoCores covers its housekeeping interval
SCRAPE_TIMEOUT = 5.0

# Discovery, as metrics-server publishes it.
RESOURCES = (
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> str:
    """A stats timestamp (RFC 3339, maybe with nanoseconds) as metav1.Time prints it."""
    if not isinstance(value, str) or not value:
        return _now()
    try:
        t = datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", value).replace("Z", "+00:00"))
    except ValueError:
        return _now()
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(stats: dict) -> dict | None:
    cpu = (stats.get("cpu") or {}).get("usageNanoCores")
    memory = (stats.get("memory") or {}).get("workingSetBytes")
    if cpu is None or memory is None:
        return None
    return {"cpu": quantities.canonical(quantities.Quantity(int(cpu))),
            "memory": quantities.canonical(quantities.Quantity(int(memory) * 10**9, quantities.BINARY_SI))}


def node_metrics(node: dict, summary: dict) -> dict | None:
    stats = summary.get("node") or {}
    usage = _usage(stats)
    if usage is None:
        return None
    meta = node["metadata"]
    out_meta: dict = {"name": meta["name"], "creationTimestamp": _now()}
    if meta.get("labels"):
        out_meta["labels"] = meta["labels"]
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": out_meta,
            "timestamp": _time((stats.get("cpu") or {}).get("time")), "window": WINDOW, "usage": usage}


def pod_metrics(pod: dict, stats: dict) -> dict | None:
    containers, times = [], []
    for c in stats.get("containers") or []:
        usage = _usage(c)
        if usage is None:
            return None  # metrics-server drops a pod with incomplete container figures
        containers.append({"name": c.get("name", ""), "usage": usage})
        times.append(_time((c.get("cpu") or {}).get("time")))
    if not containers:
        return None
    meta = pod["metadata"]
    out_meta: dict = {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": _now()}
    if meta.get("labels"):
        out_meta["labels"] = meta["labels"]
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": out_meta,
            "timestamp": max(times), "window": WINDOW, "containers": containers}


async def _summary(client: kubelets.KubeletClient, node: dict) -> dict | None:
    try:
        loc = kubelets.location(node)
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            async with client.session().get(loc.url("/stats/summary?only_cpu_and_memory=true")) as r:
                if r.status != 200:
                    log.info("metrics: kubelet of node %s answered %s", node["metadata"]["name"], r.status)
                    return None
                return orjson.loads(await r.read())
    except Exception as e:  # noqa: BLE001 - an unreachable kubelet is skipped, as metrics-server does
        log.info("metrics: cannot scrape node %s: %s", node["metadata"]["name"], e)
        return None


def _selector(request: web.Request, plural: str):
    """The label and field selectors of a list, over the nodes or pods the
    metrics are of (metrics-server filters its node and pod listers)."""
    resource = registry.lookup("", "v1", plural)
    match, _ = selecting.predicate(resource, request.query.get("labelSelector", ""),
                                   request.query.get("fieldSelector", ""))
    return match


def _json(body: dict, code: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=code,
                        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"})


_COLUMNS = [{"name": "Name", "type": "string", "format": "name", "description": "Name of the resource",
             "priority": 0},
            {"name": "CPU", "type": "string", "format": "", "description": "CPU usage", "priority": 0},
            {"name": "Memory", "type": "string", "format": "", "description": "Memory usage", "priority": 0},
            {"name": "Window", "type": "string", "format": "",
             "description": "Interval from which metrics were collected", "priority": 0}]


def _total(usages: list[dict], key: str, fmt: str) -> str:
    total = quantities.Quantity(0, fmt)
    for u in usages:
        total = quantities.add(total, quantities.parse(u[key]))
    return quantities.canonical(quantities.Quantity(total.nanos, fmt))


def _table(items: list[dict], version: str) -> dict:
    """metrics-server's ConvertToTable: name, CPU, memory (summed over a
    pod's containers) and window."""
    rows = []
    for m in items:
        usages = [m["usage"]] if "usage" in m else [c["usage"] for c in m["containers"]]
        rows.append({"cells": [m["metadata"]["name"], _total(usages, "cpu", quantities.DECIMAL_SI),
                               _total(usages, "memory", quantities.BINARY_SI), m["window"]],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
                                "metadata": m["metadata"]}})
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": {},
            "columnDefinitions": _COLUMNS, "rows": rows}


def _respond(request: web.Request, body: dict) -> web.Response:
    rendering = encoding.negotiate(request.headers.get("Accept"))
    if rendering.as_ == "Table":
        items = body["items"] if "items" in body else [body]
        data, content_type = encoding.dumps(_table(items, rendering.version), rendering)
        return web.Response(body=data, headers={"Content-Type": content_type,
                                                "Cache-Control": "no-cache, private"})
    if rendering.format == "yaml":
        data, content_type = encoding.dumps(body, rendering)
        return web.Response(body=data, headers={"Content-Type": content_type,
                                                "Cache-Control": "no-cache, private"})
    return _json(body)


async def serve(request: web.Request, state: Any, info: RequestInfo) -> web.StreamResponse:
    if info.version != VERSION or info.resource not in ("nodes", "pods") or info.subresource:
        raise status.not_found_path()
    if info.resource == "nodes" and info.namespace:
        raise status.not_found_path()
    if info.verb not in ("get", "list"):
        raise status.error(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
    client: kubelets.KubeletClient = state.kubelet_client
    nodes_store = state.stores[("", "v1", "nodes")]
    if info.resource == "nodes":
        if info.name:
            node = await nodes_store.get("", info.name)
            summary = await _summary(client, node)
            item = node_metrics(node, summary) if summary else None
            if item is None:
                raise status.not_found("nodemetrics", GROUP, info.name)
            return _respond(request, item)
        nodes, _, _, _ = await nodes_store.list("", predicate=_selector(request, "nodes"))
        summaries = await asyncio.gather(*(_summary(client, n) for n in nodes))
        items = [m for n, s in zip(nodes, summaries) if s for m in [node_metrics(n, s)] if m]
        items.sort(key=lambda m: m["metadata"]["name"])
        return _respond(request, {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items})

    pods_store = state.stores[("", "v1", "pods")]
    if info.name:
        pod = await pods_store.get(info.namespace, info.name)
        pods = [pod]
    else:
        pods, _, _, _ = await pods_store.list(info.namespace, predicate=_selector(request, "pods"))
    by_node: dict[str, list[dict]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            by_node.setdefault(node, []).append(pod)
    items = []

    async def scrape(node_name: str, node_pods: list[dict]) -> None:
        try:
            node = await nodes_store.get("", node_name)
        except status.StatusError:
            return
        summary = await _summary(client, node)
        if not summary:
            return
        stats = {((p.get("podRef") or {}).get("namespace"), (p.get("podRef") or {}).get("name")): p
                 for p in summary.get("pods") or []}
        for pod in node_pods:
            s = stats.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
            m = pod_metrics(pod, s) if s else None
            if m is not None:
                items.append(m)

    await asyncio.gather(*(scrape(n, ps) for n, ps in by_node.items()))
    if info.name:
        if not items:
            raise status.not_found("podmetrics", GROUP, f"{info.namespace}/{info.name}")
        return _respond(request, items[0])
    items.sort(key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
    return _respond(request, {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items})
