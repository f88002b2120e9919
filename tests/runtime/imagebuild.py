"""Building tiny images in the tests: docker-archive and OCI-layout tarballs.

No registry is reachable, so the tests make their own image from the host's
``/bin/sh`` (dash) and the shared libraries ``ldd`` lists for it. Two layers:

* base: ``/bin/sh`` + libs, ``/etc/greeting`` = one, ``/etc/gone``,
  ``/data/old.txt``, an ``/etc/passwd`` and ``/etc/group`` with user ``app``;
* top: ``/etc/greeting`` = two, a whiteout for ``/etc/gone`` and an opaque
  marker on ``/data`` plus ``/data/new.txt``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _shell_files() -> dict[str, bytes]:
    """/bin/sh and what the dynamic loader needs to run it, by path in the image."""
    sh = os.path.realpath("/bin/sh")
    files = {"bin/sh": open(sh, "rb").read()}
    out = subprocess.run(["ldd", sh], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            path = m.group(1)
            files[path.lstrip("/")] = open(os.path.realpath(path), "rb").read()
    return files


def layers() -> list[bytes]:
    """The two uncompressed layer tarballs, bottom first."""
    base, top = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=base, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made = set()
        for path, data in sorted(_shell_files().items()):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    _add_dir(tar, d)
            _add_file(tar, path, data, 0o755)
        for d in ("etc", "data"):
            if d not in made:
                _add_dir(tar, d)
        _add_file(tar, "etc/greeting", b"one\n")
        _add_file(tar, "etc/gone", b"x\n")
        _add_file(tar, "etc/passwd", b"root:x:0:0::/:/bin/sh\napp:x:1234:2345::/:/bin/sh\n")
        _add_file(tar, "etc/group", b"root:x:0:\napp:x:2345:\nextra:x:3456:app\n")
        _add_file(tar, "data/old.txt", b"old\n")
    with tarfile.open(fileobj=top, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "etc")
        _add_file(tar, "etc/greeting", b"two\n")
        _add_file(tar, "etc/.wh.gone", b"")
        _add_dir(tar, "data")
        _add_file(tar, "data/.wh..wh..opq", b"")
        _add_file(tar, "data/new.txt", b"new\n")
    return [base.getvalue(), top.getvalue()]


def config(layer_tars: list[bytes], **image_config) -> bytes:
    cfg = {"architecture": "amd64", "os": "linux", "config": image_config,
           "rootfs": {"type": "layers",
                      "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layer_tars]}}
    return json.dumps(cfg).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_archive(path: str, repo_tags: list[str], layer_tars: list[bytes], cfg: bytes) -> None:
    """Write what ``docker save`` writes: manifest.json, <id>.json, <n>/layer.tar."""
    config_name = hashlib.sha256(cfg).hexdigest() + ".json"
    layer_names = [f"{hashlib.sha256(t).hexdigest()}/layer.tar" for t in layer_tars]
    manifest = [{"Config": config_name, "RepoTags": repo_tags, "Layers": layer_names}]
    with tarfile.open(path, "w") as tar:
        _add_file(tar, "manifest.json", json.dumps(manifest).encode())
        _add_file(tar, config_name, cfg)
        for name, data in zip(layer_names, layer_tars):
            _add_file(tar, name, data)


def oci_layout(path: str, annotations: dict[str, str], layer_tars: list[bytes], cfg: bytes,
               compress: bool = True) -> None:
    """Write an OCI image layout tarball, gzip layers by default."""
    blobs = {}
    layer_descs = []
    for t in layer_tars:
        blob = gzip.compress(t) if compress else t
        blobs[_digest(blob)] = blob
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        layer_descs.append({"mediaType": media, "digest": _digest(blob), "size": len(blob)})
    blobs[_digest(cfg)] = cfg
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(cfg), "size": len(cfg)},
        "layers": layer_descs}).encode()
    blobs[_digest(manifest)] = manifest
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(manifest),
        "size": len(manifest), "annotations": annotations,
        "platform": {"architecture": "amd64", "os": "linux"}}]}
    with tarfile.open(path, "w") as tar:
        _add_file(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add_file(tar, "index.json", json.dumps(index).encode())
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest, blob in blobs.items():
            _add_file(tar, "blobs/sha256/" + digest.split(":", 1)[1], blob)
