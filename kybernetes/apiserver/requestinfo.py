"""What a request asks for, read off its path and method (k8s RequestInfoFactory).

``/api/v1/namespaces/ns/pods/x/log`` → verb get, group "", version v1,
namespace ns, resource pods, name x, subresource log. Namespaces are both a
scope and a resource: ``/api/v1/namespaces/ns`` is the namespace object and
``/api/v1/namespaces/ns/status`` its status. The legacy ``/watch/`` path
segment and ``?watch=true`` both make a watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                 "GET": "get", "HEAD": "get"}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    is_resource: bool
    path: str
    verb: str = ""
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    segments = [s for s in path.strip("/").split("/") if s != ""]
    if not segments or segments[0] not in ("api", "apis"):
        return RequestInfo(False, path, verb=method.lower())
    prefix = segments[0]
    rest = segments[1:]
    if prefix == "api":
        if not rest:
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 2:
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = rest[0], rest[1], rest[2:]
    if not rest:
        return RequestInfo(False, path, verb=method.lower(), api_prefix=prefix,
                           group=group, version=version)

    verb = _METHOD_VERBS.get(method.upper(), method.lower())
    watch_path = False
    if rest[0] == "watch":
        watch_path = True
        rest = rest[1:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        # /namespaces/{ns}/{resource}...: a scope, unless what follows is one
        # of the namespace's own subresources (status, finalize).
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    parts = tuple(rest)
    if resource == "namespaces":
        namespace = ""  # a namespace is cluster-scoped; its name is not its scope

    if watch_path or (verb == "get" and not name and _truthy(query.get("watch"))):
        verb = "watch"
    elif verb == "get" and not name:
        verb = "list"
    elif verb == "delete" and not name:
        verb = "deletecollection"
    elif verb == "get" and name and watch_path:
        verb = "watch"
    return RequestInfo(True, path, verb, prefix, group, version, namespace, resource,
                       subresource, name, parts)
