"""Per-namespace objects every pod relies on: the ``default`` ServiceAccount and
the ``kube-root-ca.crt`` ConfigMap.

``ServiceAccountController`` is kube-controller-manager's serviceaccount
controller: every Active namespace gets a ``default`` ServiceAccount, made
again when deleted. ``RootCACertPublisher`` is its root-ca-cert-publisher:
every namespace gets a ``kube-root-ca.crt`` ConfigMap holding the cluster CA
under ``ca.crt`` with upstream's ``kubernetes.io/description`` annotation,
and edits to it are put back. Both are keyed by namespace name; the
projected service account volume admission adds to pods reads that ConfigMap.

The CA comes from ``Settings.root_ca_pem`` or, failing that, the controller
manager's own kubeconfig (``certificate-authority-data`` or the file it
names): inside ``kyb server`` that is the cluster CA that signed the API
server's certificate.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api import registry, status
from kybernetes.client import controller, indexer, rest
from kybernetes.controllers.context import Context

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
               "endpoints such as the internal service IP or kubernetes.default.svc. No other usage "
               "is guaranteed across distributions of Kubernetes clusters.")


def namespace_terminating(e: status.StatusError) -> bool:
    """A create refused because the namespace is going away (NamespaceLifecycle admission)."""
    causes = (e.status.get("details") or {}).get("causes") or []
    return e.code == 403 and (any(c.get("reason") == "NamespaceTerminating" for c in causes)
                              or "because it is being terminated" in e.message)


async def try_create(client: rest.Client, res: registry.Resource, body: dict, namespace: str) -> None:
    """Create ``body`` in ``namespace``; nothing to retry when it exists already (the
    cache is behind: its event follows) or its namespace is gone or terminating (upstream)."""
    try:
        await client.create(res, body, namespace)
    except status.StatusError as e:
        if e.code in (404, 409) or namespace_terminating(e):
            return
        raise


class ServiceAccountController:
    name = "serviceaccount"

    def __init__(self, ctx: Context):
        self.client = ctx.client
        self.settings = ctx.settings
        self.namespaces = ctx.informer("", "v1", "namespaces")
        self.accounts = ctx.informer("", "v1", "serviceaccounts")
        self.queue = ctx.queue("serviceaccount")
        self.namespaces.add_event_handler(self._namespace, lambda old, new: self._namespace(new))
        self.accounts.add_event_handler(on_delete=self._account_deleted)

    def _namespace(self, ns: dict) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _account_deleted(self, sa: dict) -> None:
        if sa["metadata"]["name"] == DEFAULT_SERVICE_ACCOUNT:
            self.queue.add(sa["metadata"]["namespace"])

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.settings.workers, self.name, shutdown=True)

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or (ns.get("status") or {}).get("phase", "Active") != "Active" \
                or ns["metadata"].get("deletionTimestamp"):
            return
        if self.accounts.store.get_by(key, DEFAULT_SERVICE_ACCOUNT) is not None:
            return
        await try_create(self.client, self.accounts.resource,
                                   {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}, key)


def cluster_ca(ctx: Context) -> bytes:
    """The CA bundle to publish: the setting, else the client's kubeconfig CA."""
    if ctx.settings.root_ca_pem:
        return ctx.settings.root_ca_pem
    config = ctx.client.config
    if config.ca_data:
        return config.ca_data
    if config.ca_file:
        with open(config.ca_file, "rb") as f:
            return f.read()
    raise ValueError("root-ca-cert-publisher: no cluster CA (set root_ca_pem or use a kubeconfig "
                     "with certificate-authority)")


class RootCACertPublisher:
    name = "root-ca-cert-publisher"

    def __init__(self, ctx: Context, root_ca: bytes | None = None):
        self.client: rest.Client = ctx.client
        self.settings = ctx.settings
        self.root_ca = (root_ca or cluster_ca(ctx)).decode()
        self.namespaces = ctx.informer("", "v1", "namespaces")
        self.configmaps = ctx.informer("", "v1", "configmaps",
                                       field_selector=f"metadata.name={ROOT_CA_CONFIGMAP}")
        self.queue = ctx.queue("root_ca_cert_publisher")
        self.namespaces.add_event_handler(self._namespace_added, self._namespace_updated)
        self.configmaps.add_event_handler(
            on_update=lambda old, new: self._configmap(new), on_delete=self._configmap)

    def _namespace_added(self, ns: dict) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _namespace_updated(self, old: dict, new: dict) -> None:
        if (new.get("status") or {}).get("phase", "Active") == "Active":
            self.queue.add(new["metadata"]["name"])

    def _configmap(self, cm: dict) -> None:
        if cm["metadata"]["name"] == ROOT_CA_CONFIGMAP:
            self.queue.add(cm["metadata"]["namespace"])

    async def run(self) -> None:
        await controller.run_workers(self.queue, self.sync, self.settings.workers, self.name, shutdown=True)

    async def sync(self, key: str) -> None:
        data = {"ca.crt": self.root_ca}
        cm = self.configmaps.store.get(indexer.key_of({"metadata": {"namespace": key,
                                                                     "name": ROOT_CA_CONFIGMAP}}))
        if cm is None:
            body = {"metadata": {"name": ROOT_CA_CONFIGMAP,
                                 "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data}
            await try_create(self.client, self.configmaps.resource, body, key)
            return
        annotations = cm["metadata"].get("annotations") or {}
        if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        cm = copy.deepcopy(cm)
        cm["data"] = data
        cm["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
        await self.client.update(self.configmaps.resource, cm)
