"""The container runtime's own exceptions.

Failures the runtime understands leave it as one of these, so the kubelet
can turn them into pod events (``Failed``, ``FailedMount``,
``ErrImageNeverPull`` ...) without knowing about runc, tarfile or mount(8);
library exceptions are chained (``raise ... from e``).
"""

from __future__ import annotations


class ContainerRuntimeError(Exception):
    """Base of every runtime error."""


class RuncError(ContainerRuntimeError):
    """runc exited non-zero; carries the command line and runc's own words.

    ``stderr`` holds what runc printed, or the last errors of its JSON
    ``--log`` file: for ``create`` runc's stderr is the container's own, and
    the real reason (nsexec's "fatal" record) is only in the log.
    """

    def __init__(self, verb: str, args: list[str], returncode: int, stderr: str) -> None:
        self.verb = verb
        self.command = list(args)
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"runc {verb} failed (exit {returncode}): {self.stderr or 'no message'}")


class ContainerNotFound(ContainerRuntimeError):
    """No container with that id in this runtime's data dir."""


class ContainerCreateError(ContainerRuntimeError):
    """The container could not be created (bundle, rootfs, shim or runc)."""


class ContainerStateError(ContainerRuntimeError):
    """The operation does not fit the container's state (start twice ...)."""


class ImageError(ContainerRuntimeError):
    """An image archive is malformed or uses a format we cannot unpack."""


class ImageNotFound(ContainerRuntimeError):
    """No image by that reference in the local store."""


class RootfsError(ContainerRuntimeError):
    """Mounting or unmounting a container's overlay root filesystem failed."""


class UnsafePathError(RootfsError):
    """A mount or removal would touch a path outside the runtime's own dirs."""
