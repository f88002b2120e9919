"""The per-container shim: ``python -m kybernetes.runtime.shim ...``.

Why a shim: a container must outlive the kubelet that started it (a kubelet
restart, or SIGKILL of ``kyb server``, leaves pods running), yet someone has
to hold the other end of its stdout/stderr, stamp each line for the CRI log,
and ``wait()`` for it to learn its exit code. That is conmon's and
containerd-shim's job, and this is the same design, small:

1. the launcher starts us with a sync pipe on stdout; we fork, the parent
   exits (so we are nobody's child but init's) and the child ``setsid``s;
2. we become a *child subreaper* and run ``runc create`` with two pipes as
   the container's stdout and stderr (runc passes its stdio through in
   detached mode); runc's init process is re-parented to us when runc exits;
3. we report ``{"ok": true, "pid": N}`` (or runc's error) on the sync pipe
   and close it; the kubelet then runs ``runc start`` itself;
4. we copy the pipes into the CRI log file (``logwriter``), wait for the
   container's init through a pidfd, drain the pipes, and write
   ``exit.json``: exit code (128+signal when killed), finish time, and
   ``oomKilled`` from the cgroup's OOM-kill counter, read before anyone can
   ``runc delete`` the cgroup (the kubelet deletes only after exit.json).

Imports only the standard library and the runtime's stdlib-only modules, so
it starts fast and never touches the kubelet's state: two shims start per pod,
so no argparse, subprocess or re (~25 ms of CPU each); its flags are parsed
by hand and runc is started with ``posix_spawn``.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

from kybernetes.runtime import cgroups, logwriter

PR_SET_CHILD_SUBREAPER = 36
STDIN_FIFO = "stdin"  # in the bundle, with --stdin: the container's standard input
DRAIN_SECONDS = 2.0


_FLAGS = {"--id": "id", "--bundle": "bundle", "--runc": "runc", "--runc-root": "runc_root",
          "--log-path": "log_path", "--log-max-size": "log_max_size",
          "--log-max-files": "log_max_files", "--cgroups-path": "cgroups_path"}
_REQUIRED = ("id", "bundle", "runc_root", "log_path", "cgroups_path")


class _Args:
    """The shim's flags (``--name value``; ``--stdin`` alone)."""

    def __init__(self, argv: list[str]) -> None:
        self.runc = "runc"
        self.log_max_size, self.log_max_files = logwriter.MAX_SIZE, logwriter.MAX_FILES
        self.stdin = False
        i = 0
        while i < len(argv):
            flag = argv[i]
            if flag == "--stdin":  # give the container a FIFO as stdin
                self.stdin = True
                i += 1
                continue
            if flag not in _FLAGS or i + 1 >= len(argv):
                raise SystemExit(f"kybernetes.runtime.shim: bad argument {flag!r}")
            value = argv[i + 1]
            setattr(self, _FLAGS[flag], int(value) if flag.startswith("--log-max") else value)
            i += 2
        missing = [name for name in _REQUIRED if not hasattr(self, name)]
        if missing:
            raise SystemExit(f"kybernetes.runtime.shim: missing --{missing[0].replace('_', '-')}")


def write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (rename over)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def runc_error(log_path: str, last: int = 1) -> str:
    """The last ``last`` errors runc wrote to its JSON log, oldest first.

    runc's own stderr says only "can't get final child's PID from pipe";
    the reason (from nsexec, a fatal record) comes just before it.
    """
    msgs: list[str] = []
    try:
        with open(log_path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("level") in ("error", "fatal") and rec.get("msg"):
                    msgs.append(rec["msg"])
    except FileNotFoundError:
        pass
    return "; ".join(msgs[-last:])


_held: list[int] = []


def _stdin_fifo(bundle: str) -> int:
    """The read end of the stdin FIFO, for the container. We keep a write end
    open for the container's life, so it sees no end of input between
    attaches (stdinOnce=false, the kubelet's default)."""
    path = os.path.join(bundle, STDIN_FIFO)
    os.mkfifo(path, 0o600)
    read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    _held.append(os.open(path, os.O_WRONLY))
    os.set_blocking(read_fd, True)
    return read_fd


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def main(argv: list[str]) -> int:
    a = _Args(argv)
    if os.fork():
        os._exit(0)  # the launcher reaps this parent at once; we carry on orphaned
    os.setsid()
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    sync = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with open(os.path.join(a.bundle, "shim.pid"), "w") as f:
        f.write(str(os.getpid()))

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid_file = os.path.join(a.bundle, "init.pid")
    runc_log = os.path.join(a.bundle, "runc.log")
    cmd = [a.runc, "--root", a.runc_root, "--log", runc_log, "--log-format", "json",
           "create", "--bundle", a.bundle, "--pid-file", pid_file, a.id]
    stdin_fd = _stdin_fifo(a.bundle) if a.stdin else devnull
    # Our other descriptors are close-on-exec (Python's default), as close_fds would make them.
    runc_pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, stdin_fd, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2)])
    rc = os.waitstatus_to_exitcode(_wait(runc_pid))
    if stdin_fd != devnull:
        os.close(stdin_fd)  # the container has it now; our write end (kept) holds it open
    os.close(out_w)
    os.close(err_w)
    if rc != 0:
        said = (_read_available(err_r) + _read_available(out_r)).decode(errors="replace").strip()
        sync.write(json.dumps({"ok": False, "error": runc_error(runc_log, last=3) or said
                               or f"runc create exited {rc}"}) + "\n")
        sync.close()
        return 1
    with open(pid_file) as f:
        pid = int(f.read().strip())
    pidfd = os.pidfd_open(pid)
    write_json(os.path.join(a.bundle, "shim.json"), {"shimPid": os.getpid(), "pid": pid})
    writer = logwriter.CRILogWriter(a.log_path, a.log_max_size, a.log_max_files)
    sync.write(json.dumps({"ok": True, "pid": pid}) + "\n")
    sync.close()

    status, finished = _pump(writer, {out_r: "stdout", err_r: "stderr"}, pid, pidfd)
    writer.close()
    if os.WIFSIGNALED(status):
        code, sig = 128 + os.WTERMSIG(status), os.WTERMSIG(status)
    else:
        code, sig = os.WEXITSTATUS(status), 0
    write_json(os.path.join(a.bundle, "exit.json"), {
        "exitCode": code, "signal": sig, "finishedAt": finished,
        "oomKilled": cgroups.oom_kills(a.cgroups_path) > 0,
    })
    return 0


def _pump(writer: logwriter.CRILogWriter, pipes: dict[int, str], pid: int,
          pidfd: int) -> tuple[int, int]:
    """Copy output until the container exits and its pipes drain.

    Returns the container's wait status and the time it was reaped (ns).
    """
    poller = select.poll()
    for fd in pipes:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    status: int | None = None
    finished = 0
    deadline = None
    while pipes and (deadline is None or time.monotonic() < deadline):
        timeout = 1000 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        for fd, _ev in poller.poll(timeout):
            if fd == pidfd:
                poller.unregister(pidfd)
                status, finished = _wait(pid), time.time_ns()
                deadline = time.monotonic() + DRAIN_SECONDS
                continue
            data = os.read(fd, 65536)
            if data:
                writer.feed(pipes[fd], data)
            else:
                poller.unregister(fd)
                os.close(fd)
                del pipes[fd]
        _reap_others(pid)
    if status is None:
        status, finished = _wait(pid), time.time_ns()
    return status, finished


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255 << 8  # not ours to wait for: exit code unknown


def _reap_others(pid: int) -> None:
    """Reap orphans re-parented to us (we are a subreaper), but never the container."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == pid:
            return
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
