"""Pod volumes on a real node filesystem: emptyDir (disk and tmpfs), configMap, secret,
downwardAPI, projected (with TokenRequest tokens), hostPath types, subPaths that cannot
escape, atomic updates, and teardown that leaves no mount behind. ConfigMaps, Secrets,
ServiceAccounts and Pods are real objects on an API-only ``kyb server``."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import time

import pytest

from kybernetes.api import registry
from kybernetes.kubelet import volumes
from kybernetes.kubelet.config import KubeletConfig
from kybernetes.kubelet.volumes import atomic_writer, hostpath, mounts, tokens
from kybernetes.kubelet.volumes.atomic_writer import FileProjection

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")
SERVICEACCOUNTS = registry.lookup("", "v1", "serviceaccounts")
PODS = registry.lookup("", "v1", "pods")
TOKENREVIEWS = registry.lookup("authentication.k8s.io", "v1", "tokenreviews")
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture
def kconfig(tmp_path):
    """A kubelet config on tmp_path; afterwards every pod dir is torn down and no mount
    may be left under tmp_path (any that is gets unmounted before the test fails)."""
    config = KubeletConfig(node_name="vol-node", data_dir=str(tmp_path / "data"))
    yield config
    if os.path.isdir(config.pods_dir):
        for uid in os.listdir(config.pods_dir):
            volumes._teardown(config.pods_dir, uid)
    left = mounts.mounts_under(str(tmp_path))
    for mp in left:
        mounts.unmount(mp)
    assert left == []


def _read(path):
    with open(path) as f:
        return f.read()


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- hostPath -------------------------------------------------------------------------------


def test_hostpath_types(tmp_path):
    d, f = tmp_path / "dir", tmp_path / "file"
    d.mkdir()
    f.write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        assert hostpath.set_up({"path": str(d), "type": "Directory"}) == str(d)
        assert hostpath.set_up({"path": str(f), "type": "File"}) == str(f)
        assert hostpath.set_up({"path": str(tmp_path / "sock"), "type": "Socket"})
        assert hostpath.set_up({"path": "/dev/null", "type": "CharDevice"}) == "/dev/null"
        assert hostpath.set_up({"path": str(tmp_path / "nothing"), "type": ""})  # no check at all
        with pytest.raises(hostpath.HostPathError, match=f"^hostPath type check failed: {f} is not a "
                                                          "directory, it's a File$"):
            hostpath.set_up({"path": str(f), "type": "Directory"})
        with pytest.raises(hostpath.HostPathError, match=f"^hostPath {tmp_path}/nope doesn't exist$"):
            hostpath.set_up({"path": str(tmp_path / "nope"), "type": "File"})
        with pytest.raises(hostpath.HostPathError, match="is not a socket file, it's a Directory"):
            hostpath.set_up({"path": str(d), "type": "Socket"})
        with pytest.raises(hostpath.HostPathError, match="/dev/null is not a block device, it's a CharDevice"):
            hostpath.set_up({"path": "/dev/null", "type": "BlockDevice"})
        with pytest.raises(hostpath.HostPathError, match="^Bogus is an invalid volume type$"):
            hostpath.set_up({"path": str(d), "type": "Bogus"})
        with pytest.raises(hostpath.HostPathError, match="must not contain '..'"):
            hostpath.set_up({"path": f"{d}/../dir", "type": "Directory"})
        # The *OrCreate types make what is missing: a directory with its parents (0755),
        # a file (0644) only where its parent exists.
        made = tmp_path / "a" / "b"
        assert hostpath.set_up({"path": str(made), "type": "DirectoryOrCreate"}) == str(made)
        assert made.is_dir() and _mode(made) == 0o755
        new = tmp_path / "new-file"
        hostpath.set_up({"path": str(new), "type": "FileOrCreate"})
        assert new.is_file() and _mode(new) == 0o644
        with pytest.raises(hostpath.HostPathError):
            hostpath.set_up({"path": str(tmp_path / "no-parent" / "f"), "type": "FileOrCreate"})
        with pytest.raises(hostpath.HostPathError, match="is not a directory, it's a File"):
            hostpath.set_up({"path": str(f), "type": "DirectoryOrCreate"})
    finally:
        sock.close()


# -- the atomic writer ---------------------------------------------------------------------------


def test_atomic_writer_layout_and_updates(tmp_path):
    target = tmp_path / "vol"
    target.mkdir()
    assert atomic_writer.write(str(target), {"a": FileProjection(b"1", 0o644),
                                             "sub/b": FileProjection(b"2", 0o400)})
    first = os.readlink(target / "..data")
    assert first.startswith("..") and (target / first).is_dir()
    assert os.readlink(target / "a") == "..data/a" and os.readlink(target / "sub") == "..data/sub"
    assert _read(target / "sub" / "b") == "2" and _mode(target / first / "sub" / "b") == 0o400
    # The same payload again: nothing rewritten.
    assert not atomic_writer.write(str(target), {"a": FileProjection(b"1", 0o644),
                                                 "sub/b": FileProjection(b"2", 0o400)})
    assert os.readlink(target / "..data") == first
    # An update swaps ..data, drops files no longer there and the old timestamped dir.
    assert atomic_writer.write(str(target), {"a": FileProjection(b"new", 0o644),
                                             "c": FileProjection(b"3", 0o644)})
    second = os.readlink(target / "..data")
    assert second != first and not (target / first).exists()
    assert sorted(os.listdir(target)) == sorted(["..data", second, "a", "c"])
    assert _read(target / "a") == "new"
    for bad in ("../x", "/abs", "..hidden", ""):
        with pytest.raises(atomic_writer.PayloadError):
            atomic_writer.write(str(target), {bad: FileProjection(b"")})


# -- tokens ---------------------------------------------------------------------------------------


def _jwt(claims):
    enc = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{enc}.sig"


def test_token_rotation_at_80_percent():
    pod = {"metadata": {"uid": "u1"}}
    now = 1_000_000
    tok = _jwt({"iat": now, "exp": now + 3600 * 24 * 365, "aud": ["https://kubernetes.default.svc"],
                "kubernetes.io": {"pod": {"name": "p", "uid": "u1"}}})
    assert not tokens.needs_refresh(tok, pod, "", 3600, now=now + 2879)
    assert tokens.needs_refresh(tok, pod, "", 3600, now=now + 2880)
    assert tokens.needs_refresh(tok, pod, "vault", 3600, now=now)  # another audience
    assert tokens.needs_refresh(tok, {"metadata": {"uid": "u2"}}, "", 3600, now=now)  # another pod
    assert tokens.needs_refresh(None, pod, "", 3600, now=now)
    assert tokens.needs_refresh("garbage", pod, "", 3600, now=now)
    long = _jwt({"iat": now, "exp": now + 10**9, "kubernetes.io": {"pod": {"uid": "u1"}}})
    assert tokens.needs_refresh(long, pod, "", 10**8, now=now + 24 * 3600)  # 24 h at most


# -- subPaths ---------------------------------------------------------------------------------------


async def test_subpaths_cannot_escape(kconfig, tmp_path):
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "uid-sub"},
           "spec": {"volumes": [{"name": "data", "emptyDir": {}}]}}
    paths = await volumes.setup(None, kconfig, pod)
    vol = paths["data"]
    assert vol == os.path.join(kconfig.pod_dir("uid-sub"), "volumes/kubernetes.io~empty-dir/data")
    assert _mode(vol) == 0o777
    os.makedirs(os.path.join(vol, "real/inner"))
    with open(os.path.join(vol, "real/inner/f"), "w") as f:
        f.write("inside")
    os.symlink("/etc", os.path.join(vol, "evil"))
    os.symlink("../" * 40 + "etc", os.path.join(vol, "evil-rel"))
    os.symlink("real/inner", os.path.join(vol, "good"))

    def mounts_for(**vm):
        c = {"name": "c", "env": [{"name": "SUB", "value": "real"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data", **vm}]}
        return volumes.container_mounts(pod, c, paths)

    for vm, message in [({"subPath": "../x"}, "must not contain '..'"),
                        ({"subPath": "/etc"}, "must not be an absolute path"),
                        ({"subPath": "evil"}, 'failed to prepare subPath for volumeMount "data" of container "c"'),
                        ({"subPath": "evil-rel/passwd"}, "failed to prepare subPath"),
                        ({"subPathExpr": "$(NOPE)"}, "missing value for NOPE"),
                        ({"mountPropagation": "Bidirectional"}, "only to privileged containers")]:
        with pytest.raises(volumes.VolumeError, match=message) as e:
            mounts_for(**vm)
        assert e.value.reason == "CreateContainerConfigError"
    # Inside the volume (symlinks too) is fine: bind-mounted under volume-subpaths.
    (m,) = mounts_for(subPath="good/f", readOnly=True)
    assert m.host_path == os.path.join(kconfig.pod_dir("uid-sub"), "volume-subpaths/data/c/0")
    assert mounts.is_mount_point(m.host_path) and _read(m.host_path) == "inside"
    assert m.readonly and m.container_path == "/data" and m.propagation == "rprivate"
    (m,) = mounts_for(subPathExpr="$(SUB)/inner", mountPropagation="HostToContainer")
    assert os.listdir(m.host_path) == ["f"] and m.propagation == "rslave"
    # A missing subPath is made inside the volume, as a directory.
    (m,) = mounts_for(subPath="fresh/dir")
    assert os.path.isdir(os.path.join(vol, "fresh/dir")) and mounts.is_mount_point(m.host_path)
    await volumes.teardown(kconfig, "uid-sub")
    assert not os.path.exists(kconfig.pod_dir("uid-sub"))
    assert mounts.mounts_under(str(tmp_path)) == []


# -- against a real API server ---------------------------------------------------------------------


async def _pod(client, namespace, volumes_, **spec):
    return await client.create(PODS, {
        "metadata": {"name": "vol-pod", "labels": {"app": "web", "tier": "front"},
                     "annotations": {"note": "hello"}},
        "spec": {"containers": [{"name": "app", "image": "busybox",
                                 "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}],
                 "volumes": volumes_, **spec}}, namespace)


async def _namespace_basics(client, namespace):
    """What the controllers would have made: the default ServiceAccount and kube-root-ca.crt."""
    await client.create(SERVICEACCOUNTS, {"metadata": {"name": "default"}}, namespace)
    await client.create(CONFIGMAPS, {"metadata": {"name": "kube-root-ca.crt"},
                                     "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}, namespace)


async def test_config_secret_downward_projected(client, namespace, kconfig, tmp_path):
    await _namespace_basics(client, namespace)
    await client.create(CONFIGMAPS, {"metadata": {"name": "cfg"},
                                     "data": {"app.conf": "v1", "other": "o"},
                                     "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()}},
                        namespace)
    await client.create(SECRETS, {"metadata": {"name": "sec"}, "stringData": {"pw": "hunter2"}}, namespace)
    pod = await _pod(client, namespace, [
        {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "app.conf", "path": "conf/app.conf",
                                                                  "mode": 0o600}]}},
        {"name": "cfg-all", "configMap": {"name": "cfg", "defaultMode": 0o440}},
        {"name": "maybe", "configMap": {"name": "absent", "optional": True}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory",
                                                 "divisor": "1Mi"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu",
                                                 "divisor": "1m"}}]}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
    ])
    uid = pod["metadata"]["uid"]
    # The API server's ServiceAccount admission added the projected token volume and its mount.
    api_access = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(api_access) == 1
    assert {"name": api_access[0]["name"], "readOnly": True, "mountPath": SA_DIR} in \
        pod["spec"]["containers"][0]["volumeMounts"]

    paths = await volumes.setup(client, kconfig, pod)
    pod_dir = kconfig.pod_dir(uid)
    assert paths["cfg"] == f"{pod_dir}/volumes/kubernetes.io~configmap/cfg"
    assert _read(f"{paths['cfg']}/conf/app.conf") == "v1"
    assert _mode(os.path.realpath(f"{paths['cfg']}/conf/app.conf")) == 0o600
    assert sorted(os.listdir(paths["cfg"]))[0] == "..2" + sorted(os.listdir(paths["cfg"]))[0][3:]
    assert os.readlink(f"{paths['cfg']}/conf") == "..data/conf"
    assert sorted(f for f in os.listdir(paths["cfg-all"]) if not f.startswith("..")) == \
        ["app.conf", "blob", "other"]
    with open(f"{paths['cfg-all']}/blob", "rb") as f:
        assert f.read() == b"\x00\x01"
    assert _mode(os.path.realpath(f"{paths['cfg-all']}/other")) == 0o440
    assert [f for f in os.listdir(paths["maybe"]) if not f.startswith("..")] == []
    assert _read(f"{paths['sec']}/pw") == "hunter2"
    assert _mode(os.path.realpath(f"{paths['sec']}/pw")) == 0o644
    assert _read(f"{paths['info']}/labels") == 'app="web"\ntier="front"'
    assert _read(f"{paths['info']}/name") == "vol-pod"
    assert _read(f"{paths['info']}/mem") == "64" and _read(f"{paths['info']}/cpu") == "500"
    # Secrets, projected volumes and Memory emptyDirs are tmpfs; configMaps are not.
    sa = paths[api_access[0]["name"]]
    for name in ("sec", "scratch"):
        assert mounts.is_mount_point(paths[name])
    assert mounts.is_mount_point(sa) and not mounts.is_mount_point(paths["cfg"])
    assert os.statvfs(paths["scratch"]).f_blocks * os.statvfs(paths["scratch"]).f_frsize == 8 * 1024 * 1024

    # The service-account token: a JWT bound to this pod that the API server accepts.
    token = _read(f"{sa}/token")
    claims = tokens.claims(token)
    assert claims["kubernetes.io"]["pod"] == {"name": "vol-pod", "uid": uid}
    assert claims["kubernetes.io"]["namespace"] == namespace
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    assert _read(f"{sa}/namespace") == namespace and _read(f"{sa}/ca.crt").startswith("-----BEGIN")
    review = await client.create(TOKENREVIEWS, {"spec": {"token": token}})
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]

    # The container's mounts: read-only for these kinds, the token at its usual place.
    c = dict(pod["spec"]["containers"][0])
    c["volumeMounts"] = c["volumeMounts"] + [{"name": "cfg", "mountPath": "/etc/app"},
                                             {"name": "scratch", "mountPath": "/scratch"}]
    by_path = {m.container_path: m for m in volumes.container_mounts(pod, c, paths)}
    assert by_path[SA_DIR].host_path == sa and by_path[SA_DIR].readonly
    assert by_path["/etc/app"].readonly and not by_path["/scratch"].readonly

    # Updates arrive atomically on refresh; the token is kept while it is fresh.
    before = os.readlink(f"{paths['cfg']}/..data")
    cm = await client.get(CONFIGMAPS, "cfg", namespace)
    cm["data"]["app.conf"] = "v2"
    await client.update(CONFIGMAPS, cm)
    await volumes.refresh(client, kconfig, pod)
    assert _read(f"{paths['cfg']}/conf/app.conf") == "v2"
    assert os.readlink(f"{paths['cfg']}/..data") != before
    assert _read(f"{sa}/token") == token
    # Setup again (a kubelet restart) is idempotent: same paths, no second tmpfs.
    assert await volumes.setup(client, kconfig, pod) == paths
    assert mounts.mounts_under(paths["sec"]) == [paths["sec"]]

    await volumes.teardown(kconfig, uid)
    assert not os.path.exists(pod_dir)
    assert mounts.mounts_under(str(tmp_path)) == []
    await volumes.teardown(kconfig, uid)  # idempotent


async def test_missing_configmap_fails_and_leaves_nothing(client, namespace, kconfig):
    pod = await _pod(client, namespace, [{"name": "cfg", "configMap": {"name": "nope"}}],
                     automountServiceAccountToken=False)
    with pytest.raises(volumes.VolumeError) as e:
        await volumes.setup(client, kconfig, pod)
    assert e.value.reason == "FailedMount"
    assert e.value.message == 'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found'
    assert not os.path.exists(os.path.join(kconfig.pod_dir(pod["metadata"]["uid"]), "volumes",
                                           "kubernetes.io~configmap", "cfg"))


async def test_projected_without_root_ca_or_service_account(client, namespace, kconfig):
    pod = await _pod(client, namespace, [])  # admission adds kube-api-access-*
    name = pod["spec"]["volumes"][0]["name"]
    with pytest.raises(volumes.VolumeError) as e:
        await volumes.setup(client, kconfig, pod)
    assert e.value.message == (f'MountVolume.SetUp failed for volume "{name}" : [failed to fetch token: '
                               f'serviceaccounts "default" not found, configmap "kube-root-ca.crt" not found]')
    assert mounts.mounts_under(kconfig.pods_dir) == []


async def test_secret_missing_key_and_unsupported_volume(client, namespace, kconfig):
    await client.create(SECRETS, {"metadata": {"name": "s"}, "stringData": {"a": "1"}}, namespace)
    pod = await _pod(client, namespace, [{"name": "s", "secret": {"secretName": "s", "items": [
        {"key": "b", "path": "b"}]}}], automountServiceAccountToken=False)
    with pytest.raises(volumes.VolumeError, match='volume "s" : references non-existent secret key: b$'):
        await volumes.setup(client, kconfig, pod)
    assert mounts.mounts_under(kconfig.pods_dir) == []
    pod = await client.create(PODS, {"metadata": {"name": "nfs"}, "spec": {
        "automountServiceAccountToken": False,
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "n", "nfs": {"server": "1.2.3.4", "path": "/x"}}]}}, namespace)
    with pytest.raises(volumes.VolumeError, match="not supported"):
        await volumes.setup(client, kconfig, pod)


async def test_token_rotated_on_refresh(client, namespace, kconfig):
    await _namespace_basics(client, namespace)
    pod = await _pod(client, namespace, [{"name": "tok", "projected": {"sources": [
        {"serviceAccountToken": {"path": "t", "audience": "vault", "expirationSeconds": 600}}]}}],
        automountServiceAccountToken=False)
    paths = await volumes.setup(client, kconfig, pod)
    first = _read(f"{paths['tok']}/t")
    assert tokens.claims(first)["aud"] == ["vault"]
    assert tokens.claims(first)["exp"] - tokens.claims(first)["iat"] == 600
    # Pretend the token was issued 9 minutes ago (past 80% of 10): refresh asks for a new one.
    old = tokens.claims(first)
    old["iat"] -= 540
    old["exp"] -= 540
    with open(os.path.realpath(f"{paths['tok']}/t"), "w") as f:
        f.write(_jwt(old))
    time.sleep(1)  # a new iat
    await volumes.refresh(client, kconfig, pod)
    new = _read(f"{paths['tok']}/t")
    assert new != first and tokens.claims(new)["iat"] > old["iat"] + 540 - 1
