"""``componentstatuses``: the health of what the API server depends on,
computed on every read and never stored (k8s componentstatus REST).

kube-apiserver probes etcd, the scheduler and the controller manager. Here
the API server can vouch for its datastore, reported as ``etcd-0`` whatever
the backend, as k3s reports kine; the in-process scheduler and controller
manager have no health endpoint to probe, so they are not listed rather than
reported healthy unseen.
"""

from __future__ import annotations

from aiohttp import web

from kybernetes.api import status
from kybernetes.apiserver.calls import STATE, Call, render_list, render_object, respond
from kybernetes.storage import errors as storage_errors

DATASTORE = "etcd-0"


async def _datastore(call: Call) -> tuple[dict, int]:
    condition = {"type": "Healthy", "status": "True", "message": "ok"}
    revision = 0
    try:
        revision = await call.request.app[STATE].store.current_revision()
    except storage_errors.StorageError as e:
        condition = {"type": "Healthy", "status": "False", "error": str(e)}
    obj = {"kind": "ComponentStatus", "apiVersion": "v1",
           "metadata": {"name": DATASTORE}, "conditions": [condition]}
    return obj, revision


async def serve(call: Call) -> web.Response:
    if call.info.verb not in ("get", "list"):
        raise status.error(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")
    obj, revision = await _datastore(call)
    if call.info.verb == "get":
        if call.info.name != DATASTORE:
            raise call.not_found(call.info.name)
        return respond(call, render_object(call, obj))
    body = render_list(call, [obj], revision, "", None)
    return respond(call, body)
