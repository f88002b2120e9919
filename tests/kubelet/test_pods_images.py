"""Images and cgroup limits on a real kubelet: the node's image store (an
imported tarball runs with its own Env and Cmd, "already present on
machine"), imagePullPolicy Never against the store, and the cgroup values
the kubelet derives from ``resources``."""

from __future__ import annotations

import os

from kybernetes.runtime import cgroups, images
from tests.kubelet.conftest import status_of
from tests.runtime import imagebuild


async def test_imported_image_and_pull_policy_never(node, namespace, tmp_path):
    tars = imagebuild.layers()
    cfg = imagebuild.config(tars, Env=["PATH=/bin", "GREETING=from-image"],
                            Cmd=["/bin/sh", "-c", "echo $GREETING; read line < /etc/greeting; echo $line"])
    archive = str(tmp_path / "tiny.tar")
    imagebuild.docker_archive(archive, ["kyb-test/tiny:v1"], tars, cfg)
    kl = await node.start()
    await kl.runtime.images.import_archive(archive)
    await node.create_pod(namespace, "tiny", [{"name": "c", "image": "kyb-test/tiny:v1"}], restartPolicy="Never")
    await node.create_pod(namespace, "never", [{"name": "c", "image": "kyb-test/absent:v1",
                                                "imagePullPolicy": "Never"}])
    pod = await node.wait_pod(namespace, "tiny", lambda p: p["status"].get("phase") == "Succeeded",
                              what="Succeeded")
    cs = status_of(pod, "c")
    assert cs["image"] == "docker.io/kyb-test/tiny:v1" and cs["imageID"].startswith("sha256:")
    assert cs["imageID"] != images.HOST_IMAGE_ID
    path = os.path.join(node.config.pod_log_dir(namespace, "tiny", pod["metadata"]["uid"]), "c", "0.log")
    text = open(path).read()
    assert "stdout F from-image" in text and "stdout F two" in text
    events = await node.events(namespace, "tiny")
    assert any(e["reason"] == "Pulled" and e["message"] ==
               'Container image "kyb-test/tiny:v1" already present on machine' for e in events)
    never = await node.wait_pod(namespace, "never", lambda p: (status_of(p, "c").get("state", {}).get(
        "waiting") or {}).get("reason") == "ErrImageNeverPull", what="ErrImageNeverPull")
    assert never["status"]["phase"] == "Pending"


async def test_resources_become_cgroup_limits(node, namespace):
    kl = await node.start()
    c = {"name": "c", "image": "busybox", "command": ["sleep", "3600"],
         "resources": {"requests": {"cpu": "250m", "memory": "32Mi"},
                       "limits": {"cpu": "500m", "memory": "64Mi"}}}
    await node.create_pod(namespace, "limits", [c])
    pod = await node.wait_pod(namespace, "limits", lambda p: p["status"].get("phase") == "Running",
                              what="Running")
    assert pod["status"]["qosClass"] == "Burstable"
    cid = status_of(pod, "c")["containerID"].split("://")[1]
    meta = [x for x in await kl.runtime.list() if x.id == cid]
    assert meta
    cgroup = f"{node.config.cgroup}/pod{pod['metadata']['uid']}/{cid}"
    if cgroups.is_v2():
        base = cgroups.controller_path("cpu", cgroup)
        assert open(os.path.join(base, "cpu.max")).read().split() == ["50000", "100000"]
        assert int(open(os.path.join(base, "memory.max")).read()) == 64 * 1024 * 1024
    else:
        cpu = cgroups.controller_path("cpu", cgroup)
        assert int(open(os.path.join(cpu, "cpu.cfs_quota_us")).read()) == 50000
        assert int(open(os.path.join(cpu, "cpu.shares")).read()) == 256
        mem = cgroups.controller_path("memory", cgroup)
        assert int(open(os.path.join(mem, "memory.limit_in_bytes")).read()) == 64 * 1024 * 1024
