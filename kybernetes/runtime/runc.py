"""A thin async wrapper around the ``runc`` command line.

Every call runs ``runc --root <state dir> --log <file> --log-format json
<verb> ...`` as an asyncio subprocess, so our containers live in our own
runc state directory (never the system's ``/run/runc``) and runc's own
diagnostics land in a JSON log we can quote. A non-zero exit raises
``errors.RuncError`` with runc's stderr, or, if it printed nothing, the
last error from its log.

``create`` is normally issued by the shim (see ``shim``), not from here,
because the process that runs ``runc create`` becomes the container's
parent; ``create`` and ``run`` are still offered for callers that hold the
container's stdio themselves.

``read_state`` answers what ``runc state`` would without running runc: it
reads runc's own record (``<root>/<id>/state.json``) and checks the init
process the way libcontainer does. The kubelet asks for every container's
state every second and on every pod sync; forking ``runc list`` for that
cost ~1 ms of CPU per container per listing (a core's worth during a burst
of pod starts) and failed outright whenever a container was being created
or deleted meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

from kybernetes.runtime import errors, shim


class Runc:
    """runc bound to one state root (``--root``) and a default log file."""

    def __init__(self, root: str, binary: str = "runc", log_path: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.binary = binary
        self.log_path = log_path or os.path.join(self.root, "runc.log")
        self._states: dict[str, tuple[tuple[int, int, int], tuple[int, int]]] = {}
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def command(self, verb: str, *args: str, log_path: str | None = None) -> list[str]:
        """The full argv for ``runc <verb> args...``."""
        return [self.binary, "--root", self.root, "--log", log_path or self.log_path,
                "--log-format", "json", verb, *args]

    async def _run(self, verb: str, *args: str, stdin: bytes | None = None,
                   log_path: str | None = None, check: bool = True) -> tuple[int, bytes, bytes]:
        argv = self.command(verb, *args, log_path=log_path)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin)
        if check and proc.returncode != 0:
            said = err.decode(errors="replace").strip()
            raise errors.RuncError(verb, argv, proc.returncode,
                                   said or shim.runc_error(log_path or self.log_path))
        return proc.returncode, out, err

    # -- lifecycle ---------------------------------------------------------

    async def create(self, container_id: str, bundle: str, pid_file: str | None = None,
                     stdout: int | None = None, stderr: int | None = None) -> None:
        """``runc create``: the caller becomes the parent of the container's init."""
        args = ["--bundle", bundle] + (["--pid-file", pid_file] if pid_file else []) + [container_id]
        argv = self.command("create", *args)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        if await proc.wait() != 0:
            raise errors.RuncError("create", argv, proc.returncode, shim.runc_error(self.log_path))

    async def run_detached(self, container_id: str, bundle: str, pid_file: str | None = None,
                           stdout: int | None = None, stderr: int | None = None) -> None:
        """``runc run --detach``: create and start in one step."""
        args = ["--detach", "--bundle", bundle] + (["--pid-file", pid_file] if pid_file else [])
        argv = self.command("run", *args, container_id)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        if await proc.wait() != 0:
            raise errors.RuncError("run", argv, proc.returncode, shim.runc_error(self.log_path))

    async def start(self, container_id: str, log_path: str | None = None) -> None:
        await self._run("start", container_id, log_path=log_path)

    async def kill(self, container_id: str, signal: str | int = "SIGTERM", all_processes: bool = False,
                   log_path: str | None = None) -> None:
        args = (["--all"] if all_processes else []) + [container_id, str(signal)]
        await self._run("kill", *args, log_path=log_path)

    async def delete(self, container_id: str, force: bool = False, log_path: str | None = None) -> None:
        await self._run("delete", *(["--force"] if force else []), container_id, log_path=log_path)

    # -- inspection --------------------------------------------------------

    async def state(self, container_id: str) -> dict | None:
        """``runc state`` as a dict, or ``None`` if runc does not know the id."""
        # "container does not exist" is an answer here, not an error worth logging.
        rc, out, _ = await self._run("state", container_id, check=False, log_path=os.devnull)
        if rc != 0:
            return None
        return json.loads(out)

    def read_state(self, container_id: str) -> dict | None:
        """``{"id", "pid", "status"}`` as ``runc state`` reports them, or ``None``
        if runc does not know the id (or is still writing its record).

        libcontainer's rule (``runType``): the init process is gone when its pid
        is dead, a zombie, or a new process with another start time (pid reuse);
        alive, the container is ``created`` while ``exec.fifo`` exists (``runc
        start`` opens and removes it), else ``running``. A frozen container
        reads as ``running``: we never pause one.
        """
        state_dir = os.path.join(self.root, container_id)
        path = os.path.join(state_dir, "state.json")
        try:
            # runc replaces the file (rename) on each change: parsed again only then.
            st_ = os.stat(path)
            key = (st_.st_ino, st_.st_mtime_ns, st_.st_size)
            cached = self._states.get(container_id)
            if cached is not None and cached[0] == key:
                pid, start = cached[1]
            else:
                with open(path, "rb") as f:
                    st = json.loads(f.read())
                pid, start = int(st["init_process_pid"]), int(st["init_process_start"])
                self._states[container_id] = (key, (pid, start))
        except (FileNotFoundError, NotADirectoryError, ValueError, KeyError, TypeError):
            self._states.pop(container_id, None)
            return None
        if pid > 0 and _start_time(pid) == start:
            created = os.path.exists(os.path.join(state_dir, "exec.fifo"))
            return {"id": container_id, "pid": pid, "status": "created" if created else "running"}
        return {"id": container_id, "pid": 0, "status": "stopped"}

    def forget_states(self, keep: set[str]) -> None:
        """Drop ``read_state``'s parsed records of containers not in ``keep``."""
        for cid in set(self._states) - keep:
            self._states.pop(cid, None)  # a listing in another thread may have dropped it

    async def list(self) -> list[dict]:
        """Every container in our state root."""
        _, out, _ = await self._run("list", "--format", "json")
        return json.loads(out or b"null") or []

    async def ps(self, container_id: str) -> list[int]:
        """Host pids of the container's processes."""
        _, out, _ = await self._run("ps", "--format", "json", container_id)
        return json.loads(out or b"null") or []

    async def update(self, container_id: str, resources: dict) -> None:
        """``runc update --resources``: apply OCI ``linux.resources`` to a live container."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.root, delete=False) as f:
            json.dump(resources, f)
        try:
            await self._run("update", "--resources", f.name, container_id)
        finally:
            os.unlink(f.name)

    # -- exec --------------------------------------------------------------

    async def exec(self, container_id: str, process_file: str, *, tty: bool = False,
                   console_socket: str | None = None, pid_file: str | None = None,
                   stdin: int | None = None, stdout: int | None = None,
                   stderr: int | None = None, detach: bool = False,
                   controlling_tty: bool = False) -> asyncio.subprocess.Process:
        """Start ``runc exec --process <file>``; return the runc process to wait on.

        ``process_file`` holds an OCI process object (args, env, cwd, user,
        capabilities ...), written by the caller. With ``tty`` and
        ``console_socket`` (detached only) runc sends the pty master there;
        with ``tty`` in the foreground runc relays the pty to its own stdio,
        and ``controlling_tty`` makes that stdio (a pty) runc's controlling
        terminal (``setsid --ctty``) so window-size changes reach it.
        """
        args = ["--process", process_file]
        if tty:
            args.append("--tty")
        if console_socket:
            args += ["--console-socket", console_socket]
        if pid_file:
            args += ["--pid-file", pid_file]
        if detach:
            args.append("--detach")
        argv = self.command("exec", *args, container_id)
        if controlling_tty:
            argv = ["setsid", "--wait", "--ctty", *argv]
        return await asyncio.create_subprocess_exec(*argv, stdin=stdin, stdout=stdout, stderr=stderr)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (/proc/<pid>/stat field 22), or
    None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
