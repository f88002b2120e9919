"""Discovery: what the server serves, in the legacy and the aggregated form.

kubectl asks ``/api`` and ``/apis`` for aggregated discovery
(apidiscovery.k8s.io/v2) and recognises it by the response Content-Type
alone; other clients read APIVersions, APIGroupList and the per-group-version
APIResourceLists. All of it is computed once from the registry.
"""

from __future__ import annotations

import functools

import orjson

from kybernetes.api import registry
from kybernetes.apiserver import metrics

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str | None:
    """The aggregated version the Accept header asks for first, if any."""
    for part in (accept or "").split(","):
        p = part.replace(" ", "")
        if "g=apidiscovery.k8s.io" in p and "as=APIGroupDiscoveryList" in p:
            if "v=v2beta1" in p:
                return "v2beta1"
            if "v=v2" in p:
                return "v2"
    return None


def _api_resource(r: registry.Resource) -> dict:
    entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
             "kind": r.kind, "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.stored:
        entry["storageVersionHash"] = r.storage_version_hash
    return entry


def _sub_api_resource(r: registry.Resource, s: registry.Subresource) -> dict:
    entry = {"name": f"{r.plural}/{s.name}", "singularName": "", "namespaced": r.namespaced,
             "kind": s.kind, "verbs": list(s.verbs)}
    if s.group or s.version:
        entry["group"] = s.group
        entry["version"] = s.version or r.version
    return entry


@functools.cache
def resource_list(group: str, version: str) -> bytes | None:
    if (group, version) == (metrics.GROUP, metrics.VERSION):
        return orjson.dumps({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": metrics.API_VERSION,
                             "resources": list(metrics.RESOURCES)})
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    entries = []
    for r in resources:
        entries.append(_api_resource(r))
        for s in r.subresources:
            entries.append(_sub_api_resource(r, s))
    gv = f"{group}/{version}" if group else version
    return orjson.dumps({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                         "resources": entries})


@functools.cache
def api_versions() -> bytes:
    return orjson.dumps({"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": "127.0.0.1:6443"}]})


def _group(group: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


@functools.cache
def api_group_list() -> bytes:
    groups = [_group(g, vs) for g, vs in registry.group_versions() if g]
    groups.append(_group(metrics.GROUP, [metrics.VERSION]))  # an aggregated API upstream (metrics-server)
    return orjson.dumps({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})


@functools.cache
def api_group(group: str) -> bytes | None:
    if group == metrics.GROUP:
        return orjson.dumps({"kind": "APIGroup", "apiVersion": "v1", **_group(group, [metrics.VERSION])})
    for g, vs in registry.group_versions():
        if g == group and g:
            return orjson.dumps({"kind": "APIGroup", "apiVersion": "v1", **_group(g, vs)})
    return None


def _aggregated_resource(r: registry.Resource) -> dict:
    entry: dict = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = []
    for s in r.subresources:
        g, v, k = r.subresource_gvk(s.name) or (r.group, r.version, s.kind)
        subs.append({"subresource": s.name, "responseKind": {"group": g, "version": v, "kind": k},
                     "verbs": list(s.verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


@functools.cache
def aggregated(core: bool, version: str = "v2") -> bytes:
    """APIGroupDiscoveryList for ``/api`` (core) or ``/apis``."""
    items = []
    for group, versions in registry.group_versions():
        if bool(group) == core:
            continue
        item = {"metadata": {"name": group, "creationTimestamp": None}, "versions": [
            {"version": v, "resources": [_aggregated_resource(r) for r in registry.resources_in(group, v)],
             "freshness": "Current"} for v in versions]}
        items.append(item)
    if not core:
        items.append(_metrics_discovery())
    return orjson.dumps({"kind": "APIGroupDiscoveryList",
                         "apiVersion": f"apidiscovery.k8s.io/{version}",
                         "metadata": {}, "items": items})


def _metrics_discovery() -> dict:
    """metrics.k8s.io in the aggregated form (served by apiserver.metrics)."""
    resources = [{"resource": r["name"],
                  "responseKind": {"group": metrics.GROUP, "version": metrics.VERSION, "kind": r["kind"]},
                  "scope": "Namespaced" if r["namespaced"] else "Cluster",
                  "singularResource": r["singularName"], "verbs": list(r["verbs"])}
                 for r in metrics.RESOURCES]
    return {"metadata": {"name": metrics.GROUP, "creationTimestamp": None},
            "versions": [{"version": metrics.VERSION, "resources": resources, "freshness": "Current"}]}
