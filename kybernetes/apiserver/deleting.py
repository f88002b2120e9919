"""DELETE and DELETECOLLECTION with kube-apiserver's semantics.

Preconditions (uid, resourceVersion) are checked against the stored object.
An object with finalizers, or a pod bound to a node with a grace period,
is only marked: ``deletionTimestamp`` (and ``deletionGracePeriodSeconds``)
are set and it stays until its finalizers are gone or the kubelet confirms.
Foreground and Orphan propagation add their finalizers for the garbage
collector. Everything else is removed at once.
"""

from __future__ import annotations

import datetime

from aiohttp import web

from kybernetes.api import status
from kybernetes.apiserver import encoding, preparing, selecting
from kybernetes.apiserver.admission import Attributes
from kybernetes.apiserver.calls import STATE, Call, from_storage, render_list, respond
from kybernetes.apiserver.writing import precondition_failed, read_body

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

# Resources that answer a delete with the object rather than a Status.
RETURN_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces"), ("", "nodes"),
                 ("", "persistentvolumes"), ("", "persistentvolumeclaims"),
                 ("", "replicationcontrollers"), ("", "serviceaccounts"),
                 ("storage.k8s.io", "storageclasses")}


async def delete_options(call: Call) -> dict:
    raw = await read_body(call.request)
    options: dict = {}
    if raw.strip():
        body = encoding.decode_body(raw, call.request.headers.get("Content-Type") or encoding.JSON)
        if not isinstance(body, dict):
            raise status.bad_request("DeleteOptions must be an object")
        options = body
    dry_run = options.get("dryRun")
    if dry_run is not None and not (isinstance(dry_run, list) and all(isinstance(v, str) for v in dry_run)):
        raise status.bad_request("DeleteOptions.dryRun must be a list of strings")
    call.body_dry_run = list(dry_run or [])
    query = call.request.query
    if "gracePeriodSeconds" in query:
        options["gracePeriodSeconds"] = call.int_param("gracePeriodSeconds")
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        options["orphanDependents"] = call.flag("orphanDependents")
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise status.bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: "Background", '
            '"Foreground", "Orphan"')
    if policy and options.get("orphanDependents") is not None:
        raise status.bad_request(
            "orphanDependents: Invalid value: false: orphanDependents and deletionPropagation "
            "cannot be both set")
    if options.get("gracePeriodSeconds") is not None and options["gracePeriodSeconds"] < 0:
        options["gracePeriodSeconds"] = 1 if options["gracePeriodSeconds"] else 0
    return options


def _grace_period(call: Call, obj: dict, options: dict) -> int:
    """How long a pod gets to stop; 0 means delete now (k8s CheckGracefulDelete)."""
    r = call.resource
    if not (r.group == "" and r.plural == "pods"):
        return 0
    spec = obj.get("spec", {})
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    # Never-scheduled and finished pods go at once, as upstream's pod strategy decides.
    if not spec.get("nodeName") or obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return int(grace)


async def delete_one(call: Call, namespace: str, name: str, options: dict) -> tuple[dict, bool]:
    """Delete or mark one object; returns (object, removed)."""
    r = call.resource
    state = call.request.app[STATE]
    pre = options.get("preconditions") or {}
    timestamp = preparing.now()
    outcome: dict = {}

    async def decide(current: dict | None) -> dict | None:
        assert current is not None
        meta = current["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise precondition_failed(
                call, namespace, name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise precondition_failed(
                call, namespace, name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}")
        attrs = Attributes("DELETE", r, "", namespace, name, None, current, call.user, call.dry_run)
        await state.admission.admit(attrs)
        await state.admission.validate(attrs)
        finalizers = list(meta.get("finalizers") or [])
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif policy == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        grace = _grace_period(call, current, options)
        namespace_object = r.group == "" and r.plural == "namespaces"
        if namespace_object and (current.get("spec", {}).get("finalizers") or finalizers):
            new = _marked(current, finalizers, timestamp, 0)
            new["status"] = {**current.get("status", {}), "phase": "Terminating"}
            outcome["removed"] = False
            return new if new != current else current
        if finalizers or grace > 0:
            if meta.get("deletionTimestamp"):
                # Already being deleted: a shorter grace period may cut it short.
                old_grace = meta.get("deletionGracePeriodSeconds", 0)
                if grace > 0 and grace < old_grace and not finalizers:
                    new = _marked(current, finalizers, timestamp, grace, force=True)
                    outcome["removed"] = False
                    return new
                if grace == 0 and not finalizers:
                    outcome["removed"] = True
                    return None
                outcome["removed"] = False
                if finalizers != list(meta.get("finalizers") or []):
                    return _marked(current, finalizers, meta["deletionTimestamp"], old_grace)
                return current
            outcome["removed"] = False
            return _marked(current, finalizers, timestamp, grace)
        outcome["removed"] = True
        return None

    obj, _created = await call.store.guaranteed_update(namespace, name, decide, dry_run=call.dry_run)
    removed = outcome.get("removed", True)
    if removed and r.group == "" and r.plural == "services" and not call.dry_run:
        await state.services.release(obj)
    return obj, removed


def _marked(obj: dict, finalizers: list[str], timestamp: str, grace: int, force: bool = False) -> dict:
    new = dict(obj)
    meta = dict(obj["metadata"])
    if finalizers:
        meta["finalizers"] = finalizers
    if force or not meta.get("deletionTimestamp"):
        when = timestamp
        if grace > 0:
            base = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc)
            when = (base + datetime.timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["deletionTimestamp"] = when
        meta["deletionGracePeriodSeconds"] = grace
    new["metadata"] = meta
    return new


async def delete(call: Call) -> web.Response:
    options = await delete_options(call)
    obj, removed = await delete_one(call, call.info.namespace, call.info.name, options)
    r = call.resource
    obj = from_storage(r, obj)
    if not removed:
        # kube-apiserver answers 202 only when the client asked for cascading
        # deletion the old way (orphanDependents=false); 200 otherwise.
        return respond(call, obj, 202 if options.get("orphanDependents") is False else 200)
    if (r.group, r.plural) in RETURN_OBJECT:
        return respond(call, obj, 200)
    body = status.status(200, "", "", {"name": call.info.name, "group": r.group, "kind": r.plural,
                                       "uid": obj.get("metadata", {}).get("uid", "")}, success=True)
    if not r.group:
        body["details"].pop("group", None)
    return respond(call, body, 200)


async def delete_collection(call: Call) -> web.Response:
    options = await delete_options(call)
    predicate, _ = selecting.predicate(call.resource, call.param("labelSelector"),
                                       call.param("fieldSelector"))
    items, revision, _token, _rem = await call.store.list(call.info.namespace, predicate=predicate)
    deleted = []
    for item in items:
        meta = item["metadata"]
        try:
            obj, _removed = await delete_one(call, meta.get("namespace", ""), meta["name"], options)
        except status.StatusError as e:
            if e.reason == "NotFound":
                continue
            raise
        deleted.append(from_storage(call.resource, obj))
    return respond(call, render_list(call, deleted, revision, "", None), 200)
