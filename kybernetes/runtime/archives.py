"""Reading image tarballs: ``docker save`` archives and OCI image layouts.

Two formats are accepted, as ``ctr images import`` accepts them:

* docker-archive: ``manifest.json`` is a list of ``{"Config": "<file>",
  "RepoTags": [...], "Layers": ["<dir>/layer.tar", ...]}``; the config file
  is the image config, whose sha256 is the image id.
* OCI image layout: ``oci-layout`` + ``index.json`` listing manifests (or
  nested indexes, from which the host's platform is picked) with their name
  in the ``io.containerd.image.name`` or ``org.opencontainers.image.ref.name``
  annotation; every blob lives at ``blobs/<alg>/<hex>``.

Docker 25+ writes both files; ``manifest.json`` wins then, as in Docker.
Layers may be plain or gzip tar (zstd is refused with a clear error). Blob
digests and the config's ``rootfs.diff_ids`` are verified while unpacking.
Blocking: the image store calls this in a thread.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import tarfile
from dataclasses import dataclass, field
from typing import IO

from kybernetes.runtime import errors, references

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


@dataclass
class ArchiveImage:
    """One image found in an archive: its names, config blob and layer blobs."""

    names: list[str]
    config: bytes
    layers: list[tuple[str, str | None]]  # (member in the archive, blob digest if known)
    repo_digests: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @property
    def diff_ids(self) -> list[str]:
        cfg = json.loads(self.config)
        ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
        if len(ids) != len(self.layers):
            raise errors.ImageError(
                f"image config lists {len(ids)} diff_ids for {len(self.layers)} layers")
        return ids


def read(tar: tarfile.TarFile, default_name: str | None = None) -> list[ArchiveImage]:
    """List the images in an opened archive."""
    names = set(tar.getnames())
    if "manifest.json" in names:
        return _read_docker(tar)
    if "index.json" in names:
        return _read_oci(tar, default_name)
    raise errors.ImageError("not an image archive: neither manifest.json nor index.json found")


def _json(tar: tarfile.TarFile, member: str) -> object:
    try:
        return json.loads(_bytes(tar, member))
    except ValueError as e:
        raise errors.ImageError(f"{member} is not valid JSON: {e}") from e


def _bytes(tar: tarfile.TarFile, member: str) -> bytes:
    try:
        f = tar.extractfile(member.lstrip("/"))
    except KeyError:
        f = None
    if f is None:
        raise errors.ImageError(f"archive has no file {member!r}")
    with f:
        return f.read()


def _read_docker(tar: tarfile.TarFile) -> list[ArchiveImage]:
    out = []
    for entry in _json(tar, "manifest.json") or []:
        config = _bytes(tar, entry["Config"])
        tags = [references.normalize(t) for t in entry.get("RepoTags") or []]
        layers = [(m, _digest_from_path(m)) for m in entry.get("Layers") or []]
        out.append(ArchiveImage(names=tags, config=config, layers=layers))
    return out


def _digest_from_path(member: str) -> str | None:
    """``blobs/sha256/<hex>`` (Docker 25+ archives) names its own digest."""
    parts = member.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        return f"{parts[1]}:{parts[2]}"
    return None


def _blob(tar: tarfile.TarFile, digest: str) -> bytes:
    alg, _, hexpart = digest.partition(":")
    data = _bytes(tar, f"blobs/{alg}/{hexpart}")
    if alg == "sha256" and hashlib.sha256(data).hexdigest() != hexpart:
        raise errors.ImageError(f"blob {digest} does not match its digest")
    return data


def _read_oci(tar: tarfile.TarFile, default_name: str | None) -> list[ArchiveImage]:
    index = _json(tar, "index.json")
    out = []
    for desc in index.get("manifests") or []:
        manifest_desc = _pick_manifest(tar, desc)
        manifest = json.loads(_blob(tar, manifest_desc["digest"]))
        config = _blob(tar, manifest["config"]["digest"])
        layers = []
        for layer in manifest.get("layers") or []:
            if "zstd" in layer.get("mediaType", ""):
                raise errors.ImageError(f"zstd-compressed layer {layer['digest']} is not supported")
            alg, _, hexpart = layer["digest"].partition(":")
            layers.append((f"blobs/{alg}/{hexpart}", layer["digest"]))
        names = _oci_names(desc.get("annotations") or {}, default_name)
        repo_digests = [f"{references.parse(n).repository}@{manifest_desc['digest']}" for n in names]
        out.append(ArchiveImage(names=names, config=config, layers=layers,
                                repo_digests=repo_digests))
    return out


def _pick_manifest(tar: tarfile.TarFile, desc: dict) -> dict:
    """Descend through image indexes to the manifest for this host's platform."""
    for _ in range(8):
        if desc.get("mediaType") not in INDEX_TYPES:
            return desc
        children = json.loads(_blob(tar, desc["digest"])).get("manifests") or []
        if not children:
            raise errors.ImageError(f"image index {desc['digest']} lists no manifests")
        arch = _ARCH.get(platform.machine(), platform.machine())
        matching = [c for c in children
                    if (c.get("platform") or {}).get("os", "linux") == "linux"
                    and (c.get("platform") or {}).get("architecture", arch) == arch]
        if not matching:
            raise errors.ImageError(f"image index {desc['digest']} has no linux/{arch} manifest")
        desc = matching[0]
    raise errors.ImageError("image indexes nested too deeply")


def _oci_names(annotations: dict, default_name: str | None) -> list[str]:
    for key in NAME_ANNOTATIONS:
        value = annotations.get(key)
        if not value:
            continue
        if "/" in value or ":" in value or key == NAME_ANNOTATIONS[0]:
            return [references.normalize(value)]
        if default_name:  # a bare tag ("latest"): name it after the caller's repository
            return [str(references.parse(f"{references.parse(default_name).repository}:{value}"))]
    return [references.normalize(default_name)] if default_name else []


class HashingReader:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def open_layer(tar: tarfile.TarFile, member: str) -> tuple[HashingReader, HashingReader]:
    """Open a layer blob: (compressed stream, uncompressed tar stream), both hashing."""
    raw = tar.extractfile(member.lstrip("/"))
    if raw is None:
        raise errors.ImageError(f"archive has no layer {member!r}")
    outer = HashingReader(raw)
    head = raw.peek(4)[:4]  # tarfile's ExFileObject is a BufferedReader
    if head[:2] == b"\x1f\x8b":
        return outer, HashingReader(gzip.GzipFile(fileobj=outer, mode="rb"))
    if head == b"\x28\xb5\x2f\xfd":
        raise errors.ImageError(f"zstd-compressed layer {member} is not supported")
    return outer, HashingReader(outer)
