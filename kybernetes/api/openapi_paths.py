"""The ``paths`` of kube-apiserver's OpenAPI v3 documents, built from the registry.

For every resource of a group version: the collection (list, create,
deletecollection), the item (read, replace, patch, delete), the list across
namespaces, the deprecated watch paths, and each subresource, with the
operation ids, tags, ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind`` kube-apiserver gives them. kubectl finds
the PATCH operation of a kind through its group-version-kind and checks it
takes ``fieldValidation``; ``kubectl explain`` and client-side apply read the
schemas these operations point at.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api import openapi_params as p
from kybernetes.api import registry, schemas

Op = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
REF = "#/components/schemas/"

OBJECT_TYPES = ("application/json", "application/vnd.kubernetes.protobuf", "application/yaml")
STREAM_TYPES = ("application/json", "application/json;stream=watch",
                "application/vnd.kubernetes.protobuf",
                "application/vnd.kubernetes.protobuf;stream=watch", "application/yaml")
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")
CONNECT_METHODS = ("delete", "get", "head", "options", "patch", "post", "put")


def group_prefix(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


def gv_id(group: str, version: str) -> str:
    """The group-version word of operation ids: CoreV1, AppsV1, RbacAuthorizationV1."""
    parts = group.removesuffix(".k8s.io").split(".") if group else ["core"]
    return "".join(x[:1].upper() + x[1:] for x in parts) + version.capitalize()


def tag(group: str, version: str) -> str:
    """The operation tag: core_v1, apps_v1, rbacAuthorization_v1."""
    word = gv_id(group, version).removesuffix(version.capitalize())
    return f"{word[:1].lower()}{word[1:]}_{version}"


def _ref(definition: str) -> dict[str, str]:
    return {"$ref": REF + definition}


def _content(schema: dict[str, Any], types: tuple[str, ...] = OBJECT_TYPES) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def response_map(schema: dict[str, Any], *codes: str, types: tuple[str, ...] = OBJECT_TYPES) -> Op:
    names = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: Op = {c: {"description": names[c], "content": _content(schema, types)} for c in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


class _Builder:
    """Operations of one resource, named as kube-apiserver names them."""

    def __init__(self, resource: registry.Resource, list_definition: str | None) -> None:
        self.r = resource
        self.gv = gv_id(resource.group, resource.version)
        self.tag = tag(resource.group, resource.version)
        self.scope = "Namespaced" if resource.namespaced else ""
        self.object = _ref(resource.definition)
        self.list = _ref(list_definition) if list_definition else None

    def op(self, verb: str, action: str, description: str, *, suffix: str = "",
           collection: bool = False, scoped: bool = True, gvk: dict[str, str] | None = None,
           params: list[p.Param] | None = None, body: Op | None = None,
           responses: Op | None = None) -> Op:
        between = "Collection" if collection else ""
        scope = self.scope if scoped else ""
        op: Op = {"description": description, "tags": [self.tag],
                  "operationId": f"{verb}{self.gv}{between}{scope}{self.r.kind}{suffix}"}
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = body
        op["responses"] = responses or {}
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = gvk or _gvk(self.r.group, self.r.version, self.r.kind)
        return op


def _body(schema: dict[str, Any], types: tuple[str, ...] = OBJECT_TYPES) -> Op:
    return {"content": _content(schema, types), "required": True}


def resource_paths(r: registry.Resource, list_definition: str | None) -> dict[str, Op]:
    """Every path (with its operations) kube-apiserver serves for one resource."""
    b = _Builder(r, list_definition)
    prefix = group_prefix(r.group, r.version)
    ns = "/namespaces/{namespace}" if r.namespaced else ""
    scope_params = [p.NAMESPACE] if r.namespaced else []
    collection, item = f"{prefix}{ns}/{r.plural}", f"{prefix}{ns}/{r.plural}/{{name}}"
    kind, verbs = r.kind, set(r.verbs)
    status = _ref(META + "Status")
    paths: dict[str, Op] = {}

    coll: Op = {}
    if "list" in verbs and b.list:
        coll["get"] = b.op("list", "list", f"list or watch objects of kind {kind}",
                           params=p.LIST, responses=response_map(b.list, "200", types=STREAM_TYPES))
    if "create" in verbs:
        coll["post"] = b.op("create", "post", f"create a {kind}", params=p.WRITE,
                            body=_body(b.object),
                            responses=response_map(b.object, "200", "201", "202"))
    if "deletecollection" in verbs:
        coll["delete"] = b.op("delete", "deletecollection", f"delete collection of {kind}",
                              collection=True, params=p.DELETE + p.LIST,
                              body=_body(_ref(META + "DeleteOptions"), ("application/json",)),
                              responses=response_map(status, "200"))
    if coll:
        paths[collection] = {**coll, "parameters": scope_params + [p.PRETTY]}

    one: Op = {}
    if "get" in verbs:
        one["get"] = b.op("read", "get", f"read the specified {kind}",
                          responses=response_map(b.object, "200"))
    if "update" in verbs:
        one["put"] = b.op("replace", "put", f"replace the specified {kind}", params=p.WRITE,
                          body=_body(b.object), responses=response_map(b.object, "200", "201"))
    if "patch" in verbs:
        one["patch"] = b.op("patch", "patch", f"partially update the specified {kind}",
                            params=p.PATCH, body=_body(_ref(META + "Patch"), PATCH_TYPES),
                            responses=response_map(b.object, "200", "201"))
    if "delete" in verbs:
        deleted = b.object if kind == "Pod" else status
        one["delete"] = b.op("delete", "delete", f"delete a {kind}", params=p.DELETE,
                             body=_body(_ref(META + "DeleteOptions"), ("application/json",)),
                             responses=response_map(deleted, "200", "202"))
    if one:
        paths[item] = {**one, "parameters": [p.name_param(kind), *scope_params, p.PRETTY]}

    if r.namespaced and "list" in verbs and b.list:
        paths[f"{prefix}/{r.plural}"] = {
            "get": b.op("list", "list", f"list or watch objects of kind {kind}",
                        suffix="ForAllNamespaces", scoped=False,
                        responses=response_map(b.list, "200", types=STREAM_TYPES)),
            "parameters": p.LIST + [p.PRETTY]}
    if "watch" in verbs:
        paths.update(_watch_paths(b, prefix, ns, scope_params))
    for sub in r.subresources:
        paths.update(_subresource_paths(b, sub, item, [p.name_param(kind), *scope_params]))
    return paths


def _watch_paths(b: _Builder, prefix: str, ns: str, scope_params: list[p.Param]) -> dict[str, Op]:
    r, watch = b.r, _ref(META + "WatchEvent")
    responses = response_map(watch, "200", types=STREAM_TYPES)
    deprecated = "deprecated: use the 'watch' parameter with a list operation instead"
    out = {
        f"{prefix}/watch{ns}/{r.plural}": {
            "get": b.op("watch", "watchlist", f"watch individual changes to a list of {r.kind}. "
                        f"{deprecated}.", suffix="List", responses=responses),
            "parameters": p.LIST + scope_params + [p.PRETTY]},
        f"{prefix}/watch{ns}/{r.plural}/{{name}}": {
            "get": b.op("watch", "watch", f"watch changes to an object of kind {r.kind}. "
                        f"{deprecated}, filtered to a single item with the 'fieldSelector' "
                        "parameter.", responses=responses),
            "parameters": p.LIST + [p.name_param(r.kind), *scope_params, p.PRETTY]},
    }
    if r.namespaced:
        get = b.op("watch", "watchlist", f"watch individual changes to a list of {r.kind}. "
                   f"{deprecated}.", suffix="ListForAllNamespaces", scoped=False,
                   responses=responses)
        out[f"{prefix}/watch/{r.plural}"] = {"get": get, "parameters": p.LIST + [p.PRETTY]}
    return out


def _subresource_paths(b: _Builder, sub: registry.Subresource, item: str,
                       params: list[p.Param]) -> dict[str, Op]:
    r = b.r
    group, version, kind = r.subresource_gvk(sub.name) or (r.group, r.version, sub.kind)
    gvk = _gvk(group, version, kind)
    word = sub.name.capitalize()
    path = f"{item}/{sub.name}"
    if sub.name in ("exec", "attach", "portforward", "proxy"):
        return _connect_paths(b, sub, path, params, gvk)
    schema = _ref(schemas.by_gvk(group, version, kind) or META + "Status")
    ops: Op = {}
    if sub.name == "log":
        ops["get"] = b.op("read", "get", f"read log of the specified {r.kind}", suffix=word,
                          gvk=gvk, params=p.LOG,
                          responses=response_map({"type": "string"}, "200", types=("text/plain",)))
    elif sub.verbs == ("create",):
        ops["post"] = b.op("create", "post", f"create {sub.name} of a {r.kind}", suffix=word,
                           gvk=gvk, params=p.WRITE, body=_body(schema),
                           responses=response_map(schema, "200", "201", "202"))
    else:
        if "get" in sub.verbs:
            ops["get"] = b.op("read", "get", f"read {sub.name} of the specified {r.kind}",
                              suffix=word, gvk=gvk, responses=response_map(schema, "200"))
        if "update" in sub.verbs:
            ops["put"] = b.op("replace", "put", f"replace {sub.name} of the specified {r.kind}",
                              suffix=word, gvk=gvk, params=p.WRITE, body=_body(schema),
                              responses=response_map(schema, "200", "201"))
        if "patch" in sub.verbs:
            ops["patch"] = b.op("patch", "patch",
                                f"partially update {sub.name} of the specified {r.kind}",
                                suffix=word, gvk=gvk, params=p.PATCH,
                                body=_body(_ref(META + "Patch"), PATCH_TYPES),
                                responses=response_map(schema, "200", "201"))
    if sub.name == "finalize":
        ops["put"]["operationId"] = f"replace{b.gv}{r.kind}Finalize"
    return {path: {**ops, "parameters": [*params, p.PRETTY]}}


def _connect_paths(b: _Builder, sub: registry.Subresource, path: str, params: list[p.Param],
                   gvk: dict[str, str]) -> dict[str, Op]:
    methods = ("get", "post") if sub.name != "proxy" else CONNECT_METHODS
    responses = response_map({"type": "string"}, "200", types=("*/*",))
    word = sub.name.capitalize()

    def ops(suffix: str) -> Op:
        return {m: b.op("connect", "connect",
                        f"connect {m.upper()} requests to {sub.name} of {b.r.kind}",
                        suffix=word + suffix, gvk=gvk, responses=responses) for m in methods}

    out: dict[str, Op] = {}
    for key, suffix, extra in ((path, "", p.CONNECT[sub.name]),
                               (path + "/{path}", "WithPath", [p.PROXY_PATH, *p.CONNECT["proxy"]])):
        if suffix and sub.name != "proxy":
            continue
        built = ops(suffix)
        for method, op in built.items():
            op["operationId"] = (f"connect{b.gv}{method.capitalize()}{b.scope}"
                                 f"{b.r.kind}{word}{suffix}")
        out[key] = {**built, "parameters": [*params[:1], *extra, *params[1:]]}
    return out

