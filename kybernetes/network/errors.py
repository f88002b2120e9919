"""Errors of kybernetes.network.

Named like kine's sentinel errors so callers (the kubelet, `kyb killall`) can
tell a refusal on safety grounds from a failing command or a full podCIDR.
No exception of iproute2 or the OS leaks out of this package unwrapped.
"""

from __future__ import annotations


class NetworkError(Exception):
    """Base of every error this package raises."""


class UnsafeNetworkError(NetworkError):
    """Refused before creating anything: a name without the project prefix, or
    an address range that overlaps the machine's own routes or addresses."""


class AddressesExhausted(NetworkError):
    """The podCIDR (or node-host network) has no free address left."""


class CommandError(NetworkError):
    """An `ip` command failed; `argv`, `returncode` and `stderr` say how."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"{' '.join(argv)} exited {returncode}: {self.stderr}")

    @property
    def not_found(self) -> bool:
        """True when the thing acted on does not exist (already removed)."""
        text = self.stderr.lower()
        return any(
            s in text
            for s in ("cannot find device", "no such file", "no such process", "does not exist",
                      "cannot open network namespace")
        )
