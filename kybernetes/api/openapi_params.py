"""The query and path parameters of kube-apiserver's OpenAPI v3 operations.

Split from ``openapi_paths`` so the operation builders read as recipes. The
names, locations and types are kube-apiserver's; clients look some of them up
(kubectl checks that a PATCH operation has ``fieldValidation`` before it lets
the server validate).
"""

from __future__ import annotations

from typing import Any

Param = dict[str, Any]


def _param(name: str, kind: str, description: str, where: str = "query") -> Param:
    param: Param = {"name": name, "in": where, "description": description,
                    "schema": {"type": kind, "uniqueItems": True}}
    if where == "path":
        param["required"] = True
    return param


PRETTY = _param("pretty", "string", "If 'true', then the output is pretty printed.")
NAMESPACE = _param("namespace", "string",
                   "object name and auth scope, such as for teams and projects", "path")


def name_param(kind: str) -> Param:
    return _param("name", "string", f"name of the {kind}", "path")


DRY_RUN = _param("dryRun", "string",
                 "When present, indicates that modifications should not be persisted. Valid "
                 "values are: - All: all dry run stages will be processed")
FIELD_MANAGER = _param("fieldManager", "string",
                       "fieldManager is a name associated with the actor or entity that is making "
                       "these changes. Required for apply requests (application/apply-patch).")
FIELD_VALIDATION = _param("fieldValidation", "string",
                          "fieldValidation instructs the server on how to handle objects in the "
                          "request containing unknown or duplicate fields. Valid values are: "
                          "- Ignore: drop them silently. - Warn: drop them and answer with a "
                          "Warning header for each. - Strict: fail the request with a "
                          "BadRequest error listing them.")
FORCE = _param("force", "boolean",
               "Force is going to \"force\" Apply requests. It means user will re-acquire "
               "conflicting fields owned by other people. Force flag must be unset for "
               "non-apply patch requests.")

LIST = [
    _param("allowWatchBookmarks", "boolean",
           "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    _param("continue", "string",
           "The continue option should be set when retrieving more results from the server."),
    _param("fieldSelector", "string",
           "A selector to restrict the list of returned objects by their fields. "
           "Defaults to everything."),
    _param("labelSelector", "string",
           "A selector to restrict the list of returned objects by their labels. "
           "Defaults to everything."),
    _param("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    _param("resourceVersion", "string",
           "resourceVersion sets a constraint on what resource versions a request may be "
           "served from."),
    _param("resourceVersionMatch", "string",
           "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    _param("sendInitialEvents", "boolean",
           "`sendInitialEvents=true` may be set together with `watch=true`: the stream begins "
           "with synthetic events for the current state, then a bookmark."),
    _param("timeoutSeconds", "integer",
           "Timeout for the list/watch call. This limits the duration of the call."),
    _param("watch", "boolean",
           "Watch for changes to the described resources and return them as a stream of add, "
           "update, and remove notifications. Specify resourceVersion."),
]

DELETE = [
    DRY_RUN,
    _param("gracePeriodSeconds", "integer",
           "The duration in seconds before the object should be deleted."),
    _param("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
           "if set to true, it will trigger an unsafe deletion of the resource in case the "
           "normal deletion flow fails with a corrupt object error."),
    _param("orphanDependents", "boolean",
           "Deprecated: please use the PropagationPolicy. Should the dependent objects be "
           "orphaned."),
    _param("propagationPolicy", "string",
           "Whether and how garbage collection will be performed: 'Orphan', 'Background' or "
           "'Foreground'."),
]

WRITE = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
PATCH = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE]

_STREAMS = [_param(n, "boolean", f"Redirect the {n} of the process.") for n in
            ("stderr", "stdin", "stdout")]
_CONTAINER = _param("container", "string", "The container in which to run the command. "
                    "Defaults to only container if there is only one container in the pod.")
_TTY = _param("tty", "boolean", "TTY if true indicates that a tty will be allocated.")

CONNECT = {
    "exec": [_param("command", "string", "Command is the remote command to execute. "
                    "argv array. Not executed within a shell."), _CONTAINER, *_STREAMS, _TTY],
    "attach": [_CONTAINER, *_STREAMS, _TTY],
    "portforward": [_param("ports", "integer", "List of ports to forward.")],
    "proxy": [_param("path", "string", "Path is the URL path to use for the current proxy "
                     "request to pod.")],
}

LOG = [
    _param("container", "string", "The container for which to stream logs. Defaults to only "
           "container if there is one container in the pod."),
    _param("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
    _param("insecureSkipTLSVerifyBackend", "boolean",
           "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the "
           "validity of the serving certificate of the backend it is connecting to."),
    _param("limitBytes", "integer", "If set, the number of bytes to read from the server "
           "before terminating the log output."),
    _param("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
    _param("sinceSeconds", "integer", "A relative time in seconds before the current time from "
           "which to show logs."),
    _param("stream", "string", "Specify which container log stream to return to the client. "
           "Acceptable values are \"All\", \"Stdout\" and \"Stderr\"."),
    _param("tailLines", "integer", "If set, the number of lines from the end of the logs to show."),
    _param("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the "
           "beginning of every line of log output. Defaults to false."),
]

PROXY_PATH = _param("path", "string", "path to the resource", "path")
