"""ConfigMaps, Secrets and nodes read for volumes and env vars, with the kubelet's errors.

The kubelet reads them through its watch-based managers, whose NotFound
names the resource in the singular (``configmap "x" not found``,
``secret "x" not found``); these reads go straight to the API server and
keep that wording.
"""

from __future__ import annotations

import base64

from kybernetes.api import registry
from kybernetes.api.status import StatusError
from kybernetes.client import rest

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")
NODES = registry.lookup("", "v1", "nodes")
SERVICES = registry.lookup("", "v1", "services")
SERVICEACCOUNTS = registry.lookup("", "v1", "serviceaccounts")


class NotFound(Exception):
    pass


class SourceError(Exception):
    pass


async def _get(client: rest.Client, res, singular: str, namespace: str, name: str) -> dict:
    try:
        return await client.get(res, name, namespace)
    except StatusError as e:
        if e.code == 404:
            raise NotFound(f'{singular} "{name}" not found') from e
        raise SourceError(e.message or str(e)) from e
    except rest.ClientError as e:
        raise SourceError(str(e)) from e


async def config_map(client: rest.Client, namespace: str, name: str) -> dict:
    return await _get(client, CONFIGMAPS, "configmap", namespace, name)


async def secret(client: rest.Client, namespace: str, name: str) -> dict:
    return await _get(client, SECRETS, "secret", namespace, name)


def secret_data(obj: dict) -> dict[str, bytes]:
    return {k: base64.b64decode(v or "") for k, v in (obj.get("data") or {}).items()}


def config_map_data(obj: dict) -> dict[str, bytes]:
    """``data`` then ``binaryData`` (names are unique across both, by validation)."""
    out = {k: (v or "").encode() for k, v in (obj.get("data") or {}).items()}
    for k, v in (obj.get("binaryData") or {}).items():
        out.setdefault(k, base64.b64decode(v or ""))
    return out


async def node_allocatable(client: rest.Client | None, node_name: str | None) -> dict[str, str]:
    """The node's allocatable resources; the machine's memory and CPUs when the
    node cannot be read (not registered yet)."""
    if client is not None and node_name:
        try:
            node = await client.get(NODES, node_name)
            alloc = (node.get("status") or {}).get("allocatable") or {}
            if alloc:
                return dict(alloc)
        except (StatusError, rest.ClientError):
            pass
    return machine_allocatable()


def machine_allocatable() -> dict[str, str]:
    import os
    out = {"cpu": str(os.cpu_count() or 1)}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    out["memory"] = str(int(line.split()[1]) * 1024)
                    break
    except OSError:
        pass
    return out
