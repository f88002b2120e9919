"""Subresources with their own bodies: scale, binding, eviction, finalize,
and the review kinds that are answered rather than stored.

``/scale`` reads and writes ``spec.replicas`` through an autoscaling/v1
Scale; ``pods/binding`` assigns a node once; ``pods/eviction`` deletes a pod
as a policy/v1 Eviction; ``namespaces/finalize`` edits ``spec.finalizers``.
(``/status`` goes through the generic update path.)
"""

from __future__ import annotations

import copy

from aiohttp import web

from kybernetes.api import labels, status
from kybernetes.apiserver import deleting, encoding, preparing, writing
from kybernetes.apiserver.calls import STATE, Call, from_storage, respond


def scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    spec, st = obj.get("spec", {}), obj.get("status", {})
    selector = spec.get("selector")
    if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
        text = labels.format_label_selector(selector)
    elif isinstance(selector, dict):  # ReplicationController: a plain map
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    else:
        text = ""
    scale_status: dict = {"replicas": st.get("replicas", 0)}
    if text:
        scale_status["selector"] = text
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": spec.get("replicas", 0)} if spec.get("replicas", 0) else {},
            "status": scale_status}


async def get_scale(call: Call) -> web.Response:
    obj = await call.store.get(call.info.namespace, call.info.name)
    return respond(call, scale_of(obj))


async def update_scale(call: Call) -> web.Response:
    kind = encoding.media_type(call.request.headers.get("Content-Type"))
    raw = await writing.read_body(call.request)
    body = encoding.decode_body(raw, kind or encoding.JSON)
    timestamp = preparing.now()

    async def build(current: dict | None) -> dict | None:
        assert current is not None
        scale = scale_of(current)
        if call.request.method == "PATCH":
            if kind == encoding.JSON_PATCH:
                from kybernetes.api import jsonpatch
                new_scale = jsonpatch.apply(scale, body)
            else:
                from kybernetes.api import mergepatch
                new_scale = mergepatch.apply(scale, body)
        else:
            new_scale = body
        if not isinstance(new_scale, dict):
            raise status.bad_request("the body of the request was not a Scale object")
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise status.modified_conflict(call.resource.plural, call.resource.group, call.info.name)
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            cause = {"reason": "FieldValueInvalid", "field": "spec.replicas",
                     "message": f"Invalid value: {replicas}: must be greater than or equal to 0"}
            raise status.invalid("Scale", "autoscaling", call.info.name, [cause],
                                 f'Scale.autoscaling "{call.info.name}" is invalid: spec.replicas: '
                                 f"Invalid value: {replicas}: must be greater than or equal to 0")
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas
        return await writing.prepare_update(_main(call), new, current, timestamp)

    result, _ = await call.store.guaranteed_update(call.info.namespace, call.info.name, build,
                                                   dry_run=call.dry_run)
    return respond(call, scale_of(result))


def _main(call: Call) -> Call:
    """The same call addressed to the main resource (for writes a subresource makes)."""
    from dataclasses import replace
    return replace(call, info=replace(call.info, subresource=""))


async def bind(call: Call) -> web.Response:
    """pods/binding: set spec.nodeName once, as kube-scheduler's bind does."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request was not a Binding")
    target = (body.get("target") or {}).get("name")
    name = call.info.name
    if not target:
        cause = {"reason": "FieldValueRequired", "field": "target.name", "message": "Required value"}
        raise status.invalid("Binding", "", name, [cause],
                             f'Binding "{name}" is invalid: target.name: Required value')
    timestamp = preparing.now()

    async def build(current: dict | None) -> dict | None:
        assert current is not None
        meta = current["metadata"]
        if meta.get("deletionTimestamp"):
            raise status.conflict("pods", "", name, "pod is being deleted, cannot be assigned to a host")
        node = current.get("spec", {}).get("nodeName")
        if node:
            raise status.conflict("pods", "", name, f'pod {name} is already assigned to node "{node}"')
        new = copy.deepcopy(current)
        new["spec"]["nodeName"] = target
        conditions = [c for c in new.setdefault("status", {}).get("conditions") or []
                      if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": timestamp})
        new["status"]["conditions"] = conditions
        annotations = (body.get("metadata") or {}).get("annotations")
        if annotations:
            new["metadata"]["annotations"] = {**(new["metadata"].get("annotations") or {}), **annotations}
        return new

    await call.store.guaranteed_update(call.info.namespace, name, build, dry_run=call.dry_run)
    return respond(call, status.status(201, "", "", success=True), 201)


async def evict(call: Call) -> web.Response:
    """pods/eviction: delete the pod (disruption budgets are checked by the
    eviction controller's logic once it exists)."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    options = (body or {}).get("deleteOptions") or {} if isinstance(body, dict) else {}
    main = _main(call)
    await deleting.delete_one(main, call.info.namespace, call.info.name, options)
    return respond(call, status.status(201, "", "", success=True), 201)


async def finalize(call: Call) -> web.Response:
    """namespaces/finalize: replace spec.finalizers; a terminating namespace
    with none left is removed."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request was not a Namespace")
    finalizers = list((body.get("spec") or {}).get("finalizers") or [])

    async def build(current: dict | None) -> dict | None:
        assert current is not None
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["finalizers"] = finalizers
        if new["metadata"].get("deletionTimestamp") and not finalizers \
                and not new["metadata"].get("finalizers"):
            return None
        if new == current:
            return current
        return new

    result, _ = await call.store.guaranteed_update("", call.info.name, build, dry_run=call.dry_run)
    return respond(call, from_storage(call.resource, result))


async def review(call: Call) -> web.Response:
    """The review kinds: answered from the request, never stored."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request was not an object")
    kind = call.resource.kind
    out = dict(body)
    out.setdefault("metadata", {})
    out["metadata"].setdefault("creationTimestamp", None)
    user = call.user
    if kind == "SelfSubjectReview":
        out["status"] = {"userInfo": {"username": user.name, "groups": list(user.groups),
                                      **({"uid": user.uid} if user.uid else {})}}
    elif kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        out["status"] = {"allowed": True, "reason": "authorization is AlwaysAllow"}
    elif kind == "SelfSubjectRulesReview":
        out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                         "incomplete": False}
    elif kind == "TokenReview":
        token = (body.get("spec") or {}).get("token", "")
        authn = call.request.app[STATE].authenticator
        found = authn.tokens.get(token)
        out["status"] = ({"authenticated": True, "user": {"username": found.name,
                                                           "groups": list(found.groups)}}
                         if found else {"authenticated": False})
    return respond(call, out, 201)
