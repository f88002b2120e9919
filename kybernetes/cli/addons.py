"""Addons ``kyb server`` installs at start, as k3s applies its manifests
directory: today the cluster DNS (``kyb dns`` as the ``coredns`` Deployment
behind the ``kube-dns`` Service in ``kube-system``).

Each object is created when missing and otherwise left alone (the addon
manager's ``EnsureExists`` mode, whose label the objects carry), so a user's
edits, a scaled Deployment or a changed Corefile-equivalent flag, survive
restarts. ``--disable dns`` leaves the addon out; objects made by an earlier
start stay until deleted.

The DNS pod runs the image ``kybernetes/kyb:<version>``. No registry is
reachable, so unless such an image was imported the kubelet runs it on the
host's root filesystem (read-only), where this Python and this package are:
the container runs ``sys.executable -m kybernetes.cli.main dns`` with
``PYTHONPATH`` at the package's root, talking to the API server through the
pod's service-account token and ``kubernetes`` Service (in-cluster config).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import kybernetes
from kybernetes.api import registry, status
from kybernetes.client import rest

log = logging.getLogger(__name__)

KNOWN = {"dns": "dns", "coredns": "dns"}  # --disable names (k3s calls it coredns)
# k3s's packaged components we do not have: accepted by --disable, nothing to leave out.
K3S_ONLY = ("servicelb", "traefik", "local-storage", "metrics-server", "runtimes")
ENSURE_EXISTS = {"addonmanager.kubernetes.io/mode": "EnsureExists"}
DNS_LABELS = {"k8s-app": "kube-dns"}
IMAGE = f"kybernetes/kyb:v{kybernetes.__version__}"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(kybernetes.__file__)))
# `--dns-upstream none`: `kyb dns` forwards to a closed port on the pod's own
# loopback, refused at once, so names outside the cluster are SERVFAIL
# without a packet leaving the pod.
NO_UPSTREAM = "127.0.0.1:9"


class AddonError(Exception):
    """A bad addon flag."""


def disabled(values: list[str]) -> set[str]:
    """``--disable`` values (repeatable, comma lists) as addon names."""
    out = set()
    for value in values:
        for name in (v.strip().lower() for v in value.split(",")):
            if not name or name in K3S_ONLY:
                continue
            if name not in KNOWN:
                raise AddonError(f"--disable {name}: unknown addon (known: {', '.join(sorted(KNOWN))})")
            out.add(KNOWN[name])
    return out


def dns_upstream_args(upstream: str | None) -> list[str]:
    """``kyb dns`` flags for ``--dns-upstream``: unset, the pod's resolv.conf
    (dnsPolicy Default: the node's resolvers, CoreDNS's ``forward . /etc/resolv.conf``);
    ``none``, no forwarding; else HOST[:PORT] values, comma separated."""
    if not upstream:
        return []
    if upstream.strip().lower() == "none":
        return ["--upstream", NO_UPSTREAM]
    return [arg for u in upstream.split(",") if u.strip() for arg in ("--upstream", u.strip())]


def dns_objects(*, cluster_dns: str, cluster_domain: str, upstream: str | None) -> list[dict]:
    """The DNS addon's objects, as k3s's coredns.yaml lays them out."""
    meta = {"namespace": "kube-system"}
    labels = {**DNS_LABELS, **ENSURE_EXISTS, "kubernetes.io/name": "kyb-dns"}
    command = [sys.executable, "-m", "kybernetes.cli.main", "dns", "--port", "53",
               "--cluster-domain", cluster_domain, *dns_upstream_args(upstream)]
    container = {
        "name": "coredns", "image": IMAGE, "imagePullPolicy": "IfNotPresent", "command": command,
        "env": [{"name": "PYTHONPATH", "value": PACKAGE_ROOT},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"},
                          "initialDelaySeconds": 60, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"},
                           "periodSeconds": 2, "timeoutSeconds": 1, "successThreshold": 1,
                           "failureThreshold": 3},
    }
    pod_spec = {
        "serviceAccountName": "coredns",
        "priorityClassName": "system-cluster-critical",
        "dnsPolicy": "Default",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"},
                        {"key": "node-role.kubernetes.io/master", "operator": "Exists",
                         "effect": "NoSchedule"}],
        "containers": [container],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {**meta, "name": "coredns", "labels": dict(ENSURE_EXISTS)}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:coredns", "labels": {**ENSURE_EXISTS,
                                                           "kubernetes.io/bootstrapping": "rbac-defaults"}},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns", "labels": {**ENSURE_EXISTS,
                                                           "kubernetes.io/bootstrapping": "rbac-defaults"}},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {**meta, "name": "kube-dns", "labels": {**labels, "kubernetes.io/cluster-service": "true"},
                      "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
         "spec": {"selector": dict(DNS_LABELS), "clusterIP": cluster_dns, "clusterIPs": [cluster_dns],
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {**meta, "name": "coredns", "labels": labels},
         "spec": {"replicas": 1, "revisionHistoryLimit": 0,
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                  "selector": {"matchLabels": dict(DNS_LABELS)},
                  "template": {"metadata": {"labels": dict(DNS_LABELS)}, "spec": pod_spec}}},
    ]


def _resource(obj: dict) -> registry.Resource:
    res = registry.by_api_version(obj["apiVersion"], obj["kind"])
    assert res is not None, f"{obj['apiVersion']} {obj['kind']} is not served"
    return res


async def ensure(client: rest.Client, objects: list[dict]) -> list[str]:
    """Create each object that is missing; returns what was created."""
    created = []
    for obj in objects:
        res = _resource(obj)
        meta = obj["metadata"]
        namespace = meta.get("namespace") if res.namespaced else None
        try:
            await client.get(res, meta["name"], namespace)
            continue
        except status.StatusError as e:
            if e.code != 404:
                raise
        try:
            await client.create(res, obj, namespace)
            created.append(f"{res.plural}/{meta['name']}")
        except status.StatusError as e:
            if e.code != 409:  # made meanwhile: left alone as well
                raise
    return created


async def run(client: rest.Client, objects: list[dict], *, retry: float = 2.0) -> None:
    """``ensure`` until it succeeds once (the API server may still be
    settling); a failure is logged and retried, never fatal."""
    while True:
        try:
            created = await ensure(client, objects)
            if created:
                log.info("addons: created %s", ", ".join(created))
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - retried
            log.warning("addons: %s; retrying", e)
            await asyncio.sleep(retry)
