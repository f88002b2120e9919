"""GET and LIST: one object or a page of them, from the cache or a quorum read
as the request's resourceVersion asks, rendered as JSON, YAML or a Table."""

from __future__ import annotations

from aiohttp import web

from kybernetes.api import status
from kybernetes.apiserver import listoptions, selecting
from kybernetes.apiserver.calls import Call, from_storage, render_list, render_object, respond


async def get(call: Call) -> web.Response:
    obj = await call.store.get(call.info.namespace, call.info.name, call.request.query.get("resourceVersion"))
    return respond(call, render_object(call, from_storage(call.resource, obj)))


async def list_(call: Call) -> web.Response:
    listoptions.validate(call.query, watch=False)
    predicate, _name = selecting.predicate(call.resource, call.param("labelSelector"),
                                           call.param("fieldSelector"))
    limit = call.int_param("limit")
    if limit < 0:
        raise status.bad_request("limit: Invalid value: must be a non-negative integer")
    items, revision, token, remaining = await call.store.list(
        call.info.namespace,
        resource_version=call.request.query.get("resourceVersion"),
        match=call.param("resourceVersionMatch"),
        limit=limit,
        continue_=call.param("continue"),
        predicate=predicate,
    )
    r = call.resource
    if r.stored_as is not None:
        items = [from_storage(r, o) for o in items]
    return respond(call, render_list(call, items, revision, token, remaining))
