"""The node's local image store, and the host fallback image.

Layout under ``<data-dir>/images``::

    index.json              {"images": {<id>: {names, config, layers, size, repoDigests}}}
    layers/<diffid hex>/    one unpacked layer each, whiteouts in overlayfs form
    lock                    flock'd around every index read-modify-write

Layers are shared between images by their uncompressed digest (diff_id), as
containerd's snapshotter shares them. No registry is reachable from these
machines, so images arrive only through ``import_archive`` (``kyb image
import``); an image missing from the store is run on the host's root
filesystem: ``host_image(ref)`` returns an ``Image`` whose only layer is ``/``
and whose ``fallback`` flag is set, so the kubelet can say so in an event.
All blocking work runs in a thread; the methods are coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tarfile
import uuid
from dataclasses import dataclass, field

from kybernetes.runtime import archives, errors, layers, references

HOST_ROOT = "/"
HOST_IMAGE_ID = "sha256:" + hashlib.sha256(b"kybernetes host root filesystem").hexdigest()


@dataclass(frozen=True)
class Image:
    """An image ready to run: its layer directories (bottom first) and config."""

    name: str  # the normalised reference it was asked for
    id: str  # sha256 of the image config, as Docker's image id
    size: int
    layers: tuple[str, ...]
    config: dict = field(default_factory=dict)  # OCI image config "config": Env, Cmd, ...
    names: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    fallback: bool = False  # True: the host's root filesystem stands in for the image


def host_image(ref: str) -> Image:
    """The offline fallback: the host's ``/`` as the one, read-only, lower layer."""
    name = references.normalize(ref)
    return Image(name=name, id=HOST_IMAGE_ID, size=0, layers=(HOST_ROOT,),
                 config={"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                 names=(name,), fallback=True)


def _verify(member: str, outer: archives.HashingReader, inner: archives.HashingReader,
            digest: str | None, diff_id: str) -> None:
    outer.drain()
    if digest and digest.startswith("sha256:") and outer.digest() != digest:
        raise errors.ImageError(f"layer {member} does not match its digest {digest}")
    if inner.digest() != diff_id:
        raise errors.ImageError(f"layer {member} does not match diff_id {diff_id}")


class ImageStore:
    """Images imported into ``root`` (``<data-dir>/images``)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.layers_dir = os.path.join(self.root, "layers")
        os.makedirs(self.layers_dir, exist_ok=True)

    # -- reading -----------------------------------------------------------

    async def list(self) -> list[Image]:
        """Every stored image, once per image (``names`` holds all its tags)."""
        index = await asyncio.to_thread(self._load)
        return [self._image(rec["names"][0] if rec["names"] else rec["id"], rec)
                for rec in index["images"].values()]

    async def resolve(self, image_ref: str) -> Image | None:
        """The stored image for a name, ``name@digest`` or id; ``None`` if absent."""
        index = await asyncio.to_thread(self._load)
        return self._resolve(index, image_ref)

    def _resolve(self, index: dict, image_ref: str) -> Image | None:
        images = index["images"]
        ref = image_ref.strip()
        if ref.startswith("sha256:"):
            matches = [r for i, r in images.items() if i.startswith(ref)]
            return self._image(ref, matches[0]) if len(matches) == 1 else None
        try:
            parsed = references.parse(ref)
        except errors.ImageError:
            return None
        for rec in images.values():
            if parsed.digest:
                wanted = f"{parsed.repository}@{parsed.digest}"
                if wanted in rec.get("repoDigests", []):
                    return self._image(str(parsed), rec)
            elif str(parsed) in rec["names"]:
                return self._image(str(parsed), rec)
        return None

    def _image(self, name: str, rec: dict) -> Image:
        dirs = tuple(os.path.join(self.layers_dir, d.split(":", 1)[1]) for d in rec["layers"])
        return Image(name=name, id=rec["id"], size=rec["size"], layers=dirs,
                     config=rec.get("config") or {}, names=tuple(rec["names"]),
                     repo_digests=tuple(rec.get("repoDigests", [])))

    # -- writing -----------------------------------------------------------

    async def import_archive(self, path: str, name: str | None = None) -> list[Image]:
        """Load a docker-archive or OCI-layout tarball; return the images it held.

        ``name`` names OCI images whose only name annotation is a bare tag.
        """
        return await asyncio.to_thread(self._import, path, name)

    async def remove(self, image_ref: str) -> bool:
        """Forget an image and delete layers no other image uses.

        The caller (the kubelet's image GC) makes sure no container runs it.
        """
        return await asyncio.to_thread(self._remove, image_ref)

    def _import(self, path: str, name: str | None) -> list[Image]:
        try:
            tar = tarfile.open(path, "r:*")
        except (OSError, tarfile.TarError) as e:
            raise errors.ImageError(f"cannot open image archive {path}: {e}") from e
        with tar:
            found = archives.read(tar, name)
            if not found:
                raise errors.ImageError(f"{path} holds no image")
            sizes = {}
            for img in found:
                for (member, digest), diff_id in zip(img.layers, img.diff_ids):
                    sizes[diff_id] = self._unpack_layer(tar, member, digest, diff_id)
        out = []
        with self._locked():
            index = self._load()
            for img in found:
                diff_ids = img.diff_ids
                rec = index["images"].get(img.id) or {"id": img.id, "names": [], "repoDigests": []}
                for other in index["images"].values():  # a tag moves to the new image
                    other["names"] = [n for n in other["names"] if n not in img.names]
                rec["names"] = sorted(set(rec["names"]) | set(img.names))
                rec["repoDigests"] = sorted(set(rec.get("repoDigests", [])) | set(img.repo_digests))
                rec["layers"] = diff_ids
                rec["config"] = json.loads(img.config).get("config") or {}
                rec["size"] = sum(sizes[d] for d in diff_ids)
                index["images"][img.id] = rec
            self._save(index)
            out = [self._image(img.names[0] if img.names else img.id, index["images"][img.id])
                   for img in found]
        return out

    def _unpack_layer(self, tar: tarfile.TarFile, member: str, digest: str | None,
                      diff_id: str) -> int:
        alg, _, hexpart = diff_id.partition(":")
        if alg != "sha256" or len(hexpart) != 64:
            raise errors.ImageError(f"unsupported diff_id {diff_id!r}")
        final = os.path.join(self.layers_dir, hexpart)
        size_file = final + ".size"
        outer, inner = archives.open_layer(tar, member)
        if os.path.isdir(final) and os.path.exists(size_file):
            # Already unpacked (shared with another image): only check the blob.
            inner.drain()
            _verify(member, outer, inner, digest, diff_id)
            with open(size_file) as f:
                return int(f.read() or 0)
        tmp = os.path.join(self.layers_dir, f".tmp-{hexpart[:12]}-{uuid.uuid4().hex[:8]}")
        try:
            size = layers.unpack(inner, tmp)
            inner.drain()
            _verify(member, outer, inner, digest, diff_id)
            with contextlib.suppress(FileExistsError, OSError):
                os.rename(tmp, final)
            with open(size_file, "w") as f:
                f.write(str(size))
            return size
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

    def _remove(self, image_ref: str) -> bool:
        with self._locked():
            index = self._load()
            img = self._resolve(index, image_ref)
            if img is None:
                return False
            rec = index["images"][img.id]
            if img.name in rec["names"] and len(rec["names"]) > 1:
                rec["names"].remove(img.name)
            else:
                del index["images"][img.id]
            self._save(index)
            used = {d.split(":", 1)[1] for r in index["images"].values() for d in r["layers"]}
            for d in rec["layers"]:
                hexpart = d.split(":", 1)[1]
                if hexpart not in used and img.id not in index["images"]:
                    shutil.rmtree(os.path.join(self.layers_dir, hexpart), ignore_errors=True)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.layers_dir, hexpart + ".size"))
        return True

    # -- index file --------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        with open(os.path.join(self.root, "lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _load(self) -> dict:
        try:
            with open(os.path.join(self.root, "index.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {"images": {}}

    def _save(self, index: dict) -> None:
        path = os.path.join(self.root, "index.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(index, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
