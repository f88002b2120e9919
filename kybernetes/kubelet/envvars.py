"""A container's environment, as the kubelet computes it (makeEnvironmentVariables).

Order of precedence, lowest first: service links (``<SVC>_SERVICE_HOST`` ...
and the docker-link variables, for the pod's namespace when
``enableServiceLinks`` and always for ``default/kubernetes``), then
``envFrom`` (ConfigMaps and Secrets, keys prefixed, invalid names skipped with
an ``InvalidEnvironmentVariableNames`` event), then ``env`` (values with
``$(VAR)`` expanded against what is defined so far and the service
variables; ``valueFrom`` fieldRef, resourceFieldRef, configMapKeyRef,
secretKeyRef). A missing ConfigMap/Secret/key that is not optional raises
``EnvError`` with the kubelet's message (the pod shows
CreateContainerConfigError).
"""

from __future__ import annotations

import re
from typing import Callable

from kybernetes.api.status import StatusError
from kybernetes.client import rest
from kybernetes.kubelet.volumes import expansion, fieldpath, sources

MASTER_SERVICES = ("kubernetes",)
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

Recorder = Callable[[str, str], None]  # (reason, message): a Warning event on the pod


class EnvError(Exception):
    """The container's env cannot be made; the message is the kubelet's."""


def is_env_var_name(name: str) -> bool:
    """validation.IsEnvVarName."""
    return bool(_ENV_VAR_NAME.match(name))


def _service_ip_set(svc: dict) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def _var_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def from_services(services: list[dict]) -> dict[str, str]:
    """envvars.FromServices: host, ports, and the docker-link variables of each service."""
    out: dict[str, str] = {}
    for svc in services:
        if not _service_ip_set(svc):
            continue
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            continue
        ip = spec["clusterIP"]
        prefix = _var_name(svc["metadata"]["name"])
        out[prefix + "_SERVICE_HOST"] = ip
        out[prefix + "_SERVICE_PORT"] = str(ports[0].get("port"))
        for p in ports:
            if p.get("name"):
                out[f"{prefix}_SERVICE_PORT_{_var_name(p['name'])}"] = str(p.get("port"))
        for i, p in enumerate(ports):
            protocol = (p.get("protocol") or "TCP")
            url = f"{protocol.lower()}://{_join_host_port(ip, p.get('port'))}"
            if i == 0:
                out[prefix + "_PORT"] = url
            pp = f"{prefix}_PORT_{p.get('port')}_{protocol.upper()}"
            out[pp] = url
            out[pp + "_PROTO"] = protocol.lower()
            out[pp + "_PORT"] = str(p.get("port"))
            out[pp + "_ADDR"] = ip
    return out


def service_env(services: list[dict], namespace: str, enable_service_links: bool) -> dict[str, str]:
    """getServiceEnvVarMap: the pod namespace's services (when enabled) and the master
    service of ``default`` (always); a same-named service of the pod's namespace wins."""
    chosen: dict[str, dict] = {}
    for svc in services:
        if not _service_ip_set(svc):
            continue
        meta = svc.get("metadata") or {}
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if ns == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)
        elif ns == namespace and enable_service_links:
            chosen[name] = svc
    return from_services(list(chosen.values()))


async def _services(client: rest.Client, namespace: str, enable: bool) -> list[dict]:
    out: list[dict] = []
    try:
        if enable:
            out.extend((await client.list(sources.SERVICES, namespace)).get("items") or [])
        if not enable or namespace != "default":
            try:
                out.append(await client.get(sources.SERVICES, "kubernetes", "default"))
            except StatusError as e:
                if e.code != 404:
                    raise
    except (StatusError, rest.ClientError) as e:
        raise EnvError(f"failed to list services when setting up env vars: {e}") from e
    for svc in out:
        svc.setdefault("metadata", {}).setdefault("namespace", namespace)
    return out


def _field_value(pod: dict, field_path: str) -> str:
    """podFieldSelectorRuntimeValue."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if field_path == "spec.nodeName":
        return spec.get("nodeName", "")
    if field_path == "spec.serviceAccountName":
        return spec.get("serviceAccountName", "")
    if field_path == "status.hostIP":
        return status.get("hostIP", "")
    if field_path == "status.hostIPs":
        return _ips(status, "hostIP")
    if field_path == "status.podIP":
        return status.get("podIP", "")
    if field_path == "status.podIPs":
        return _ips(status, "podIP")
    return fieldpath.pod_field(pod, field_path)


def _ips(status: dict, field: str) -> str:
    """``status.hostIPs`` / ``status.podIPs`` joined by commas; the singular field when the list is unset."""
    ips = [i.get("ip") for i in status.get(field + "s") or []] or ([status[field]] if status.get(field) else [])
    return ",".join(ips)


class _Cache:
    """ConfigMaps and Secrets read once per call, as makeEnvironmentVariables keeps them."""

    def __init__(self, client: rest.Client, namespace: str):
        self.client, self.namespace = client, namespace
        self.config_maps: dict[str, dict | None] = {}
        self.secrets: dict[str, dict | None] = {}

    async def data(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        """The ``ConfigMap``'s data or the ``Secret``'s values (decoded); None
        for an optional one that does not exist."""
        if kind == "ConfigMap":
            obj = await self._read(self.config_maps, sources.config_map, name, optional)
            return None if obj is None else dict(obj.get("data") or {})
        obj = await self._read(self.secrets, sources.secret, name, optional)
        return None if obj is None else {k: v.decode(errors="replace") for k, v in sources.secret_data(obj).items()}

    async def _read(self, cache: dict[str, dict | None], read, name: str, optional: bool) -> dict | None:
        if name not in cache:
            try:
                cache[name] = await read(self.client, self.namespace, name)
            except sources.NotFound as e:
                if not optional:
                    raise EnvError(str(e)) from e
                return None
            except sources.SourceError as e:
                raise EnvError(str(e)) from e
        return cache[name]


async def container_env(client: rest.Client, pod: dict, container: dict,
                        services: list[dict] | None, *,
                        allocatable: dict[str, str] | None = None,
                        recorder: Recorder | None = None) -> dict[str, str]:
    """The container's env: {name: value}. ``services``: Services to make links from
    (any namespaces; None reads them through ``client``). ``allocatable``: the node's,
    for resourceFieldRef limits left unset (None reads the pod's node). ``pod.status``
    should carry podIP(s)/hostIP(s) for fieldRefs to them."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns = meta.get("namespace", "")
    enable = spec.get("enableServiceLinks", True) is not False
    if services is None:
        services = await _services(client, ns, enable)
    service_vars = service_env(services, ns, enable)
    cache = _Cache(client, ns)
    env: dict[str, str] = {}

    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef") is not None:
            ref, kind, what = src["configMapRef"], "ConfigMap", "configMap"
        elif src.get("secretRef") is not None:
            ref, kind, what = src["secretRef"], "Secret", "secret"
        else:
            continue
        data = await cache.data(kind, ref.get("name", ""), bool(ref.get("optional")))
        if data is None:
            continue
        invalid = []
        for k, v in data.items():
            k = prefix + k
            if not is_env_var_name(k):
                invalid.append(k)
                continue
            env[k] = v
        if invalid and recorder is not None:
            recorder("InvalidEnvironmentVariableNames",
                     f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {what} {ns}/{ref.get('name', '')} "
                     "were skipped since they are considered invalid environment variable names.")

    for var in container.get("env") or []:
        name = var.get("name", "")
        value_from = var.get("valueFrom")
        if not value_from:
            env[name] = expansion.expand(var.get("value") or "", expansion.mapping(env, service_vars))
            continue
        if value_from.get("fieldRef"):
            try:
                env[name] = _field_value(pod, value_from["fieldRef"].get("fieldPath", ""))
            except fieldpath.FieldPathError as e:
                raise EnvError(str(e)) from e
        elif value_from.get("resourceFieldRef"):
            ref = value_from["resourceFieldRef"]
            if allocatable is None:
                allocatable = await sources.node_allocatable(client, spec.get("nodeName"))
            try:
                env[name] = fieldpath.resource_value(ref, pod, ref.get("containerName") or container.get("name", ""),
                                                     allocatable)
            except fieldpath.FieldPathError as e:
                raise EnvError(str(e)) from e
        elif value_from.get("configMapKeyRef") or value_from.get("secretKeyRef"):
            kind, ref = (("ConfigMap", value_from["configMapKeyRef"]) if value_from.get("configMapKeyRef")
                         else ("Secret", value_from["secretKeyRef"]))
            optional, source, key = bool(ref.get("optional")), ref.get("name", ""), ref.get("key", "")
            data = await cache.data(kind, source, optional)
            if data is None:
                continue
            if key not in data:
                if optional:
                    continue
                raise EnvError(f"couldn't find key {key} in {kind} {ns}/{source}")
            env[name] = data[key]

    for k, v in service_vars.items():
        env.setdefault(k, v)
    return env


def expand_command(args: list[str], env: dict[str, str]) -> list[str]:
    """$(VAR) in command/args (ExpandContainerCommandAndArgs)."""
    lookup = expansion.mapping(env)
    return [expansion.expand(a, lookup) for a in args]
