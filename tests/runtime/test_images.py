"""The image store: importing docker-archive and OCI-layout tarballs built here, and running them."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from kybernetes.runtime import errors, images, layers, references, spec

from . import imagebuild
from .helpers import run, stdout_lines

SCRIPT = ('read g < /etc/greeting; echo "greeting=$g"; '
          '[ -e /etc/gone ] && echo gone=present || echo gone=deleted; '
          'for f in /data/*; do echo "data=$f"; done; echo "env=$GREETING"; echo "cwd=$PWD"; '
          'while read k a b rest; do case $k in Uid:|Gid:|Groups:) echo "$k$a $b";; esac; done < /proc/self/status')
EXPECTED = ["greeting=two", "gone=deleted", "data=/data/new.txt", "env=from-image", "cwd=/data",
            "Uid:1234 1234", "Gid:2345 2345", "Groups:3456 "]


@pytest.fixture(scope="module")
def tiny():
    tars = imagebuild.layers()
    cfg = imagebuild.config(tars, Env=["PATH=/bin", "GREETING=from-image"], Cmd=["/bin/sh", "-c", SCRIPT],
                            WorkingDir="/data", User="app")
    return tars, cfg


async def test_docker_archive_import_list_and_run(runtime, tmp_path, tiny):
    tars, cfg = tiny
    archive = str(tmp_path / "tiny.tar")
    imagebuild.docker_archive(archive, ["kyb-test/tiny:v1"], tars, cfg)
    [img] = await runtime.images.import_archive(archive)
    assert img.id == "sha256:" + hashlib.sha256(cfg).hexdigest()
    assert img.names == ("docker.io/kyb-test/tiny:v1",) and not img.fallback
    [listed] = await runtime.images.list()
    assert (listed.id, listed.names) == (img.id, img.names) and listed.size > 0
    resolved = await runtime.images.resolve("kyb-test/tiny:v1")
    assert resolved is not None and resolved.id == img.id
    assert await runtime.images.resolve(img.id[:19]) is not None  # id prefix
    assert await runtime.images.resolve("kyb-test/tiny") is None  # :latest was not imported
    st, log = await run(runtime, spec.ContainerConfig(name="tiny", image="kyb-test/tiny:v1"))
    assert st.exit_code == 0 and not st.fallback_image and st.image_id == img.id
    assert stdout_lines(log) == EXPECTED, log


async def test_oci_layout_import_with_gzip_layers(runtime, tmp_path, tiny):
    tars, cfg = tiny
    archive = str(tmp_path / "tiny-oci.tar")
    imagebuild.oci_layout(archive, {"org.opencontainers.image.ref.name": "v2"}, tars, cfg)
    [img] = await runtime.images.import_archive(archive, name="kyb-test/tiny-oci")
    assert img.names == ("docker.io/kyb-test/tiny-oci:v2",)
    assert img.repo_digests and img.repo_digests[0].startswith("docker.io/kyb-test/tiny-oci@sha256:")
    st, log = await run(runtime, spec.ContainerConfig(name="tiny", image="docker.io/kyb-test/tiny-oci:v2",
                                                      args=["/bin/sh", "-c", "echo args-replace-cmd"]))
    assert stdout_lines(log) == ["args-replace-cmd"]


async def test_layers_are_shared_and_removed_with_the_last_image(runtime, tmp_path, tiny):
    tars, cfg = tiny
    a, b = str(tmp_path / "a.tar"), str(tmp_path / "b.tar")
    imagebuild.docker_archive(a, ["kyb-test/a:1"], tars, cfg)
    imagebuild.oci_layout(b, {"io.containerd.image.name": "registry.local:5000/b:2"}, tars, cfg,
                          compress=False)
    await runtime.images.import_archive(a)
    [img] = await runtime.images.import_archive(b)
    assert set(img.names) == {"docker.io/kyb-test/a:1", "registry.local:5000/b:2"}  # same config: one image
    layer_dirs = [d for d in os.listdir(runtime.images.layers_dir) if not d.endswith(".size")]
    assert len(layer_dirs) == 2
    assert await runtime.images.remove("kyb-test/a:1")
    assert await runtime.images.resolve("registry.local:5000/b:2") is not None
    assert await runtime.images.remove("registry.local:5000/b:2")
    assert await runtime.images.list() == []
    assert [d for d in os.listdir(runtime.images.layers_dir) if not d.startswith(".")] == []


async def test_a_layer_that_lies_about_its_diff_id_is_refused(runtime, tmp_path, tiny):
    tars, _ = tiny
    bad_cfg = imagebuild.config([tars[0], tars[0]], Cmd=["/bin/sh"])
    archive = str(tmp_path / "bad.tar")
    imagebuild.docker_archive(archive, ["kyb-test/bad:1"], tars, bad_cfg)
    with pytest.raises(errors.ImageError, match="diff_id"):
        await runtime.images.import_archive(archive)
    assert await runtime.images.list() == []


async def test_missing_image_falls_back_to_the_host_root(runtime):
    assert await runtime.images.resolve("nginx") is None
    img = images.host_image("nginx")
    assert img.fallback and img.layers == ("/",) and img.name == "docker.io/library/nginx:latest"


def _tar(*members: tuple[str, bytes | None, str | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_layer_members_cannot_escape(tmp_path):
    dest = tmp_path / "layer"
    layers.unpack(_tar(("../../escaped", b"x", None), ("/abs", b"y", None)), str(dest))
    assert (dest / "escaped").read_bytes() == b"x" and (dest / "abs").read_bytes() == b"y"
    assert not (tmp_path.parent / "escaped").exists()
    with pytest.raises(errors.ImageError, match="escapes"):
        layers.unpack(_tar(("link", None, str(tmp_path)), ("link/owned", b"z", None)),
                      str(tmp_path / "layer2"))
    assert not (tmp_path / "owned").exists()


def test_whiteouts_become_overlay_whiteouts(tmp_path):
    dest = tmp_path / "layer"
    layers.unpack(_tar(("etc/.wh.gone", b"", None), ("data/.wh..wh..opq", b"", None)), str(dest))
    assert layers.is_whiteout(os.lstat(dest / "etc" / "gone"))
    assert os.getxattr(dest / "data", layers.OPAQUE_XATTR) == b"y"


@pytest.mark.parametrize("ref,normal", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("me/app", "docker.io/me/app:latest"),
    ("index.docker.io/me/app:2", "docker.io/me/app:2"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("app@sha256:" + "a" * 64, "docker.io/library/app@sha256:" + "a" * 64),
])
def test_reference_normalisation(ref, normal):
    assert references.normalize(ref) == normal


def test_invalid_references_are_refused():
    for bad in ("", "UPPER", "app:bad tag", "app@sha256:xyz"):
        with pytest.raises(errors.ImageError):
            references.normalize(bad)
