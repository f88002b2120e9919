"""``kyb image import`` and ``kyb image ls``: a docker-archive tarball made in
the test lands in the store the node's runtime reads, and is listed."""

from __future__ import annotations

import asyncio
import os

from kybernetes.kubelet.config import KubeletConfig
from kybernetes.runtime import images
from tests.e2e.cluster import kyb
from tests.runtime import imagebuild


def test_import_and_list(tmp_path):
    data_dir = str(tmp_path / "data")
    tars = imagebuild.layers()
    cfg = imagebuild.config(tars, Cmd=["/bin/sh"])
    archive = str(tmp_path / "tiny.tar")
    imagebuild.docker_archive(archive, ["kyb-test/tiny:v1", "kyb-test/tiny:latest"], tars, cfg)

    empty = kyb("image", "ls", "--data-dir", data_dir).stdout.splitlines()
    assert empty == ["IMAGE   ID   SIZE"]
    assert not os.path.exists(data_dir)  # listing creates nothing

    out = kyb("image", "import", archive, "--data-dir", data_dir).stdout
    assert out.startswith("imported docker.io/kyb-test/tiny:latest, docker.io/kyb-test/tiny:v1 (")

    lines = kyb("image", "ls", "--data-dir", data_dir).stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "ID", "SIZE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["docker.io/kyb-test/tiny:latest", "docker.io/kyb-test/tiny:v1"]
    assert rows[0][1] == rows[1][1] and len(rows[0][1]) == 13
    assert rows[0][2].endswith(("kB", "MB"))

    # The store is the one the node's runtime opens: Runtime(data_dir=config.runtime_dir).
    config = KubeletConfig(node_name="n1", data_dir=data_dir)
    store = images.ImageStore(os.path.join(config.runtime_dir, "images"))
    image = asyncio.run(store.resolve("kyb-test/tiny:v1"))
    assert image is not None and image.id.split(":")[1].startswith(rows[0][1])
    assert kyb("image", "ls", "-q", "--data-dir", data_dir).stdout.split() == [rows[0][1]]


def test_import_of_a_bad_file_fails(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tarball")
    result = kyb("image", "import", str(bad), "--data-dir", str(tmp_path / "data"), check=False)
    assert result.returncode == 1
    assert "bad.tar" in result.stderr
