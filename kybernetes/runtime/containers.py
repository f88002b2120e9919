"""The container runtime the kubelet drives: containers for real, under runc.

``Runtime`` is the one object the kubelet holds (it declares the matching
``Protocol`` on its side). Its data dir holds the image store (``images/``),
our runc state root (``runc/``) and one directory per container
(``containers/<id>``, see ``records``). Lifecycle, CRI-shaped:

* ``create_container`` resolves the image (the store, else the host root as
  fallback), mounts the overlay rootfs, writes ``config.json`` and starts the
  container's shim, which runs ``runc create`` and owns its stdio and exit;
* ``start`` runs ``runc start``; ``stop`` sends the stop signal, waits the
  grace period, then SIGKILL; ``remove`` deletes runc state, cgroups, the
  overlay mount and the directory;
* ``status``/``list`` read everything back from disk (our records and
  runc's, ``Runc.read_state``: no runc process), so a new ``Runtime`` on the
  same data dir re-adopts running containers unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import secrets
import shutil
import sys
import time
import tty as tty_mod

from kybernetes.runtime import (cgroups, errors, images, pins, processes, records, rootfs, runc,
                                shim, spec, users)

SHIM_TIMEOUT = 60.0
_ID = re.compile(r"^[0-9a-f]{8,64}$")


def is_container_id(name: str) -> bool:
    """Whether ``name`` looks like one of our container ids (a directory name)."""
    return bool(_ID.match(name))


_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _label(meta: dict, key: str) -> str | None:
    return ((meta.get("config") or {}).get("labels") or {}).get(key)


def _shim_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path)


def _own_capabilities() -> list[str]:
    """Our bounding set: what runc, our child, can hand to a container."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return spec.host_capabilities(line.split()[1])
    return list(spec.ALL_CAPS)


class Runtime:
    """Containers run by runc from images in a local store."""

    def __init__(self, data_dir: str, *, image_store: images.ImageStore | None = None,
                 runc_binary: str = "runc", cgroup_parent: str = "/kybernetes",
                 log_max_size: int = 10 * 1024 * 1024, log_max_files: int = 5,
                 hidden_host_paths: list[str] | None = None) -> None:
        self.data_dir = os.path.realpath(data_dir)
        self.containers_dir = os.path.join(self.data_dir, "containers")
        os.makedirs(self.containers_dir, mode=0o711, exist_ok=True)
        # Pinned sandboxes (``pins``): listed, stopped and removed here like containers.
        self.sandboxes_dir = os.path.join(self.data_dir, "sandboxes")
        self.images = image_store or images.ImageStore(os.path.join(self.data_dir, "images"))
        self.runc = runc.Runc(os.path.join(self.data_dir, "runc"), runc_binary)
        self.cgroup_parent = "/" + cgroup_parent.strip("/")
        self.log_max_size, self.log_max_files = log_max_size, log_max_files
        # Host paths a container on the fallback image must not see.
        self.hidden_host_paths = [self.data_dir, "/tmp", "/var/tmp"] + list(hidden_host_paths or [])
        self._metas: dict[str, tuple[tuple[int, int, int], dict]] = {}  # the listing's parsed meta.json

    def container_dir(self, container_id: str) -> str:
        if not _ID.match(container_id):
            raise errors.ContainerNotFound(f"no container {container_id!r}")
        return os.path.join(self.containers_dir, container_id)

    def _meta(self, container_id: str) -> tuple[str, dict]:
        cdir = self.container_dir(container_id)
        meta = records.load_meta(cdir)
        if meta is None:
            raise errors.ContainerNotFound(f"no container {container_id!r}")
        return cdir, meta

    # -- lifecycle ---------------------------------------------------------

    async def create_container(self, config: spec.ContainerConfig,
                               image: images.Image | None = None, *, stdin: bool = False) -> str:
        """Create (not start) a container; return its id.

        ``stdin`` (the pod spec's ``stdin: true``): the shim gives the
        container a FIFO as its standard input (``stdin_path``) and holds it
        open, so ``kubectl attach -i`` can write to it; otherwise /dev/null.
        """
        if image is None:
            image = await self.images.resolve(config.image) or images.host_image(config.image)
        cid = secrets.token_hex(32)
        cdir = self.container_dir(cid)
        await asyncio.to_thread(os.mkdir, cdir, 0o700)
        log_path = config.log_path or os.path.join(cdir, "container.log")
        parent = "/" + (config.cgroup_parent or self.cgroup_parent).strip("/")
        cgroups_path = f"{parent.rstrip('/')}/{cid}"
        meta = {"id": cid, "config": dataclasses.asdict(config), "createdAt": time.time_ns(),
                "startedAt": None, "logPath": log_path, "cgroupsPath": cgroups_path,
                "image": {"name": image.name, "id": image.id, "fallback": image.fallback},
                "stdin": stdin}
        try:
            await asyncio.to_thread(records.save_meta, cdir, meta)
            hidden = self.hidden_host_paths if image.fallback else []
            root = await rootfs.mount(cdir, list(image.layers), allowed_root=self.containers_dir,
                                      hidden=hidden)
            # Off the event loop: the users lookup, the spec and its fsynced file.
            await asyncio.to_thread(self._write_spec, config, image, cdir, root, cgroups_path)
            await self._launch_shim(cid, cdir, log_path, cgroups_path, stdin)
        except BaseException:
            try:
                await asyncio.shield(self._destroy(cid, cdir, cgroups_path))
            except Exception:  # noqa: BLE001 - the create error is the one to report
                pass
            raise
        return cid

    @staticmethod
    def _write_spec(config: spec.ContainerConfig, image: images.Image, cdir: str, root: str,
                    cgroups_path: str) -> None:
        uid, gid, extra = users.resolve(root, image.config.get("User"), config.run_as_user,
                                        config.run_as_group)
        oci = spec.generate(config, rootfs=root, image_config=image.config,
                            cgroups_path=cgroups_path, uid=uid, gid=gid, additional_gids=extra,
                            available_caps=_own_capabilities())
        shim.write_json(os.path.join(cdir, "config.json"), oci)

    async def _launch_shim(self, cid: str, cdir: str, log_path: str, cgroups_path: str,
                           stdin: bool = False) -> None:
        # -S: skip site (its .pth hooks cost ~40 ms of CPU per container);
        # the package is found through PYTHONPATH instead.
        argv = [sys.executable, "-S", "-m", "kybernetes.runtime.shim", "--id", cid, "--bundle", cdir,
                "--runc", self.runc.binary, "--runc-root", self.runc.root, "--log-path", log_path,
                "--log-max-size", str(self.log_max_size), "--log-max-files", str(self.log_max_files),
                "--cgroups-path", cgroups_path] + (["--stdin"] if stdin else [])
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        with open(os.path.join(cdir, "shim.log"), "ab") as shim_log:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=w, stderr=shim_log,
                cwd=cdir, start_new_session=True, env=_shim_env())
        os.close(w)
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(r, "rb", buffering=0))
        try:
            await proc.wait()  # the shim forks and its first process exits at once
            line = await asyncio.wait_for(reader.readline(), SHIM_TIMEOUT)
        except asyncio.TimeoutError:
            raise errors.ContainerCreateError(
                f"runc create did not finish within {SHIM_TIMEOUT:.0f}s") from None
        finally:
            transport.close()
        try:
            answer = json.loads(line)
        except ValueError:
            with open(os.path.join(cdir, "shim.log"), errors="replace") as f:
                tail = f.read()[-2000:]
            raise errors.ContainerCreateError(f"the shim failed to start: {tail.strip()}") from None
        if not answer.get("ok"):
            raise errors.RuncError("create", self.runc.command("create", cid), 1, answer.get("error", ""))

    async def start(self, container_id: str) -> None:
        """``runc start``: the container's process begins to run."""
        cdir, meta = self._meta(container_id)
        # Taken before the process may run: a command that exits at once must
        # not show a start after its finish.
        started = time.time_ns()
        await self.runc.start(container_id, log_path=os.path.join(cdir, "runc.log"))
        meta["startedAt"] = started
        await asyncio.to_thread(records.save_meta, cdir, meta)

    async def stop(self, container_id: str, timeout: float = 30.0) -> None:
        """Stop signal (SIGTERM unless configured), ``timeout`` seconds, then SIGKILL."""
        if pins.exists(self.sandboxes_dir, container_id):
            return await pins.release(self.sandboxes_dir, container_id)
        cdir, meta = self._meta(container_id)
        st = await self.status(container_id)
        if st.state not in (records.RUNNING, records.CREATED):
            return
        log = os.path.join(cdir, "runc.log")
        if timeout > 0 and st.state == records.RUNNING:
            sig = (meta.get("config") or {}).get("stop_signal") or "SIGTERM"
            try:
                await self.runc.kill(container_id, sig, log_path=log)
            except errors.RuncError:
                pass  # exited meanwhile
            if await self._wait_exit(container_id, cdir, timeout):
                return
        try:
            await self.runc.kill(container_id, "SIGKILL", all_processes=True, log_path=log)
        except errors.RuncError:
            pass
        if not await self._wait_exit(container_id, cdir, 10.0):
            raise errors.ContainerStateError(f"container {container_id} did not die after SIGKILL")

    async def _wait_exit(self, cid: str, cdir: str, timeout: float) -> bool:
        """Wait until the shim recorded the exit (or runc sees it stopped with no shim)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pid = records.shim_pid(cdir, cid)
        if pid is not None:
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                pidfd = None
            if pidfd is not None:
                gone = loop.create_future()
                loop.add_reader(pidfd, lambda: gone.done() or gone.set_result(None))
                try:
                    await asyncio.wait_for(gone, timeout)
                except asyncio.TimeoutError:
                    pass
                finally:
                    loop.remove_reader(pidfd)
                    os.close(pidfd)
        while True:
            if records.load_exit(cdir) is not None:
                return True
            if records.shim_pid(cdir, cid) is None:
                state = self.runc.read_state(cid)
                if state is None or state.get("status") == "stopped":
                    return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def remove(self, container_id: str) -> None:
        """Delete the container (killing it if still running) and all it left on the host."""
        if os.path.isdir(pins.sandbox_dir(self.sandboxes_dir, container_id)) and _ID.match(container_id):
            return await pins.remove(self.sandboxes_dir, container_id)
        cdir = self.container_dir(container_id)
        if not os.path.isdir(cdir):
            raise errors.ContainerNotFound(f"no container {container_id!r}")
        meta = records.load_meta(cdir) or {}  # half-created containers have none
        await self._destroy(container_id, cdir, meta.get("cgroupsPath") or "")

    async def _destroy(self, cid: str, cdir: str, cgroups_path: str) -> None:
        log = os.path.join(cdir, "runc.log")
        if self.runc.read_state(cid) is not None:
            try:
                await self.runc.delete(cid, force=True, log_path=log)
            except errors.RuncError:
                await self.runc.kill(cid, "SIGKILL", all_processes=True, log_path=log)
                await self._wait_exit(cid, cdir, 10.0)
                await self.runc.delete(cid, force=True, log_path=log)
        if not await self._wait_exit(cid, cdir, 10.0):
            pid = records.shim_pid(cdir, cid)
            if pid is not None:  # a shim stuck before runc create finished
                os.kill(pid, 9)
        await rootfs.unmount(cdir, allowed_root=self.containers_dir)
        if cgroups_path:
            await asyncio.to_thread(cgroups.remove, cgroups_path)
        left = rootfs.mounts_under(cdir)
        if left:
            raise errors.UnsafePathError(f"refusing to delete {cdir}: still mounted: {left}")
        await asyncio.to_thread(shutil.rmtree, cdir, True)

    # -- reading -----------------------------------------------------------

    async def status(self, container_id: str) -> records.ContainerStatus:
        if _ID.match(container_id) and (box := pins.status(self.sandboxes_dir, container_id)) is not None:
            return box
        cdir, meta = self._meta(container_id)
        return records.status(meta, self.runc.read_state(container_id), records.load_exit(cdir),
                              records.shim_pid(cdir, container_id) is not None)

    async def list(self, label: tuple[str, str] | None = None) -> list[records.ContainerStatus]:
        """Every container (and pinned sandbox) in the data dir, read from disk (in a
        thread: a few small files per container); with ``label`` (key, value) only
        those carrying it (CRI's label selector), the others' state left unread."""
        return await asyncio.to_thread(self._list, label)

    def _list(self, label: tuple[str, str] | None = None) -> list[records.ContainerStatus]:
        out = []
        seen = set()
        for cid in sorted(os.listdir(self.containers_dir)):
            if not _ID.match(cid):
                continue
            cdir = os.path.join(self.containers_dir, cid)
            meta = self._cached_meta(cid, cdir)
            if meta is None:
                continue
            seen.add(cid)
            if label is not None and _label(meta, label[0]) != label[1]:
                continue
            out.append(records.status(meta, self.runc.read_state(cid), records.load_exit(cdir),
                                      records.shim_pid(cdir, cid) is not None))
        if label is None:
            self.runc.forget_states(seen)
        for sid in pins.ids(self.sandboxes_dir):
            meta = self._cached_meta(sid, pins.sandbox_dir(self.sandboxes_dir, sid))
            if meta is None or (label is not None and _label(meta, label[0]) != label[1]):
                continue
            box = pins.status(self.sandboxes_dir, sid, meta)
            if box is not None:
                seen.add(sid)
                out.append(box)
        if label is None:
            for cid in set(self._metas) - seen:
                self._metas.pop(cid, None)
        return out

    def _cached_meta(self, cid: str, cdir: str) -> dict | None:
        """meta.json, parsed again only when it was replaced (create, start)."""
        try:
            st = os.stat(os.path.join(cdir, "meta.json"))
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._metas.get(cid)
        if cached is None or cached[0] != key:
            meta = records.load_meta(cdir)
            if meta is None:
                return None
            cached = self._metas[cid] = (key, meta)
        return cached[1]

    def stdin_path(self, container_id: str) -> str | None:
        """The FIFO that is the container's stdin (created with ``stdin=True``), else None."""
        cdir, meta = self._meta(container_id)
        path = os.path.join(cdir, shim.STDIN_FIFO)
        return path if meta.get("stdin") and os.path.exists(path) else None

    async def logs(self, container_id: str) -> str:
        """Path of the container's CRI log file."""
        return self._meta(container_id)[1]["logPath"]

    async def stats(self, container_id: str) -> dict[str, int]:
        """cpu_usage_ns, memory_working_set_bytes, ... and the time they were read."""
        meta = self._meta(container_id)[1]
        out = await asyncio.to_thread(cgroups.stats, meta["cgroupsPath"])
        out["timestamp_ns"] = time.time_ns()
        return out

    async def update_resources(self, container_id: str, resources: spec.Resources) -> None:
        """Apply new limits to a running container (in-place pod resize)."""
        probe = spec.ContainerConfig(name="", image="", resources=resources)
        limits = spec.linux_resources(probe)
        limits.pop("devices", None)  # device rules are fixed at create time
        await self.runc.update(container_id, limits)

    # -- exec ----------------------------------------------------------------

    async def exec(self, container_id: str, cmd: list[str], *, stdin: bool = False, tty: bool = False,
                   env: dict[str, str] | None = None) -> processes.ExecProcess:
        """Run ``cmd`` in the container; pipes (or a pty with ``tty``) on the handle."""
        cdir, _meta = self._meta(container_id)
        with open(os.path.join(cdir, "config.json")) as f:
            container_spec = json.load(f)
        token = secrets.token_hex(6)
        process_file = os.path.join(cdir, f"exec-{token}.json")
        pid_file = os.path.join(cdir, f"exec-{token}.pid")
        shim.write_json(process_file, processes.exec_process(container_spec, cmd, tty, env))
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        if not tty:
            proc = await self.runc.exec(container_id, process_file, pid_file=pid_file,
                                        stdin=pipe if stdin else null, stdout=pipe, stderr=pipe)
            return processes.ExecProcess(proc, pid_file, process_file)
        # A tty: runc allocates the container's pty and relays it to its own
        # stdio; we give runc a pty of ours as controlling terminal, so runc
        # copies our window size (and SIGWINCH on resize) to the container.
        master, slave = os.openpty()
        tty_mod.setraw(slave)
        try:
            proc = await self.runc.exec(container_id, process_file, tty=True, pid_file=pid_file,
                                        stdin=slave, stdout=slave, stderr=slave, controlling_tty=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return processes.ExecProcess(proc, pid_file, process_file, master_fd=master)

    async def exec_sync(self, container_id: str, cmd: list[str],
                        timeout: float | None = None) -> tuple[int, bytes, bytes]:
        """Run ``cmd`` to completion (exec probes): (exit code, stdout, stderr)."""
        handle = await self.exec(container_id, cmd)
        try:
            out, err = await asyncio.wait_for(handle.communicate(), timeout)
        except asyncio.TimeoutError:
            handle.signal()
            await handle.wait()
            raise
        return handle.returncode, out, err
