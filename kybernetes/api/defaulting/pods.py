"""Pod and pod template defaults: SetDefaults_PodSpec, SetDefaults_Container, probes, volumes, resources.

Mirrors core/v1's ``SetObjectDefaults_Pod`` walk: pod spec policies
(restartPolicy Always, dnsPolicy ClusterFirst, a 30 s grace period,
default-scheduler, an empty securityContext), container pull policy from the
image tag, termination message path and policy, TCP ports, probe timings,
volume file modes, downward API field versions, and resource quantities
rounded up to milli precision in canonical form. ``SetDefaults_Pod`` adds what
only real pods get (requests copied from limits, enableServiceLinks, host
ports under hostNetwork); templates of workloads do not get those.

Encoding note: Go always serializes a container's ``resources`` struct and a
template's zero ``creationTimestamp`` (as null); they are filled in here so
objects read back exactly as kube-apiserver returns them.
"""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api import quantities

TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_GRACE_PERIOD = 30
FILE_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
TOKEN_EXPIRATION = 3600


def missing(obj: dict[str, Any], key: str) -> bool:
    """Go's zero value test for a field: absent, null or empty string."""
    return obj.get(key) in (None, "")


def dict_at(obj: Any, key: str) -> dict[str, Any] | None:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else None


def dict_field(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]``, first set to ``{}`` when absent or not an object (a Go struct field
    that is never nil)."""
    v = obj.get(key)
    if not isinstance(v, dict):
        v = obj[key] = {}
    return v


def dicts_at(obj: Any, key: str) -> list[dict[str, Any]]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|[-]+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def image_tag(image: str) -> str:
    """The tag parsers.ParseImageName finds: "latest" when none, "" for digests or invalid names."""
    m = _REFERENCE.fullmatch(image)
    if m is None or len(m.group("name")) > 255 or re.fullmatch(r"[a-f0-9]{64}", m.group("name")):
        return ""
    if m.group("tag"):
        return m.group("tag")
    return "" if m.group("digest") else "latest"


def round_resource_list(resources: Any) -> None:
    """SetDefaults_ResourceList: quantities rounded up to milli, written canonically."""
    if not isinstance(resources, dict):
        return
    for name, raw in list(resources.items()):
        try:
            resources[name] = quantities.canonical(quantities.round_up(quantities.parse(raw), -3))
        except (ValueError, TypeError):
            pass  # left as is: the decoder/validation reports it


def _http_get(action: Any) -> None:
    if isinstance(action, dict):
        if missing(action, "path"):
            action["path"] = "/"
        if missing(action, "scheme"):
            action["scheme"] = "HTTP"


def default_probe(probe: dict[str, Any]) -> None:
    for name, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(name):
            probe[name] = value
    _http_get(probe.get("httpGet"))
    grpc = dict_at(probe, "grpc")
    if grpc is not None and grpc.get("service") is None:
        grpc["service"] = ""


def _field_ref(selector: Any) -> None:
    if isinstance(selector, dict) and missing(selector, "apiVersion"):
        selector["apiVersion"] = "v1"


def default_container(c: dict[str, Any]) -> None:
    if missing(c, "imagePullPolicy"):
        image = c.get("image") if isinstance(c.get("image"), str) else ""
        c["imagePullPolicy"] = "Always" if image_tag(image) == "latest" else "IfNotPresent"
    if missing(c, "terminationMessagePath"):
        c["terminationMessagePath"] = TERMINATION_MESSAGE_PATH
    if missing(c, "terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    for port in dicts_at(c, "ports"):
        if missing(port, "protocol"):
            port["protocol"] = "TCP"
    for env in dicts_at(c, "env"):
        value_from = dict_at(env, "valueFrom")
        if value_from is not None:
            _field_ref(value_from.get("fieldRef"))
    resources = dict_field(c, "resources")
    round_resource_list(resources.get("limits"))
    round_resource_list(resources.get("requests"))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = dict_at(c, name)
        if probe is not None:
            default_probe(probe)
    lifecycle = dict_at(c, "lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            handler = dict_at(lifecycle, hook)
            if handler is not None:
                _http_get(handler.get("httpGet"))


_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                   "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                   "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                   "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
                   "image")


def default_volume_sources(src: dict[str, Any]) -> None:
    """Defaults inside volume sources (shared by pod volumes and persistent volumes)."""
    host_path = dict_at(src, "hostPath")
    if host_path is not None and host_path.get("type") is None:
        host_path["type"] = ""
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        body = dict_at(src, kind)
        if body is not None and body.get("defaultMode") is None:
            body["defaultMode"] = FILE_MODE
    for item in dicts_at(dict_at(src, "downwardAPI") or {}, "items"):
        _field_ref(item.get("fieldRef"))
    for source in dicts_at(dict_at(src, "projected") or {}, "sources"):
        for item in dicts_at(dict_at(source, "downwardAPI") or {}, "items"):
            _field_ref(item.get("fieldRef"))
        token = dict_at(source, "serviceAccountToken")
        if token is not None and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = TOKEN_EXPIRATION
    for kind, defaults in (("iscsi", (("iscsiInterface", "default"),)),
                           ("rbd", (("pool", "rbd"), ("user", "admin"), ("keyring", "/etc/ceph/keyring"))),
                           ("scaleIO", (("storageMode", "ThinProvisioned"), ("fsType", "xfs"))),
                           ("azureDisk", (("cachingMode", "ReadWrite"), ("fsType", "ext4"), ("readOnly", False),
                                          ("kind", "Shared")))):
        body = dict_at(src, kind)
        if body is not None:
            for key, value in defaults:
                if body.get(key) in (None, "") and not (key == "readOnly" and body.get(key) is False):
                    body[key] = value
    ephemeral = dict_at(src, "ephemeral")
    template = dict_at(ephemeral, "volumeClaimTemplate") if ephemeral is not None else None
    if template is not None:
        spec = template.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pvc_spec(spec)
        meta = template.setdefault("metadata", {})
        if isinstance(meta, dict) and "creationTimestamp" not in meta:
            meta["creationTimestamp"] = None


def default_pvc_spec(spec: dict[str, Any]) -> None:
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    resources = dict_at(spec, "resources")
    if resources is not None:
        round_resource_list(resources.get("limits"))
        round_resource_list(resources.get("requests"))


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and the defaults of everything inside a pod spec."""
    if missing(spec, "dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if missing(spec, "restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_GRACE_PERIOD
    if missing(spec, "schedulerName"):
        spec["schedulerName"] = DEFAULT_SCHEDULER
    for vol in dicts_at(spec, "volumes"):
        if not any(vol.get(k) is not None for k in _VOLUME_SOURCES):
            vol["emptyDir"] = {}
        default_volume_sources(vol)
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for c in dicts_at(spec, kind):
            default_container(c)
    round_resource_list(spec.get("overhead"))
    resources = dict_at(spec, "resources")
    if resources is not None:
        round_resource_list(resources.get("limits"))
        round_resource_list(resources.get("requests"))


def default_pod_template(template: Any) -> None:
    """A PodTemplateSpec inside a workload: pod spec defaults, not SetDefaults_Pod."""
    if not isinstance(template, dict):
        return
    meta = template.setdefault("metadata", {})
    if isinstance(meta, dict) and "creationTimestamp" not in meta:
        meta["creationTimestamp"] = None
    spec = template.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)


def _sync_ips(status: dict[str, Any], single: str, plural: str) -> None:
    """The v1<->internal conversion keeps podIP/podIPs[0] (hostIP/hostIPs[0]) in step."""
    ips = dicts_at(status, plural)
    if not missing(status, single) and not ips:
        status[plural] = [{"ip": status[single]}]
    elif ips and missing(status, single) and isinstance(ips[0].get("ip"), str):
        status[single] = ips[0]["ip"]


def default_pod(pod: dict[str, Any]) -> None:
    """SetObjectDefaults_Pod: SetDefaults_Pod, then the pod spec."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for kind in ("containers", "initContainers"):
        for c in dicts_at(spec, kind):
            res = c.setdefault("resources", {})
            limits = dict_at(res, "limits") if isinstance(res, dict) else None
            if limits is not None:
                requests = res.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, value in limits.items():
                        requests.setdefault(name, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork") is True:
        for kind in ("containers", "initContainers"):
            for c in dicts_at(spec, kind):
                for port in dicts_at(c, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort", 0)
    default_pod_spec(spec)
    status = pod.setdefault("status", {})
    if isinstance(status, dict):
        _sync_ips(status, "podIP", "podIPs")
        _sync_ips(status, "hostIP", "hostIPs")
        for kind in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
            for cs in dicts_at(status, kind):
                round_resource_list(cs.get("allocatedResources"))
