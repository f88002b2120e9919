"""config.json generation, user lookup and CRI log writing, without running containers."""

from __future__ import annotations

import os
import re

import pytest

from kybernetes.runtime import errors, logwriter, seccomp, spec, users


def gen(config: spec.ContainerConfig, image_config: dict | None = None, uid: int = 0) -> dict:
    return spec.generate(config, rootfs="/r", image_config=image_config or {}, cgroups_path="/kyb/c",
                         uid=uid, gid=0)


def test_command_and_args_follow_kubernetes_rules():
    image = {"Entrypoint": ["/entry"], "Cmd": ["--default"]}
    argv = lambda **kw: spec.process_args(spec.ContainerConfig(name="c", image="i", **kw), image)  # noqa: E731
    assert argv() == ["/entry", "--default"]
    assert argv(args=["--mine"]) == ["/entry", "--mine"]
    assert argv(command=["/bin/x"]) == ["/bin/x"]
    assert argv(command=["/bin/x"], args=["y"]) == ["/bin/x", "y"]
    with pytest.raises(errors.ContainerCreateError):
        spec.process_args(spec.ContainerConfig(name="c", image="i"), {})


def test_env_merges_image_and_container():
    env = spec.environment(spec.ContainerConfig(name="c", image="i", env={"A": "mine"}, hostname="h"),
                           {"Env": ["A=image", "B=image"]})
    assert env == ["A=mine", "B=image", "PATH=" + spec.DEFAULT_PATH.split("=", 1)[1], "HOSTNAME=h"]


def test_capabilities_add_drop_all_and_privileged():
    caps = lambda **kw: spec.capabilities(spec.ContainerConfig(name="c", image="i", **kw))  # noqa: E731
    assert caps() == spec.DEFAULT_CAPS
    assert "CAP_NET_ADMIN" in caps(capabilities_add=["NET_ADMIN"])
    assert "CAP_CHOWN" not in caps(capabilities_drop=["CHOWN"])
    assert caps(capabilities_drop=["ALL"], capabilities_add=["NET_BIND_SERVICE"]) == ["CAP_NET_BIND_SERVICE"]
    assert set(caps(capabilities_add=["ALL"], capabilities_drop=["SYS_ADMIN"])) == set(spec.ALL_CAPS) - {"CAP_SYS_ADMIN"}
    assert caps(privileged=True) == spec.ALL_CAPS
    held = spec.host_capabilities("000001fffeffffff")  # a runtime without CAP_SYS_RESOURCE
    assert "CAP_SYS_RESOURCE" not in spec.capabilities(spec.ContainerConfig(name="c", image="i", privileged=True), held)


def test_default_spec_matches_containerd():
    s = gen(spec.ContainerConfig(name="c", image="i", command=["x"], hostname="h"))
    assert s["linux"]["maskedPaths"] == spec.MASKED_PATHS
    assert s["linux"]["readonlyPaths"] == spec.READONLY_PATHS
    assert s["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert {m["destination"] for m in s["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                                        "/sys", "/sys/fs/cgroup", "/run"}
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["mount", "pid", "ipc", "uts", "network"]
    assert s["hostname"] == "h" and s["process"]["terminal"] is False
    assert s["process"]["noNewPrivileges"] is False
    assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert s["linux"]["cgroupsPath"] == "/kyb/c"


def test_privileged_drops_confinement():
    s = gen(spec.ContainerConfig(name="c", image="i", command=["x"], privileged=True))
    assert "seccomp" not in s["linux"] and "maskedPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


def test_namespaces_are_joined_by_path():
    s = gen(spec.ContainerConfig(name="c", image="i", command=["x"], hostname="h", netns_path="/run/netns/p",
                                 ipc_ns_path="/proc/9/ns/ipc", uts_ns_path="/proc/9/ns/uts"))
    ns = {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}
    assert ns == {"mount": None, "pid": None, "ipc": "/proc/9/ns/ipc", "uts": "/proc/9/ns/uts",
                  "network": "/run/netns/p"}
    assert "hostname" not in s  # a joined UTS namespace keeps the sandbox's hostname
    host = gen(spec.ContainerConfig(name="c", image="i", command=["x"], host_network=True))
    assert "network" not in {n["type"] for n in host["linux"]["namespaces"]}


def test_mounts_resources_and_non_root_capabilities():
    config = spec.ContainerConfig(
        name="c", image="i", command=["x"], readonly_rootfs=True,
        mounts=[spec.Mount("/h/a/b", "/v/a/b", readonly=True), spec.Mount("/h/a", "/v/a"),
                spec.Mount("/h/shm", "/dev/shm")],
        resources=spec.Resources(memory_limit=64 << 20, cpu_shares=spec.cpu_shares(500),
                                 cpu_quota=spec.cpu_quota(500), cpu_period=100000, pids_limit=9,
                                 oom_score_adj=900))
    s = gen(config, uid=1000)
    binds = [m for m in s["mounts"] if m["type"] == "bind"]
    assert [m["destination"] for m in binds] == ["/v/a", "/dev/shm", "/v/a/b"]  # parents first
    assert binds[2]["options"] == ["rbind", "rprivate", "ro"]
    assert [m["destination"] for m in s["mounts"]].count("/dev/shm") == 1
    res = s["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert res["cpu"] == {"shares": 512, "quota": 50000, "period": 100000} and res["pids"] == {"limit": 9}
    assert s["process"]["oomScoreAdj"] == 900 and s["root"]["readonly"] is True
    assert s["process"]["capabilities"]["effective"] == [] and s["process"]["capabilities"]["bounding"]


def test_cpu_conversions_match_the_kubelet():
    assert spec.cpu_shares(0) == 2 and spec.cpu_shares(1) == 2 and spec.cpu_shares(1000) == 1024
    assert spec.cpu_quota(1) == 1000 and spec.cpu_quota(1500) == 150000


def test_seccomp_profile_follows_capabilities():
    plain = seccomp.default_profile(spec.DEFAULT_CAPS)
    names = {n for rule in plain["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert "mount" not in names and "chroot" in names
    clone3 = [r for r in plain["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 and clone3[0]["action"] == "SCMP_ACT_ERRNO" and clone3[0]["errnoRet"] == 38
    admin = seccomp.default_profile(spec.DEFAULT_CAPS + ["CAP_SYS_ADMIN"])
    assert any("mount" in r["names"] for r in admin["syscalls"] if r["action"] == "SCMP_ACT_ALLOW")


def test_users_are_resolved_inside_the_rootfs(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/:/bin/sh\nweb:x:33:44::/:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nwww:x:44:\nlogs:x:55:web\nstaff:x:66:\n")
    root = str(tmp_path)
    assert users.resolve(root, None, None, None) == (0, 0, [])
    assert users.resolve(root, "web", None, None) == (33, 44, [55])
    assert users.resolve(root, "web:staff", None, None) == (33, 66, [55])
    assert users.resolve(root, "1234:5", None, None) == (1234, 5, [])
    assert users.resolve(root, "web", 2000, 3000) == (2000, 3000, [])
    with pytest.raises(errors.ContainerCreateError):
        users.resolve(root, "nobody-here", None, None)


LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


def test_cri_log_lines_and_partials(tmp_path):
    path = str(tmp_path / "0.log")
    w = logwriter.CRILogWriter(path, max_line=8)
    w.feed("stdout", b"hel")
    w.feed("stderr", b"err\r\n")
    w.feed("stdout", b"lo\n0123456789abc\n")
    w.feed("stdout", b"tail")
    w.close()
    recs = [LINE.match(line).groups() for line in open(path).read().splitlines()]
    assert recs == [("stderr", "F", "err"), ("stdout", "F", "hello"), ("stdout", "P", "01234567"),
                    ("stdout", "F", "89abc"), ("stdout", "P", "tail")]


def test_log_rotation_keeps_max_files(tmp_path):
    path = str(tmp_path / "0.log")
    w = logwriter.CRILogWriter(path, max_size=200, max_files=3)
    for i in range(60):
        w.feed("stdout", f"line {i}\n".encode())
    w.close()
    rotated = logwriter.rotated_files(path)
    assert len(rotated) == 2 and os.path.getsize(path) < 200
    assert all(os.path.getsize(p) >= 200 for p in rotated)
    kept = [int(line.rsplit(" ", 1)[1]) for p in rotated + [path] for line in open(p).read().splitlines()]
    assert kept == list(range(kept[0], 60))  # newest lines kept, in order, none lost between files
