"""A container's volumeMounts as runtime mounts; subPaths that cannot escape their volume.

kubelet makeMounts + pkg/volume/util/subpath (Linux): a subPath (or a
subPathExpr expanded with the container's env) must be relative and free of
``..``; it is created as a directory if missing (mode of the volume root);
then it is resolved on the host (symlinks evaluated), must lie within the
volume, and is opened component by component with O_NOFOLLOW and
bind-mounted from ``/proc/self/fd/<n>`` to
``<pod>/volume-subpaths/<volume>/<container>/<index>`` so that a symlink
swapped in by a container after the check cannot redirect the mount.
"""

from __future__ import annotations

import os
import stat

from kybernetes.kubelet.volumes import expansion, layout, mounts
from kybernetes.runtime.spec import Mount

PROPAGATION = {None: "rprivate", "": "rprivate", "None": "rprivate",
               "HostToContainer": "rslave", "Bidirectional": "rshared"}
# Volumes the kubelet always mounts read-only (their plugins' ReadOnly attribute).
READ_ONLY_KINDS = ("configMap", "secret", "downwardAPI", "projected")


class SubPathError(Exception):
    pass


def expand_subpath_expr(expr: str, env: dict[str, str]) -> str:
    """ExpandContainerVolumeMounts: every $(VAR) must have a non-empty value."""
    missing: set[str] = set()

    def lookup(key: str) -> str:
        value = env.get(key, "")
        if not value:
            missing.add(key)
        return value

    out = expansion.expand(expr, lookup)
    if missing:
        raise SubPathError(f"missing value for {', '.join(sorted(missing))}")
    return out


def check_subpath(sub: str) -> None:
    if os.path.isabs(sub):
        raise SubPathError(f"error SubPath `{sub}` must not be an absolute path")
    if ".." in sub.split("/"):
        raise SubPathError(f"unable to provision SubPath `{sub}`: must not contain '..'")


def within(path: str, base: str) -> bool:
    rel = os.path.relpath(path, base)
    return rel == "." or not (rel == ".." or rel.startswith("../") or os.path.isabs(rel))


def safe_make_dir(sub: str, volume: str, perm: int) -> None:
    """SafeMakeDir: create the missing components under the volume, never following a symlink."""
    fd = os.open(volume, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in [p for p in sub.split("/") if p not in ("", ".")]:
            try:
                os.mkdir(part, perm, dir_fd=fd)
                os.chmod(part, perm, dir_fd=fd)  # umask-proof, as the kubelet does
            except FileExistsError:
                pass
            nfd = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def safe_open(path: str, base: str) -> int:
    """doSafeOpen: open ``path`` (within ``base``, both resolved) with O_NOFOLLOW at every step."""
    rel = os.path.relpath(path, base)
    fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in ([] if rel == "." else rel.split("/")):
            nfd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise SubPathError(f"{path} changed into a symlink")
        return fd
    except BaseException:
        os.close(fd)
        raise


def bind_subpath(host_path: str, volume_path: str, target: str) -> str:
    """PrepareSafeSubpath: the subPath bind-mounted at ``target``; returns ``target``."""
    try:
        new_volume = os.path.realpath(volume_path, strict=True)
        new_path = os.path.realpath(host_path, strict=True)
    except OSError as e:
        raise SubPathError(f"error resolving symlinks in {host_path!r}: {e}") from e
    if not within(new_path, new_volume):
        raise SubPathError(f"subpath {new_path!r} not within volume path {new_volume!r}")
    fd = safe_open(new_path, new_volume)
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
        if mounts.is_mount_point(target):
            mounts.unmount(target)
        if is_dir:
            if not os.path.isdir(target) or os.path.islink(target):
                _remove(target)
                os.mkdir(target, 0o750)
        elif not os.path.isfile(target) or os.path.islink(target):
            _remove(target)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o640))
        mounts.bind(f"/proc/self/fd/{fd}", target)
    finally:
        os.close(fd)
    return target


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)


def container_mounts(pod: dict, container: dict, volume_paths: dict[str, str], *,
                     env: dict[str, str] | None = None, pod_dir: str | None = None) -> list[Mount]:
    spec = pod.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    privileged = bool((container.get("securityContext") or {}).get("privileged"))
    if env is None:
        env = literal_env(container)
    if pod_dir is None:
        pod_dir = next(filter(None, map(layout.pod_dir_of, volume_paths.values())), None)
    cname = container.get("name", "")
    out: list[Mount] = []
    for i, vm in enumerate(container.get("volumeMounts") or []):
        name = vm.get("name", "")
        host = volume_paths.get(name)
        if host is None:
            raise SubPathError(f'cannot find volume "{name}" to mount into container "{cname}"')
        vol = volumes.get(name) or {}
        propagation = vm.get("mountPropagation")
        if propagation not in PROPAGATION:
            raise SubPathError(f"invalid mount propagation mode {propagation!r}")
        if propagation == "Bidirectional" and not privileged:
            raise SubPathError("Bidirectional mount propagation is available only to privileged containers")
        sub = vm.get("subPath") or ""
        if vm.get("subPathExpr"):
            sub = expand_subpath_expr(vm["subPathExpr"], env)
        if sub:
            check_subpath(sub)
            full = os.path.join(host, sub)
            if not os.path.lexists(full):
                try:
                    safe_make_dir(sub, host, os.stat(host).st_mode & 0o7777)
                except OSError as e:
                    raise SubPathError(f'failed to create subPath directory for volumeMount "{name}" '
                                       f'of container "{cname}"') from e
            try:
                if pod_dir is not None:
                    full = bind_subpath(full, host, layout.subpath_dir(pod_dir, name, cname, i))
                else:
                    resolved = os.path.realpath(full, strict=True)
                    if not within(resolved, os.path.realpath(host)):
                        raise SubPathError(f"subpath {resolved!r} not within volume path {host!r}")
                    full = resolved
            except (SubPathError, OSError) as e:
                raise SubPathError(f'failed to prepare subPath for volumeMount "{name}" '
                                   f'of container "{cname}"') from e
            host = full
        readonly = bool(vm.get("readOnly")) or any(vol.get(k) is not None for k in READ_ONLY_KINDS)
        out.append(Mount(host_path=host, container_path=vm.get("mountPath", ""), readonly=readonly,
                         propagation=PROPAGATION[propagation]))
    return out


def literal_env(container: dict) -> dict[str, str]:
    """The container's literal ``env`` values, expanded as the kubelet expands them."""
    out: dict[str, str] = {}
    for e in container.get("env") or []:
        if "valueFrom" not in e or e.get("value"):
            out[e.get("name", "")] = expansion.expand(e.get("value") or "", expansion.mapping(out))
    return out
