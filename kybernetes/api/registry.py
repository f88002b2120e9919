"""The registry of kinds: every resource kube-apiserver 1.32 serves that we serve.

Pure data, one frozen ``Resource`` per (group, version, plural), with the names,
scope, short names, categories, verbs and subresources exactly as
kube-apiserver's discovery lists them, the OpenAPI definition of the kind, the
etcd key layout upstream uses, and the field selectors each kind accepts.
Discovery, OpenAPI, routing, storage keys and selectors all read from here, so
adding a kind means adding one record.

Two pairs of resources share one storage: events.k8s.io/v1 Events are core/v1
Events, and autoscaling/v1 HPAs are stored as autoscaling/v2. ``storage_gv``
names the version that is written; ``kybernetes.api.conversion`` converts.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)
SUB_RW = ("get", "patch", "update")
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """One subresource as discovery lists it (``pods/status``, ``deployments/scale``).

    ``group``/``version`` name the group version of ``kind`` when it differs from
    the parent's (Scale is autoscaling/v1, Eviction policy/v1); empty means the
    parent's own, as discovery's APIResource leaves them empty.
    """

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    definition: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    # Storage key root below /registry/ when it is not the plural ("minions", "services/specs").
    storage: str = ""
    # Field labels a fieldSelector may use beyond metadata.name/metadata.namespace, as
    # upstream's field label conversion for the kind accepts them.
    field_selectors: tuple[str, ...] = ()
    # Request field labels renamed before matching, as upstream's field label
    # conversion funcs do ("spec.host" -> "spec.nodeName").
    field_label_aliases: tuple[tuple[str, str], ...] = ()
    # Review kinds (tokenreviews, subjectaccessreviews...) are answered, never stored.
    virtual: bool = False
    # (group, version) objects are stored as, when another version shares the storage.
    stored_as: tuple[str, str] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def stored(self) -> bool:
        return not self.virtual and "create" in self.verbs and "get" in self.verbs

    @property
    def storage_root(self) -> str:
        return self.storage or self.plural

    @property
    def key_prefix(self) -> str:
        """``/registry/<storage>/``: the etcd prefix every object of this resource lives under."""
        return f"/registry/{self.storage_root}/"

    def key(self, namespace: str | None, name: str) -> str:
        """The storage key of one object, as kube-apiserver lays out etcd."""
        if self.namespaced:
            return f"{self.key_prefix}{namespace}/{name}"
        return f"{self.key_prefix}{name}"

    @property
    def storage_gv(self) -> tuple[str, str]:
        """The (group, version) written to storage for this resource."""
        return self.stored_as or (self.group, self.version)

    @property
    def storage_version_hash(self) -> str:
        """Discovery's ``storageVersionHash``: base64 of sha256("group/version/kind")[:8]."""
        group, version = self.storage_gv
        digest = hashlib.sha256(f"{group}/{version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    def subresource_gvk(self, name: str) -> tuple[str, str, str] | None:
        sub = self.subresource(name)
        if sub is None:
            return None
        if sub.group or sub.version:
            return sub.group, sub.version or self.version, sub.kind
        return self.group, self.version, sub.kind

    def field_label(self, label: str) -> str | None:
        """The selectable field a request's field label means, or None if unsupported."""
        aliases = dict(self.field_label_aliases)
        if label in ("metadata.name", "metadata.namespace") or label in self.field_selectors \
                or label in aliases:
            return aliases.get(label, label)
        return None


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, SUB_RW)


SCALE = Subresource("scale", "Scale", SUB_RW, "autoscaling", "v1")

CORE = "io.k8s.api.core.v1."

POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
)
INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
EVENT_FIELDS = tuple(f"involvedObject.{f}" for f in INVOLVED) + (
    "reason", "reportingComponent", "source", "type")
EVENTS_V1_ALIASES = tuple((f"regarding.{f}", f"involvedObject.{f}") for f in INVOLVED) + (
    ("reportingController", "reportingComponent"),)


def _core(kind: str, plural: str, namespaced: bool = True, singular: str = "",
          **kw: Any) -> Resource:
    return Resource("", "v1", kind, plural, singular or kind.lower(), namespaced, CORE + kind, **kw)


def _res(group: str, version: str, pkg: str, kind: str, plural: str, namespaced: bool = True,
         singular: str = "", **kw: Any) -> Resource:
    return Resource(group, version, kind, plural, singular or kind.lower(), namespaced,
                    f"io.k8s.api.{pkg}.{version}.{kind}", **kw)


_CORE_RESOURCES = (
    _core("Binding", "bindings", verbs=CREATE_ONLY, virtual=True),
    _core("ComponentStatus", "componentstatuses", False, short_names=("cs",),
          verbs=("get", "list"), virtual=True),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Endpoints", "endpoints", singular="endpoints", short_names=("ep",),
          storage="services/endpoints"),
    _core("Event", "events", short_names=("ev",), field_selectors=EVENT_FIELDS),
    _core("LimitRange", "limitranges", short_names=("limits",)),
    _core("Namespace", "namespaces", False, short_names=("ns",),
          verbs=tuple(v for v in ALL_VERBS if v != "deletecollection"),
          subresources=(Subresource("finalize", "Namespace", ("update",)), _status("Namespace")),
          field_selectors=("status.phase",)),
    _core("Node", "nodes", False, short_names=("no",), storage="minions",
          subresources=(Subresource("proxy", "NodeProxyOptions", PROXY_VERBS), _status("Node")),
          field_selectors=("spec.unschedulable",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
          subresources=(_status("PersistentVolumeClaim"),)),
    _core("PersistentVolume", "persistentvolumes", False, short_names=("pv",),
          subresources=(_status("PersistentVolume"),)),
    _core("Pod", "pods", short_names=("po",), categories=("all",), field_selectors=POD_FIELDS,
          field_label_aliases=(("spec.host", "spec.nodeName"),),
          subresources=(
              Subresource("attach", "PodAttachOptions", ("create", "get")),
              Subresource("binding", "Binding", CREATE_ONLY),
              Subresource("ephemeralcontainers", "Pod", SUB_RW),
              Subresource("eviction", "Eviction", CREATE_ONLY, "policy", "v1"),
              Subresource("exec", "PodExecOptions", ("create", "get")),
              Subresource("log", "Pod", ("get",)),
              Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
              Subresource("proxy", "PodProxyOptions", PROXY_VERBS),
              _status("Pod"),
          )),
    _core("PodTemplate", "podtemplates"),
    _core("ReplicationController", "replicationcontrollers", short_names=("rc",),
          categories=("all",), storage="controllers",
          subresources=(SCALE, _status("ReplicationController")),
          field_selectors=("status.replicas",)),
    _core("ResourceQuota", "resourcequotas", short_names=("quota",),
          subresources=(_status("ResourceQuota"),)),
    _core("Secret", "secrets", field_selectors=("type",)),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",),
          subresources=(Subresource("token", "TokenRequest", CREATE_ONLY,
                                    "authentication.k8s.io", "v1"),)),
    _core("Service", "services", short_names=("svc",), categories=("all",),
          storage="services/specs", field_selectors=("spec.clusterIP", "spec.type"),
          subresources=(Subresource("proxy", "ServiceProxyOptions", PROXY_VERBS),
                        _status("Service"))),
)

_APPS = tuple(
    _res("apps", "v1", "apps", kind, kind.lower() + "s", short_names=(short,), categories=("all",),
         subresources=((SCALE,) if scale else ()) + (_status(kind),),
         field_selectors=("status.replicas",) if kind == "ReplicaSet" else ())
    for kind, short, scale in (("DaemonSet", "ds", False), ("Deployment", "deploy", True),
                               ("ReplicaSet", "rs", True), ("StatefulSet", "sts", True))
)

_HPA: dict[str, Any] = {"kind": "HorizontalPodAutoscaler", "plural": "horizontalpodautoscalers",
        "short_names": ("hpa",), "categories": ("all",),
        "subresources": (_status("HorizontalPodAutoscaler"),)}

_GROUPED = (
    Resource("apiregistration.k8s.io", "v1", "APIService", "apiservices", "apiservice", False,
             "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
             categories=("api-extensions",), storage="apiregistration.k8s.io/apiservices",
             subresources=(_status("APIService"),)),
    _res("apps", "v1", "apps", "ControllerRevision", "controllerrevisions"),
    *_APPS,
    _res("events.k8s.io", "v1", "events", "Event", "events", short_names=("ev",),
         field_selectors=("reason", *(a for a, _ in EVENTS_V1_ALIASES), "source", "type"),
         field_label_aliases=EVENTS_V1_ALIASES, stored_as=("", "v1")),
    _res("authentication.k8s.io", "v1", "authentication", "SelfSubjectReview",
         "selfsubjectreviews", False, verbs=CREATE_ONLY, virtual=True),
    _res("authentication.k8s.io", "v1", "authentication", "TokenReview", "tokenreviews", False,
         verbs=CREATE_ONLY, virtual=True),
    _res("authorization.k8s.io", "v1", "authorization", "LocalSubjectAccessReview",
         "localsubjectaccessreviews", verbs=CREATE_ONLY, virtual=True),
    *(_res("authorization.k8s.io", "v1", "authorization", kind, kind.lower() + "s", False,
           verbs=CREATE_ONLY, virtual=True)
      for kind in ("SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview")),
    _res("autoscaling", "v2", "autoscaling", **_HPA),
    _res("autoscaling", "v1", "autoscaling", **_HPA, stored_as=("autoscaling", "v2")),
    _res("batch", "v1", "batch", "CronJob", "cronjobs", short_names=("cj",), categories=("all",),
         subresources=(_status("CronJob"),)),
    _res("batch", "v1", "batch", "Job", "jobs", categories=("all",),
         subresources=(_status("Job"),), field_selectors=("status.successful",)),
    _res("networking.k8s.io", "v1", "networking", "IngressClass", "ingressclasses", False,
         singular="ingressclass"),
    _res("networking.k8s.io", "v1", "networking", "Ingress", "ingresses", short_names=("ing",),
         singular="ingress", storage="ingress", subresources=(_status("Ingress"),)),
    _res("networking.k8s.io", "v1", "networking", "NetworkPolicy", "networkpolicies",
         short_names=("netpol",), singular="networkpolicy"),
    _res("policy", "v1", "policy", "PodDisruptionBudget", "poddisruptionbudgets",
         short_names=("pdb",), subresources=(_status("PodDisruptionBudget"),)),
    *(_res("rbac.authorization.k8s.io", "v1", "rbac", kind, kind.lower() + "s", namespaced)
      for kind, namespaced in (("ClusterRoleBinding", False), ("ClusterRole", False),
                               ("RoleBinding", True), ("Role", True))),
    _res("storage.k8s.io", "v1", "storage", "StorageClass", "storageclasses", False,
         short_names=("sc",), singular="storageclass"),
    _res("scheduling.k8s.io", "v1", "scheduling", "PriorityClass", "priorityclasses", False,
         short_names=("pc",), singular="priorityclass"),
    _res("coordination.k8s.io", "v1", "coordination", "Lease", "leases"),
    _res("discovery.k8s.io", "v1", "discovery", "EndpointSlice", "endpointslices"),
)

# Groups and their versions in kube-apiserver's discovery order (core first).
_GROUP_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("v1",)),
    ("apiregistration.k8s.io", ("v1",)),
    ("apps", ("v1",)),
    ("events.k8s.io", ("v1",)),
    ("authentication.k8s.io", ("v1",)),
    ("authorization.k8s.io", ("v1",)),
    ("autoscaling", ("v2", "v1")),
    ("batch", ("v1",)),
    ("networking.k8s.io", ("v1",)),
    ("policy", ("v1",)),
    ("rbac.authorization.k8s.io", ("v1",)),
    ("storage.k8s.io", ("v1",)),
    ("scheduling.k8s.io", ("v1",)),
    ("coordination.k8s.io", ("v1",)),
    ("discovery.k8s.io", ("v1",)),
)


@functools.cache
def all_resources() -> tuple[Resource, ...]:
    """Every served resource, grouped in discovery order, by plural within a group version."""
    order = {(g, v): (i, j) for i, (g, vs) in enumerate(_GROUP_ORDER) for j, v in enumerate(vs)}
    every = _CORE_RESOURCES + _GROUPED
    return tuple(sorted(every, key=lambda r: (order[(r.group, r.version)], r.plural)))


@functools.cache
def _by_plural() -> dict[tuple[str, str, str], Resource]:
    return {(r.group, r.version, r.plural): r for r in all_resources()}


@functools.cache
def _by_kind() -> dict[tuple[str, str, str], Resource]:
    return {(r.group, r.version, r.kind): r for r in all_resources()}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _by_plural().get((group, version, plural))


def by_kind(group: str, version: str, kind: str) -> Resource | None:
    return _by_kind().get((group, version, kind))


def by_api_version(api_version: str, kind: str) -> Resource | None:
    """The resource of an object's ``apiVersion`` and ``kind`` ("apps/v1", "Deployment")."""
    group, _, version = api_version.rpartition("/")
    return by_kind(group, version, kind)


def resources_in(group: str, version: str) -> tuple[Resource, ...]:
    """The resources of one group version, sorted by plural as discovery lists them."""
    return tuple(r for r in all_resources() if r.group == group and r.version == version)


def group_versions() -> list[tuple[str, list[str]]]:
    """Served groups in discovery order, each with its versions, preferred first."""
    return [(g, list(vs)) for g, vs in _GROUP_ORDER]


def preferred_version(group: str) -> str | None:
    return next((vs[0] for g, vs in _GROUP_ORDER if g == group), None)


def sharing_storage(resource: Resource) -> tuple[Resource, ...]:
    """Every resource (this one included) whose objects live under the same keys."""
    return tuple(r for r in all_resources()
                 if r.stored and r.key_prefix == resource.key_prefix and r.kind == resource.kind)


def find(name: str) -> list[Resource]:
    """Resources a kubectl-style name means: plural, singular, short name or kind,
    optionally qualified by group ("deploy", "deployments.apps", "hpa.autoscaling");
    preferred versions first."""
    name = name.lower()
    base, _, group = name.partition(".")
    found = [r for r in all_resources()
             if base in (r.plural, r.singular, r.kind.lower(), *r.short_names)
             and (not group or r.group == group or r.group.startswith(group + "."))]
    return sorted(found, key=lambda r: r.version != preferred_version(r.group))
