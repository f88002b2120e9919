"""Subresources with their own bodies: scale, binding, eviction, finalize,
token, and the review kinds that are answered rather than stored.

``/scale`` reads and writes ``spec.replicas`` through an autoscaling/v1
Scale; ``pods/binding`` assigns a node once; ``pods/eviction`` deletes a pod
as a policy/v1 Eviction; ``namespaces/finalize`` edits ``spec.finalizers``;
``serviceaccounts/token`` answers a TokenRequest with a signed token.
(``/status`` goes through the generic update path.)
"""

from __future__ import annotations

import copy
import datetime

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


async def bind(call: Call, *, named_by_body: bool = False) -> web.Response:
    """pods/binding: set spec.nodeName once, as kube-scheduler's bind does.

    ``named_by_body``: the top-level ``bindings`` resource (POST
    /api/v1/namespaces/{ns}/bindings), where the Binding's own name is the
    pod's; ``call`` is then a call on pods."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request was not a Binding")
    target = (body.get("target") or {}).get("name")
    name = (body.get("metadata") or {}).get("name", "") if named_by_body else call.info.name
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


# authentication/validation ValidateTokenRequest's bounds, and the v1 default.
MIN_TOKEN_SECONDS = 10 * 60
MAX_TOKEN_SECONDS = 1 << 32
DEFAULT_TOKEN_SECONDS = 60 * 60


def _token_request_invalid(name: str, field: str, value: object, detail: str) -> status.StatusError:
    shown = f'"{value}"' if isinstance(value, str) else value
    message = f"Invalid value: {shown}: {detail}"
    return status.invalid("TokenRequest", "authentication.k8s.io", name,
                          [{"reason": "FieldValueInvalid", "field": field, "message": message}],
                          f'TokenRequest.authentication.k8s.io "{name}" is invalid: {field}: {message}')


async def _bound_object(call: Call, account: str, ref: dict) -> tuple[dict | None, dict | None, dict | None]:
    """(pod, secret, node) a token is bound to, as TokenREST.Create reads them;
    errors are upstream's."""
    state = call.request.app[STATE]
    namespace, name = call.info.namespace, str(ref.get("name") or "")
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    group, _, version = api_version.rpartition("/")
    pod = secret = node = None
    if group == "" and kind == "Pod":
        pod = await state.resource_store("", "v1", "pods").get(namespace, name)
        if pod.get("spec", {}).get("serviceAccountName") != account:
            raise status.bad_request(f'cannot bind token for serviceaccount "{account}" to pod running '
                                     f"with different serviceaccount name.")
        node_name = pod.get("spec", {}).get("nodeName")
        if node_name:  # ServiceAccountTokenPodNodeInfo: the pod's node goes into the claims too
            nodes = state.resource_store("", "v1", "nodes")
            try:
                node = await nodes.get("", node_name, "0")
            except status.StatusError as e:
                if e.code != 404:
                    raise
                node = {"metadata": {"name": node_name}}
        uid = pod["metadata"].get("uid")
    elif group == "" and kind == "Node":
        node = await state.resource_store("", "v1", "nodes").get("", name)
        uid = node["metadata"].get("uid")
    elif group == "" and kind == "Secret":
        secret = await state.resource_store("", "v1", "secrets").get(namespace, name)
        uid = secret["metadata"].get("uid")
    else:
        raise status.bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    if ref.get("uid") and ref["uid"] != uid:
        raise status.conflict(kind, group, name,
                              f"the UID in the bound object reference ({ref['uid']}) does not match the "
                              f"UID in record. The object might have been deleted and then recreated")
    return pod, secret, node


async def token_request(call: Call) -> web.Response:
    """serviceaccounts/token: a TokenRequest, answered with a token for the
    service account (upstream TokenREST.Create, in its order)."""
    body = encoding.decode_body(await writing.read_body(call.request), call.request.headers.get("Content-Type"))
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request was not a TokenRequest")
    namespace, name = call.info.namespace, call.info.name
    meta = dict(body.get("metadata") or {})
    spec = dict(body.get("spec") or {})
    if meta.get("name") and meta["name"] != name:
        raise _token_request_invalid(name, "metadata.name", meta["name"],
                                     "must match the service account name if specified")
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise _token_request_invalid(name, "metadata.namespace", meta["namespace"],
                                     "must match the service account namespace if specified")
    account = await call.store.get(namespace, name)
    issuer = call.request.app[STATE].service_accounts
    audiences = spec.get("audiences") or list(issuer.audiences)
    expiration = spec.get("expirationSeconds")
    expiration = DEFAULT_TOKEN_SECONDS if expiration is None else expiration
    ref = spec.get("boundObjectRef")
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences) \
            or not isinstance(expiration, int) or isinstance(expiration, bool) \
            or not isinstance(ref, (dict, type(None))):
        raise status.bad_request("the body of the request was not a valid TokenRequest")
    if expiration < MIN_TOKEN_SECONDS:
        raise _token_request_invalid("", "spec.expirationSeconds", expiration,
                                     "may not specify a duration less than 10 minutes")
    if expiration > MAX_TOKEN_SECONDS:
        raise _token_request_invalid("", "spec.expirationSeconds", expiration,
                                     "may not specify a duration larger than 2^32 seconds")
    pod, secret, node = await _bound_object(call, name, ref) if ref else (None, None, None)
    cap = issuer.max_expiration_seconds
    if cap > 0 and expiration > cap:
        call.warnings.append(f"requested expiration of {expiration} seconds shortened to {cap} seconds")
        expiration = cap
    created = preparing.now()
    token, expires = issuer.issue(account, audiences, expiration, pod=pod, secret=secret, node=node)
    meta.update(name=name, namespace=namespace, creationTimestamp=created)
    spec.update(audiences=audiences, expirationSeconds=expiration)
    expires_at = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": meta,
           "spec": spec, "status": {"token": token,
                                    "expirationTimestamp": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    return respond(call, out, 201)


def _user_info(user) -> dict:
    info: dict = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


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
        out["status"] = {"userInfo": _user_info(user)}
    elif kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        out["status"] = {"allowed": True, "reason": "authorization is AlwaysAllow"}
    elif kind == "SelfSubjectRulesReview":
        out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                         "incomplete": False}
    elif kind == "TokenReview":
        out["status"] = await _token_review(call, body.get("spec") or {})
    return respond(call, out, 201)


async def _token_review(call: Call, spec: dict) -> dict:
    """TokenReview: the token judged as a bearer token would be, for the
    audiences asked for (the API server's own by default), as upstream's
    tokenreview REST answers it (``authenticated`` left out when false)."""
    token = spec.get("token") if isinstance(spec, dict) else None
    if not token or not isinstance(token, str):
        raise status.bad_request("token is required for TokenReview in authentication")
    state = call.request.app[STATE]
    wanted = spec.get("audiences")
    audiences = tuple(a for a in wanted if isinstance(a, str)) if isinstance(wanted, list) else ()
    result = await state.authenticator.authenticate_token(token, audiences or state.service_accounts.audiences)
    if result.user is None:
        return {"user": {}, "error": result.error} if result.error else {"user": {}}
    return {"authenticated": True, "user": _user_info(result.user), "audiences": list(result.audiences)}
