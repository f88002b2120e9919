"""Controller expectations, as kube-controller-manager's ControllerExpectations
and UIDTrackingControllerExpectations (pkg/controller/controller_utils.go).

A controller that creates or deletes pods records how many of those writes
it expects its informer to observe; until they are observed (or five minutes
pass, in case a watch event was lost) it does not act again on that owner.
Without this a controller that resyncs before its own writes reach its cache
would count too few pods and create more: over-creation.

Deletions are counted (ControllerExpectations, as the DaemonSet and Job
controllers do) or, when expected with ``expect_deletions``, tracked by pod
key (UIDTrackingControllerExpectations, as the ReplicaSet controller does),
so that a graceful deletion (an update setting deletionTimestamp) and the
final delete event count once between them.

Keys are the owner's ``namespace/name``. Time comes from the injected clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kybernetes.client import clock as clocks

log = logging.getLogger(__name__)

# ExpectationsTimeout: how long a controller waits for watch events it expects.
EXPECTATIONS_TIMEOUT = 5 * 60.0


@dataclass
class ControlleeExpectations:
    """Adds and deletes one owner still waits to observe, and when they were set."""

    add: int
    delete: int
    timestamp: float
    uids: set[str] = field(default_factory=set)

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Expected creations and deletions per owner key (deletions counted, or tracked by
    pod key when expected with ``expect_deletions``)."""

    def __init__(self, clock: clocks.Clock | None = None, timeout: float = EXPECTATIONS_TIMEOUT):
        self._clock = clock or clocks.RealClock()
        self._timeout = timeout
        self._store: dict[str, ControlleeExpectations] = {}

    def get(self, key: str) -> ControlleeExpectations | None:
        return self._store.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the owner may be synced: nothing is expected, everything expected
        was observed, or the expectations expired (a lost event must not stall it)."""
        exp = self._store.get(key)
        if exp is None:
            return True
        if exp.fulfilled():
            return True
        if self._clock.monotonic() - exp.timestamp > self._timeout:
            log.info("expectations of %s expired (add=%d, del=%d)", key, exp.add, exp.delete)
            return True
        return False

    def delete(self, key: str) -> None:
        """Forget the owner (it was deleted; a new one of that name starts clean)."""
        self._store.pop(key, None)

    def set(self, key: str, add: int, delete: int) -> None:
        """SetExpectations: ``add`` creations and ``delete`` deletions, counted."""
        self._store[key] = ControlleeExpectations(add, delete, self._clock.monotonic())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set(key, adds, 0)

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        """Expect exactly these pods (``namespace/name``) to be deleted."""
        uids = set(pod_keys)
        self._store[key] = ControlleeExpectations(0, len(uids), self._clock.monotonic(), uids)

    def lower(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def raise_(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add += add
            exp.delete += delete

    def creation_observed(self, key: str) -> None:
        self.lower(key, 1, 0)

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        """With ``pod_key``: count the deletion of that pod once, and only if it was one
        expected by ``expect_deletions``. Without: count one deletion."""
        if pod_key is None:
            self.lower(key, 0, 1)
            return
        exp = self._store.get(key)
        if exp is not None and pod_key in exp.uids:
            exp.uids.discard(pod_key)
            exp.delete -= 1
