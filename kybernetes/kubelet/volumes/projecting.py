"""configMap, secret, downwardAPI and projected volumes: fetch, then project atomically.

As the kubelet's plugins do it: the data is gathered first (a missing
ConfigMap fails the setup before anything is made), then the wrapped
emptyDir is set up (on tmpfs for secret and projected volumes), then the
AtomicWriter swaps the files in. The same call re-projects a volume that is
already set up (the kubelet's periodic remount): unchanged data is left
alone, and a failure keeps the files the containers already see.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Awaitable, Callable

from kybernetes.client import rest
from kybernetes.kubelet.volumes import atomic_writer, emptydir, layout, ownership, payloads, \
    sources, tokens
from kybernetes.kubelet.volumes.atomic_writer import FileProjection, PayloadError

Allocatable = Callable[[], Awaitable[dict[str, str]]]


class ProjectionError(Exception):
    pass


async def _config_map(client: rest.Client, namespace: str, src: dict, default_mode: int | None
                      ) -> dict[str, FileProjection]:
    return await _keyed(client, namespace, src.get("name", ""), src, default_mode,
                        sources.config_map, sources.config_map_data,
                        "configmap references non-existent config key: %s")


async def _secret(client: rest.Client, namespace: str, name: str, src: dict,
                  default_mode: int | None) -> dict[str, FileProjection]:
    return await _keyed(client, namespace, name, src, default_mode, sources.secret, sources.secret_data,
                        "references non-existent secret key: %s")


async def _keyed(client: rest.Client, namespace: str, name: str, src: dict, default_mode: int | None,
                 read, data_of, missing_key: str) -> dict[str, FileProjection]:
    """A ConfigMap's or Secret's keys as files (``items`` picks and renames);
    an optional one that does not exist projects nothing."""
    optional = bool(src.get("optional"))
    try:
        data = data_of(await read(client, namespace, name))
    except sources.NotFound:
        if not optional:
            raise
        data = {}
    return payloads.keyed(data, src.get("items"), default_mode, optional, missing_key)


async def _projected(client: rest.Client, pod: dict, volume_dir: str, src: dict,
                     allocatable: Allocatable) -> dict[str, FileProjection]:
    """projected collectData: every source's files in one payload; errors aggregated."""
    namespace = pod["metadata"]["namespace"]
    default_mode = src.get("defaultMode")
    mode = payloads.DEFAULT_MODE if default_mode is None else default_mode
    out: dict[str, FileProjection] = {}
    errors: list[str] = []
    for source in src.get("sources") or []:
        try:
            if source.get("configMap") is not None:
                out.update(await _config_map(client, namespace, source["configMap"], default_mode))
            elif source.get("secret") is not None:
                s = source["secret"]
                out.update(await _secret(client, namespace, s.get("name", ""), s, default_mode))
            elif source.get("downwardAPI") is not None:
                items = source["downwardAPI"].get("items")
                alloc = await allocatable() if payloads.needs_allocatable(items) else None
                out.update(payloads.downward(items, pod, default_mode, alloc))
            elif source.get("serviceAccountToken") is not None:
                out.update(await _token(client, pod, volume_dir, source["serviceAccountToken"], mode))
            elif source.get("clusterTrustBundle") is not None:
                errors.append("clusterTrustBundle projections are not supported by this kubelet")
        except (sources.NotFound, sources.SourceError, PayloadError, tokens.TokenError) as e:
            errors.append(str(e))
    if errors:
        raise ProjectionError(payloads.aggregate(errors))
    return out


async def _token(client: rest.Client, pod: dict, volume_dir: str, src: dict, mode: int
                 ) -> dict[str, FileProjection]:
    path = src.get("path", "")
    audience = src.get("audience") or ""
    seconds = int(src.get("expirationSeconds") or tokens.DEFAULT_EXPIRATION_SECONDS)
    current = await asyncio.to_thread(tokens.read_current, volume_dir, path) if path else None
    if tokens.needs_refresh(current, pod, audience, seconds):
        current = await tokens.request(client, pod, audience, seconds)
    # With an fsGroup the token is 0600 (owned by root: fsUser is not modelled).
    if ownership.fs_group(pod) is not None:
        mode = 0o600
    return {path: FileProjection(current.encode(), mode)}


async def payload(client: rest.Client, pod: dict, volume: dict, volume_dir: str,
                  allocatable: Allocatable) -> dict[str, FileProjection]:
    namespace = pod["metadata"]["namespace"]
    try:
        if volume.get("configMap") is not None:
            src = volume["configMap"]
            return await _config_map(client, namespace, src, src.get("defaultMode"))
        if volume.get("secret") is not None:
            src = volume["secret"]
            return await _secret(client, namespace, src.get("secretName", ""), src, src.get("defaultMode"))
        if volume.get("downwardAPI") is not None:
            src = volume["downwardAPI"]
            alloc = await allocatable() if payloads.needs_allocatable(src.get("items")) else None
            return payloads.downward(src.get("items"), pod, src.get("defaultMode"), alloc)
        return await _projected(client, pod, volume_dir, volume["projected"], allocatable)
    except (sources.NotFound, sources.SourceError, PayloadError, tokens.TokenError) as e:
        raise ProjectionError(str(e)) from e


def kind(volume: dict) -> str | None:
    for k in ("configMap", "secret", "downwardAPI", "projected"):
        if volume.get(k) is not None:
            return k
    return None


async def set_up(client: rest.Client, pod: dict, pod_dir: str, volume: dict,
                 allocatable: Allocatable) -> str:
    k = kind(volume)
    assert k is not None
    path = layout.volume_dir(pod_dir, layout.PLUGIN_DIRS[k], volume["name"])
    files = await payload(client, pod, volume, path, allocatable)
    memory = k in ("secret", "projected")
    size = None
    if memory:
        size = emptydir.memory_size(pod, None, (await allocatable()).get("memory"))
    gid = ownership.fs_group(pod)

    def write() -> None:
        created = emptydir.set_up(path, "Memory" if memory else "", size)
        try:
            atomic_writer.write(path, files, lambda ts: ownership.set_volume_ownership(ts, gid, True))
            if gid is not None:
                ownership.set_volume_ownership_root(path, gid)
        except BaseException:
            if created:  # as the kubelet: a first setup that fails leaves nothing behind
                emptydir.tear_down(path)
                shutil.rmtree(path, ignore_errors=True)
            raise

    try:
        await asyncio.to_thread(write)
    except (OSError, PayloadError, emptydir.EmptyDirError) as e:
        raise ProjectionError(str(e)) from e
    return path


def is_set_up(pod_dir: str, volume: dict) -> bool:
    k = kind(volume)
    if k is None:
        return False
    path = layout.volume_dir(pod_dir, layout.PLUGIN_DIRS[k], volume["name"])
    return os.path.islink(os.path.join(path, atomic_writer.DATA_DIR))
