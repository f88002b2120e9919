"""Writing a workload's status subresource, with the retry the workload controllers
share (updateReplicaSetStatus, storeDaemonSetStatus, updateStatefulSetStatus): PUT
the status; when that fails, GET the object and PUT again on top of what was read.

Each controller keeps its own upstream retry policy: how many attempts, and whether
only a conflict (409) is worth another one. The object given is not modified.
"""

from __future__ import annotations

from collections.abc import Callable

from kybernetes.api import registry, status
from kybernetes.client import rest
from kybernetes.controllers import podcontrol


async def update_status(client: rest.Client, resource: registry.Resource, obj: dict,
                        status_of: Callable[[dict], dict], *, attempts: int,
                        conflicts_only: bool) -> dict:
    """PUT ``status_of(obj)`` as ``obj``'s status, up to ``attempts`` times, re-reading the
    object before each retry (``status_of`` is given what was read). Returns the object
    written; the last error (or the first that is not a conflict, with ``conflicts_only``)
    is raised."""
    m = podcontrol.meta(obj)
    for attempt in range(attempts):
        try:
            return await client.update(resource, {**obj, "status": status_of(obj)}, subresource="status")
        except status.StatusError as e:
            if attempt == attempts - 1 or (conflicts_only and e.code != 409):
                raise
        obj = await client.get(resource, m["name"], m["namespace"])
    raise ValueError(f"attempts must be positive, not {attempts}")
