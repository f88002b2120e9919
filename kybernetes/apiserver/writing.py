"""Create, update and patch: the write pipeline every kind shares.

decode (fieldValidation) → convert to the storage version → defaults →
server-owned metadata → mutating admission → validation → validating
admission → kind extras (Service addresses) → compare-and-swap in storage.
Updates and patches run inside ``guaranteed_update`` so that a race with
another writer is retried on fresh data, unless the client pinned a
resourceVersion, which then answers 409 Conflict as kube-apiserver does.
"""

from __future__ import annotations

import copy
from typing import Any, Awaitable, Callable

from aiohttp import web

from kybernetes.api import (applying, defaulting, fields, jsonpatch, mergepatch, names, status,
                            strategicpatch, validation)
from kybernetes.api.patching_errors import ApplyConflict, PatchError
from kybernetes.apiserver import encoding, preparing, strategies
from kybernetes.apiserver.admission import Attributes
from kybernetes.apiserver.calls import STATE, Call, from_storage, respond, to_storage

GENERATE_NAME_RETRIES = 8

# Kinds whose strategy refuses an update without a resourceVersion
# (AllowUnconditionalUpdate false).
CONDITIONAL_UPDATE_ONLY = {("coordination.k8s.io", "leases")}

# Kinds whose strategy allows a PUT to create a missing object (AllowCreateOnUpdate).
CREATE_ON_UPDATE = {("", "endpoints"), ("", "events"), ("events.k8s.io", "events"), ("", "limitranges"),
                    ("coordination.k8s.io", "leases"), ("rbac.authorization.k8s.io", "roles"),
                    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterroles"),
                    ("rbac.authorization.k8s.io", "clusterrolebindings")}


async def read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > encoding.MAX_BODY:
        raise status.request_entity_too_large(encoding.MAX_BODY)
    chunks = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > encoding.MAX_BODY:
            raise status.request_entity_too_large(encoding.MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


def check_fields(call: Call, obj: Any) -> dict:
    """Apply fieldValidation to a decoded object: unknown fields fail
    (Strict), warn (Warn) or vanish (Ignore); type errors always fail."""
    r = call.resource
    if not isinstance(obj, dict):
        raise status.bad_request(f"the body of the request was not a {r.kind} object")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    want_kind, want_version = r.kind, r.api_version
    if call.info.subresource and call.info.subresource != "status":
        gvk = r.subresource_gvk(call.info.subresource)
        if gvk:
            want_kind = gvk[2]
            want_version = f"{gvk[0]}/{gvk[1]}" if gvk[0] else gvk[1]
    # kube-apiserver decodes into the endpoint's kind: a body without
    # apiVersion and kind (as the Python client sends) takes them from the URL.
    if not kind and not api_version:
        obj = {"apiVersion": want_version, "kind": want_kind, **obj}
        kind, api_version = want_kind, want_version
    elif not kind:
        raise status.bad_request(f"Object 'Kind' is missing in '{encoding.orjson.dumps(obj).decode()[:1024]}'")
    elif not api_version:
        raise status.bad_request(f"Object 'apiVersion' is missing in '{encoding.orjson.dumps(obj).decode()[:1024]}'")
    if kind != want_kind or api_version != want_version:
        raise status.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({want_version})" if kind == want_kind else
            f'{kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a {want_kind}: '
            f'no kind "{kind}" is registered for version "{api_version}"')
    definition = r.definition
    if want_kind != r.kind:
        from kybernetes.api import registry  # the subresource's own kind
        sub = registry.by_api_version(want_version, want_kind)
        definition = sub.definition if sub else ""
    if not definition:
        return obj
    mode = call.field_validation
    decoded = fields.decode(definition, obj, mode)
    if decoded.error:
        raise status.bad_request(fields.cannot_handle_message(want_kind, want_version.rpartition("/")[2],
                                                              decoded.error))
    if decoded.unknown:
        if mode == "Strict":
            raise status.bad_request(fields.strict_error_message(decoded.unknown))
        if mode == "Warn":
            call.warnings.extend(fields.warnings(decoded.unknown))
    return decoded.object


def invalid(call: Call, obj: dict, causes: list[dict]) -> status.StatusError:
    kind = call.resource.kind
    name = obj.get("metadata", {}).get("name", "")
    return status.invalid(kind, call.resource.group, name, causes,
                          validation.invalid_message(kind, name, causes, call.resource.group))


def validate(call: Call, obj: dict, old: dict | None) -> None:
    r = call.resource
    if r.stored_as is not None:
        # Validated in the version the client wrote (an events.k8s.io Event,
        # not the core Event it is stored as), as the rules expect.
        obj = from_storage(r, obj)
        old = from_storage(r, old) if old is not None else None
    causes = validation.validate(r.group, r.kind, obj, old, subresource=call.info.subresource)
    if causes:
        raise invalid(call, obj, causes)


def _manager_update(call: Call, old: dict | None, new: dict, timestamp: str) -> dict:
    return applying.track_update(old, new, call.default_manager(), definition=call.resource.definition,
                                 now=timestamp, subresource=call.info.subresource)


def _set_namespace(call: Call, obj: dict) -> None:
    meta = obj["metadata"]
    if call.resource.namespaced:
        ns = call.info.namespace
        if meta.get("namespace") and meta["namespace"] != ns:
            raise status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = ns
    else:
        meta.pop("namespace", None)


# -- create ------------------------------------------------------------------------


async def prepare_new(call: Call, obj: dict, timestamp: str) -> dict:
    """Everything before storage for an object about to be created."""
    r = call.resource
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    _set_namespace(call, obj)
    meta = obj["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = names.generate_name(meta["generateName"])
    obj["apiVersion"], obj["kind"] = obj.get("apiVersion"), obj.get("kind")
    defaulting.default(r.group, r.kind, obj)
    preparing.prepare_for_create(r.group, r.kind, obj, timestamp=timestamp)
    strategies.prepare_create(r.group, r.kind, obj)
    attrs = Attributes("CREATE", r, "", meta.get("namespace", ""), meta.get("name", ""), obj, None,
                       call.user, call.dry_run)
    await call.request.app[STATE].admission.admit(attrs)
    validate(call, obj, None)
    await call.request.app[STATE].admission.validate(attrs)
    return obj


async def create(call: Call) -> web.Response:
    r = call.resource
    body = encoding.decode_body(await read_body(call.request), call.request.headers.get("Content-Type"))
    obj = to_storage(r, check_fields(call, body))
    timestamp = preparing.now()
    obj = await prepare_new(call, obj, timestamp)
    obj = _manager_update(call, None, obj, timestamp)
    stored = await store_new(call, obj)
    return respond(call, from_storage(r, stored), 201)


async def store_new(call: Call, obj: dict) -> dict:
    """Allocate kind extras, then create; a generated name that collides is
    generated again (kube-apiserver 1.32 retries, too)."""
    r = call.resource
    state = call.request.app[STATE]
    cleanup = strategies.noop_cleanup()
    if r.group == "" and r.kind == "Service":
        cleanup = await state.services.allocate(obj, dry_run=call.dry_run)
    try:
        for attempt in range(GENERATE_NAME_RETRIES):
            try:
                stored = await call.store.create(obj, dry_run=call.dry_run)
                break
            except status.StatusError as e:
                base = obj["metadata"].get("generateName")
                if e.reason != "AlreadyExists" or not base or attempt == GENERATE_NAME_RETRIES - 1:
                    raise
                obj["metadata"]["name"] = names.generate_name(base)
        if call.dry_run:
            await cleanup()
        return stored
    except BaseException:
        await cleanup()
        raise


# -- update and patch --------------------------------------------------------------


_PATCH_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid", 500: "InternalError"}


def patch_error(e: PatchError) -> status.StatusError:
    code = getattr(e, "code", 422)
    if code == 413:  # errors.NewRequestEntityTooLargeError words it so
        return status.error(413, "RequestEntityTooLarge", f"Request entity too large: {e}")
    return status.error(code, _PATCH_REASONS.get(code, "Invalid"), str(e))


def precondition_failed(call: Call, namespace: str, name: str, message: str) -> status.StatusError:
    """409 as kube-apiserver words a failed uid or resourceVersion
    precondition: the storage layer's InvalidObjError wrapped in a Conflict
    (storeerr.InterpretUpdateError / InterpretDeleteError)."""
    key = call.store.key(namespace, name)
    return status.conflict(call.resource.plural, call.resource.group, name,
                           f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
                           f"AdditionalErrorMsg: {message}")


def _resource_version_required(call: Call, name: str) -> status.StatusError:
    """422 as store.Update words it, naming the resource where the kind goes."""
    r = call.resource
    cause = {"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
             "message": "Invalid value: 0x0: must be specified for an update"}
    return status.invalid(r.plural, r.group, name, [cause],
                          validation.invalid_message(r.plural, name, [cause], r.group))


def _conflict(call: Call, name: str) -> status.StatusError:
    return status.modified_conflict(call.resource.plural, call.resource.group, name)


async def prepare_update(call: Call, new: dict, current: dict, timestamp: str) -> dict | None:
    """The object to store when ``new`` replaces ``current``: ``current``
    itself for a no-op, None when the update completes a pending deletion."""
    r = call.resource
    sub = call.info.subresource
    if not isinstance(new.get("metadata"), dict):
        new["metadata"] = {}
    meta = new["metadata"]
    cur_meta = current["metadata"]
    rv = meta.get("resourceVersion")
    if not rv:
        if (r.group, r.plural) in CONDITIONAL_UPDATE_ONLY:
            raise _resource_version_required(call, cur_meta["name"])
        # An unconditional update (AllowUnconditionalUpdate): it applies to
        # whatever is stored now.
        meta["resourceVersion"] = cur_meta.get("resourceVersion")
    elif rv != cur_meta.get("resourceVersion"):
        raise _conflict(call, cur_meta["name"])
    if r.namespaced:
        if meta.get("namespace") and meta["namespace"] != cur_meta.get("namespace"):
            raise status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = cur_meta.get("namespace")
    defaulting.default(r.group, r.kind, new)
    has_status = r.subresource("status") is not None
    new = preparing.prepare_for_update(r.group, r.kind, new, current, subresource=sub,
                                       has_status=has_status)
    if not sub:
        strategies.prepare_update(r.group, r.kind, new, current)
    meta = new["metadata"]
    if cur_meta.get("deletionTimestamp"):
        added = sorted(set(meta.get("finalizers") or []) - set(cur_meta.get("finalizers") or []))
        if added:
            cause = {"reason": "FieldValueForbidden", "field": "metadata.finalizers",
                     "message": "Forbidden: no new finalizers can be added if the object is being "
                                f"deleted, found new finalizers []string{{{', '.join(repr(a).replace(chr(39), chr(34)) for a in added)}}}"}
            raise invalid(call, new, [cause])
    new = _manager_update(call, current, new, timestamp)
    attrs = Attributes("UPDATE", r, sub, cur_meta.get("namespace", ""), cur_meta["name"], new,
                       current, call.user, call.dry_run)
    await call.request.app[STATE].admission.admit(attrs)
    validate(call, new, current)
    await call.request.app[STATE].admission.validate(attrs)
    if preparing.unchanged(new, current):
        return current
    if meta.get("deletionTimestamp") and not meta.get("finalizers") \
            and not meta.get("deletionGracePeriodSeconds") \
            and not (r.group == "" and r.kind == "Namespace" and new.get("spec", {}).get("finalizers")):
        # The last finalizer is gone: the deletion completes (a namespace
        # also waits for its spec.finalizers, emptied through /finalize).
        return None
    return new


async def _update_with(call: Call, name: str,
                       build: Callable[[dict | None], Awaitable[dict | None]],
                       *, allow_create: bool = False) -> web.Response:
    r = call.resource
    state = call.request.app[STATE]
    cleanups: list[strategies.Cleanup] = []
    is_service = r.group == "" and r.kind == "Service"
    last: dict = {}  # the stored object the final attempt started from, and what it made

    async def update(current: dict | None) -> dict | None:
        for cleanup in cleanups:
            await cleanup()
        cleanups.clear()
        new = await build(current)
        last.update(current=current, new=new)
        if is_service and not call.info.subresource and new is not None and new is not current:
            cleanups.append(await state.services.allocate(new, current, dry_run=call.dry_run))
        return new

    try:
        result, created = await call.store.guaranteed_update(
            call.info.namespace, name, update, dry_run=call.dry_run, allow_create=allow_create)
    except BaseException:
        for cleanup in cleanups:
            await cleanup()
        raise
    if call.dry_run:
        for cleanup in cleanups:
            await cleanup()
    elif is_service and last.get("current") is not None and last.get("new") is not last["current"]:
        # Addresses the stored Service held and no longer does go back to
        # the pools: a type change dropping node ports, or the removal of its
        # last finalizer deleting it.
        if last["new"] is None:
            await state.services.release(last["current"])
        else:
            await state.services.release_replaced(last["new"], last["current"])
    return respond(call, from_storage(r, result), 201 if created else 200)


async def update(call: Call) -> web.Response:
    r = call.resource
    name = call.info.name
    body = encoding.decode_body(await read_body(call.request), call.request.headers.get("Content-Type"))
    obj = to_storage(r, check_fields(call, body))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if meta.get("name") and meta["name"] != name:
        raise status.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    timestamp = preparing.now()
    uid = meta.get("uid")
    allow_create = (r.group, r.plural) in CREATE_ON_UPDATE and not call.info.subresource

    async def build(current: dict | None) -> dict | None:
        current_uid = current["metadata"].get("uid", "") if current is not None else ""
        # A PUT naming a uid makes it a precondition (rest.DefaultUpdatedObjectInfo).
        if uid and uid != current_uid:
            raise precondition_failed(
                call, call.info.namespace, name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}")
        if current is None:  # a PUT that creates (AllowCreateOnUpdate)
            new = copy.deepcopy(obj)
            new.setdefault("metadata", {})["name"] = name
            new = await prepare_new(call, new, timestamp)
            return _manager_update(call, None, new, timestamp)
        return await prepare_update(call, copy.deepcopy(obj), current, timestamp)

    return await _update_with(call, name, build, allow_create=allow_create)


def _apply_patch(call: Call, kind: str, patch: Any, current: dict) -> dict:
    try:
        if kind == encoding.JSON_PATCH:
            return jsonpatch.apply(current, patch)
        if kind == encoding.MERGE_PATCH:
            return mergepatch.apply(current, patch)
        return strategicpatch.apply(current, patch, call.resource.definition)
    except PatchError as e:
        raise patch_error(e) from None


async def patch(call: Call) -> web.Response:
    r = call.resource
    name = call.info.name
    kind = encoding.media_type(call.request.headers.get("Content-Type"))
    raw = await read_body(call.request)
    if kind in (encoding.APPLY_PATCH, encoding.APPLY_PATCH_CBOR):
        return await apply(call, raw)
    if kind not in (encoding.JSON_PATCH, encoding.MERGE_PATCH, encoding.STRATEGIC_PATCH):
        raise status.error(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media types "
                           f"include: {encoding.JSON_PATCH}, {encoding.MERGE_PATCH}, "
                           f"{encoding.APPLY_PATCH}, {encoding.STRATEGIC_PATCH}")
    body = encoding.decode_body(raw, kind)
    if kind == encoding.JSON_PATCH and not isinstance(body, list):
        raise status.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if kind != encoding.JSON_PATCH and not isinstance(body, dict):
        raise status.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    timestamp = preparing.now()

    async def build(current: dict | None) -> dict | None:
        assert current is not None
        external = from_storage(r, current)
        patched = _apply_patch(call, kind, body, external)
        patched = check_fields(call, patched)
        new = to_storage(r, patched)
        return await prepare_update(call, new, current, timestamp)

    return await _update_with(call, name, build)


async def apply(call: Call, raw: bytes) -> web.Response:
    """Server-side apply: merge the applied configuration under the field
    manager's ownership; create the object when it does not exist."""
    r = call.resource
    name = call.info.name
    manager = call.field_manager
    if not manager:
        raise status.bad_request(
            "PATCH, application/apply-patch+yaml requests require fieldManager")
    config = encoding.load_yaml(raw)
    config = check_fields(call, config)
    meta = config.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise status.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    force = call.flag("force")
    timestamp = preparing.now()

    async def build(current: dict | None) -> dict | None:
        try:
            if current is None:
                applied = applying.apply(None, config, manager, force=force, definition=r.definition,
                                         now=timestamp)
                applied.setdefault("metadata", {})["name"] = name
                new = to_storage(r, applied)
                managed = new["metadata"].get("managedFields")
                new = await prepare_new(call, new, timestamp)
                if managed is not None:
                    new["metadata"]["managedFields"] = managed
                if r.group == "" and r.kind == "Service":
                    pass  # addresses are allocated by _update_with
                return new
            external = from_storage(r, current)
            applied = applying.apply(external, config, manager, force=force,
                                     definition=r.definition, now=timestamp)
        except ApplyConflict as e:
            message, causes = applying.conflict_status_details(e.conflicts)
            raise status.error(409, "Conflict", message, {"name": name, "group": r.group,
                                                          "kind": r.plural, "causes": causes}) from None
        except PatchError as e:
            raise patch_error(e) from None
        new = to_storage(r, applied)
        managed = new["metadata"].get("managedFields")
        result = await prepare_update(call, new, current, timestamp)
        if result is not None and result is not current and managed is not None:
            result["metadata"]["managedFields"] = managed
        return result

    return await _update_with(call, name, build, allow_create=not call.info.subresource)
