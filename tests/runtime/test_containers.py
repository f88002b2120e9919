"""Real containers from the host fallback image: lifecycle, logs, limits, isolation."""

from __future__ import annotations

import os
import sys
import time

import pytest

from kybernetes.runtime import containers, errors, logwriter, records, rootfs, spec

from .helpers import read_log, run, sh, stdout_lines, wait_exited, wait_running

MiB = 1024 * 1024


async def test_exit_code_and_cri_log(runtime):
    st, log = await run(runtime, sh("echo hi; echo oops >&2; printf 'no newline'; exit 3"))
    assert st.exit_code == 3 and st.reason == "Error"
    assert st.fallback_image and st.image == "docker.io/library/busybox:latest"
    assert ("stdout", "F", "hi") in log
    assert ("stderr", "F", "oops") in log
    assert ("stdout", "P", "no newline") in log  # unterminated output is a partial record
    assert st.created_at <= st.started_at <= st.finished_at


async def test_zero_exit_is_completed(runtime):
    st, _ = await run(runtime, sh("true"))
    assert (st.exit_code, st.reason) == (0, "Completed")


async def test_stop_sends_sigterm_first(runtime):
    cid = await runtime.create_container(sh("trap 'echo got-term; exit 7' TERM; echo ready; "
                                            "while :; do sleep 0.1; done"))
    await runtime.start(cid)
    await wait_running(runtime, cid, "ready")
    t0 = time.monotonic()
    await runtime.stop(cid, timeout=30)
    assert time.monotonic() - t0 < 10
    st = await runtime.status(cid)
    assert (st.state, st.exit_code) == (records.EXITED, 7)
    assert "got-term" in stdout_lines(read_log(st.log_path))


async def test_stop_kills_a_container_ignoring_sigterm(runtime):
    cid = await runtime.create_container(sh("trap '' TERM; echo ready; while :; do sleep 0.1; done"))
    await runtime.start(cid)
    await wait_running(runtime, cid, "ready")
    t0 = time.monotonic()
    await runtime.stop(cid, timeout=1)
    elapsed = time.monotonic() - t0
    st = await runtime.status(cid)
    assert (st.state, st.exit_code, st.reason) == (records.EXITED, 137, "Error")
    assert 1 <= elapsed < 10


async def test_stop_of_a_created_container(runtime):
    cid = await runtime.create_container(sh("echo never"))
    await runtime.stop(cid, timeout=5)
    st = await runtime.status(cid)
    assert st.state == records.EXITED and st.started_at is None


async def test_env_cwd_and_user(runtime):
    config = sh('echo "$FOO|$(pwd)|$(id -u):$(id -g)|$HOSTNAME"; touch /root/x 2>/dev/null || echo denied',
                env={"FOO": "bar baz"}, working_dir="/usr", run_as_user=1000, run_as_group=1000,
                hostname="box")
    st, log = await run(runtime, config)
    assert stdout_lines(log) == ["bar baz|/usr|1000:1000|box", "denied"], log
    assert st.exit_code == 0


async def test_hostname_and_private_tmp(runtime):
    st, log = await run(runtime, sh("hostname; ls -A /tmp | wc -l; test -e " + runtime.data_dir
                                    + " && echo data-visible || echo data-hidden", hostname="podname"))
    assert stdout_lines(log) == ["podname", "0", "data-hidden"]


async def test_readonly_rootfs_refuses_writes(runtime):
    st, log = await run(runtime, sh("echo x > /file 2>/dev/null && echo wrote || echo refused; "
                                    "echo y > /dev/shm/ok && echo shm-ok", readonly_rootfs=True))
    assert stdout_lines(log) == ["refused", "shm-ok"]


async def test_writable_rootfs_keeps_writes_in_the_container(runtime):
    st, log = await run(runtime, sh("echo x > /etc/kyb-marker && echo wrote"))
    assert stdout_lines(log) == ["wrote"]
    assert not os.path.exists("/etc/kyb-marker")  # the host's /etc is only a lower layer


async def test_bind_mounted_volumes(runtime, tmp_path):
    ro_dir, rw_dir = tmp_path / "ro", tmp_path / "rw"
    ro_dir.mkdir()
    rw_dir.mkdir()
    (ro_dir / "hello.txt").write_text("from-host\n")
    hosts, termination = tmp_path / "hosts", tmp_path / "termination-log"
    hosts.write_text("10.244.0.5\tweb-0\n")
    termination.write_text("")
    config = sh("cat /ro/hello.txt; touch /ro/y 2>/dev/null || echo ro-refused; "
                "echo from-container > /rw/out.txt; cat /etc/hosts; echo bye > /dev/termination-log",
                mounts=[spec.Mount(str(ro_dir), "/ro", readonly=True), spec.Mount(str(rw_dir), "/rw"),
                        spec.Mount(str(hosts), "/etc/hosts", readonly=True),
                        spec.Mount(str(termination), "/dev/termination-log")],
                readonly_rootfs=True)
    st, log = await run(runtime, config)
    assert stdout_lines(log) == ["from-host", "ro-refused", "10.244.0.5\tweb-0"]
    assert termination.read_text() == "bye\n"
    assert (rw_dir / "out.txt").read_text() == "from-container\n"
    assert not (ro_dir / "y").exists()


async def test_memory_limit_ends_in_oomkilled(runtime):
    python = os.path.realpath(sys.executable)  # visible through the host root lower layer
    config = sh(python + ' -c "b = bytearray(300 * 1024 * 1024); print(len(b))"',
                resources=spec.Resources(memory_limit=64 * MiB))
    st, log = await run(runtime, config, timeout=60)
    assert (st.reason, st.exit_code) == ("OOMKilled", 137), (st, log)


async def test_cgroup_limits_are_applied(runtime):
    config = sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares",
                resources=spec.Resources(memory_limit=128 * MiB, pids_limit=50,
                                         cpu_quota=spec.cpu_quota(250), cpu_period=100_000,
                                         cpu_shares=spec.cpu_shares(250)))
    st, log = await run(runtime, config)
    assert stdout_lines(log) == [str(128 * MiB), "50", "25000", "256"], log


async def test_own_pid_namespace(runtime):
    st, log = await run(runtime, sh("ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; ps -e | wc -l"))
    pids, ps_lines = stdout_lines(log)
    assert pids.split()[0] == "1" and len(pids.split()) <= 5, pids
    assert int(ps_lines) <= 5  # header + sh + ps + wc: no host process is visible


async def test_default_security_settings(runtime):
    st, log = await run(runtime, sh("grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status"))
    fields = dict(line.split(":\t") for line in stdout_lines(log))
    assert fields["Seccomp"] == "2"  # RuntimeDefault filter is on
    assert fields["NoNewPrivs"] == "0"  # allowPrivilegeEscalation defaults to true
    assert int(fields["CapEff"], 16) == sum(1 << spec.ALL_CAPS.index(c) for c in spec.DEFAULT_CAPS)
    st, log = await run(runtime, sh("grep -E '^(CapEff|NoNewPrivs):' /proc/self/status",
                                    capabilities_drop=["ALL"], allow_privilege_escalation=False))
    assert stdout_lines(log) == ["CapEff:\t0000000000000000", "NoNewPrivs:\t1"]


async def test_runc_error_is_reported_and_nothing_is_left(runtime):
    with pytest.raises(errors.RuncError) as caught:
        await runtime.create_container(spec.ContainerConfig(name="bad", image="busybox",
                                                            command=["/no/such/binary"]))
    assert "/no/such/binary" in str(caught.value)
    assert os.listdir(runtime.containers_dir) == []


async def test_remove_cleans_mounts_cgroups_and_state(runtime):
    cid = await runtime.create_container(sh("sleep 1000"))
    await runtime.start(cid)
    await wait_running(runtime, cid)
    cdir = runtime.container_dir(cid)
    meta_cgroups = (await runtime.stats(cid))
    assert meta_cgroups["cpu_usage_ns"] > 0 and meta_cgroups["memory_working_set_bytes"] > 0
    await runtime.remove(cid)
    assert not os.path.exists(cdir)
    assert rootfs.mounts_under(cdir) == []
    assert await runtime.runc.state(cid) is None
    with pytest.raises(errors.ContainerNotFound):
        await runtime.status(cid)


async def test_exec_output_exit_code_and_stdin(runtime):
    cid = await runtime.create_container(sh("sleep 1000"))
    await runtime.start(cid)
    await wait_running(runtime, cid)
    code, out, err = await runtime.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert (code, out, err) == (5, b"out\n", b"err\n")
    handle = await runtime.exec(cid, ["sh", "-c", "tr a-z A-Z"], stdin=True)
    out, err = await handle.communicate(b"shout\n")
    assert (handle.returncode, out) == (0, b"SHOUT\n")
    code, out, _ = await runtime.exec_sync(cid, ["sh", "-c", "ls /proc | grep -cE '^[0-9]+$'"])
    assert code == 0 and int(out) <= 6  # exec joins the container's pid namespace
    await runtime.stop(cid, timeout=0)


async def test_exec_with_a_tty(runtime):
    cid = await runtime.create_container(sh("sleep 1000"))
    await runtime.start(cid)
    await wait_running(runtime, cid)
    handle = await runtime.exec(cid, ["sh", "-c", "test -t 0 && echo is-a-tty; read line; echo got:$line"],
                                tty=True)
    handle.resize(40, 100)
    await handle.write(b"hello\n")
    out = b""
    while chunk := await handle.read():
        out += chunk
    assert await handle.wait() == 0
    assert b"is-a-tty" in out and b"got:hello" in out, out
    await runtime.stop(cid, timeout=0)


async def test_list_reports_every_container(runtime):
    done = await runtime.create_container(sh("exit 0"))
    await runtime.start(done)
    await wait_exited(runtime, done)
    created = await runtime.create_container(sh("exit 0", labels={"k": "v"}))
    by_id = {c.id: c for c in await runtime.list()}
    assert by_id[done].state == records.EXITED and by_id[done].exit_code == 0
    assert by_id[created].state == records.CREATED and by_id[created].labels == {"k": "v"}


async def test_privileged_container(runtime):
    st, log = await run(runtime, sh("grep -E '^(CapEff|Seccomp):' /proc/self/status", privileged=True))
    fields = dict(line.split(":\t") for line in stdout_lines(log))
    with open("/proc/self/status") as f:
        ours = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert fields == {"CapEff": ours, "Seccomp": "0"}  # every capability the runtime holds


async def test_logs_rotate_by_size(runtime, data_dir, cgroup_parent):
    small = containers.Runtime(data_dir, cgroup_parent=cgroup_parent, log_max_size=4096, log_max_files=3)
    st, _ = await run(small, sh("i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"))
    rotated = logwriter.rotated_files(st.log_path)
    assert len(rotated) == 2
    kept = [c for p in rotated + [st.log_path] for c in stdout_lines(read_log(p))]
    assert kept[-1] == "line-399" and kept == [f"line-{i}" for i in range(400 - len(kept), 400)]
    assert st.log_path == await small.logs(st.id)


async def test_update_resources_of_a_running_container(runtime):
    cid = await runtime.create_container(sh("sleep 1000", resources=spec.Resources(memory_limit=64 * MiB)))
    await runtime.start(cid)
    await wait_running(runtime, cid)
    await runtime.update_resources(cid, spec.Resources(memory_limit=96 * MiB, cpu_quota=50000,
                                                       cpu_period=100000))
    code, out, _ = await runtime.exec_sync(cid, ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                                 "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"])
    assert out.split() == [str(96 * MiB).encode(), b"50000"]
    await runtime.stop(cid, timeout=0)
