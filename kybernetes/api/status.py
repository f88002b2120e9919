"""``Status`` objects and the error that carries one, as apimachinery's api/errors.

The API server raises ``StatusError`` wherever a request fails and writes its
``status`` as the response body; the client raises the same class from the
bodies it receives. Messages follow k8s.io/apimachinery/pkg/api/errors
exactly, since kubectl prints them as they are (``Error from server
(NotFound): pods "x" not found``).
"""

from __future__ import annotations

from typing import Any


def qualified(resource: str, group: str) -> str:
    """``pods`` or ``deployments.apps``: how messages name a resource."""
    return f"{resource}.{group}" if group else resource


class StatusError(Exception):
    """A failed request, with the ``Status`` body that describes it."""

    def __init__(self, status: dict[str, Any]):
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        return int(self.status.get("code", 500))

    @property
    def reason(self) -> str:
        return self.status.get("reason", "")

    @property
    def message(self) -> str:
        return self.status.get("message", "")


def status(code: int, reason: str, message: str, details: dict | None = None,
           *, success: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if success else "Failure",
        "message": message,
        "reason": reason,
    }
    if details:
        body["details"] = details
    body["code"] = code
    if success:
        body.pop("reason")
        body.pop("message")
    return body


def _details(resource: str, group: str, name: str = "", **extra) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    details.update({k: v for k, v in extra.items() if v})
    return details


def error(code: int, reason: str, message: str, details: dict | None = None) -> StatusError:
    return StatusError(status(code, reason, message, details))


def not_found(resource: str, group: str, name: str) -> StatusError:
    return error(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                 _details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> StatusError:
    return error(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                 _details(resource, group, name))


def conflict(resource: str, group: str, name: str, detail: str) -> StatusError:
    return error(409, "Conflict",
                 f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {detail}',
                 _details(resource, group, name))


MODIFIED = ("the object has been modified; please apply your changes to the latest "
            "version and try again")


def modified_conflict(resource: str, group: str, name: str) -> StatusError:
    return conflict(resource, group, name, MODIFIED)


def invalid(kind: str, group: str, name: str, causes: list[dict], message: str) -> StatusError:
    return error(422, "Invalid", message, _details(kind, group, name, causes=causes))


def bad_request(message: str) -> StatusError:
    return error(400, "BadRequest", message)


def forbidden(resource: str, group: str, name: str, detail: str) -> StatusError:
    target = qualified(resource, group)
    message = f'{target} "{name}" is forbidden: {detail}' if name else f"{target} is forbidden: {detail}"
    return error(403, "Forbidden", message, _details(resource, group, name))


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return error(401, "Unauthorized", message)


def method_not_supported(resource: str, group: str, verb: str) -> StatusError:
    return error(405, "MethodNotAllowed",
                 f"{verb} is not supported on resources of kind \"{qualified(resource, group)}\"",
                 _details(resource, group))


def not_found_path() -> StatusError:
    return error(404, "NotFound", "the server could not find the requested resource")


def expired(message: str) -> StatusError:
    return error(410, "Expired", message)


def gone(message: str) -> StatusError:
    return error(410, "Gone", message)


def too_old(requested: int, oldest: int) -> StatusError:
    # kube-apiserver's watch cache and storage both word it this way.
    return expired(f"too old resource version: {requested} ({oldest})")


def too_large_resource_version(requested: int, current: int) -> StatusError:
    return error(504, "Timeout", f"Too large resource version: {requested}, current: {current}",
                 {"causes": [{"reason": "ResourceVersionTooLarge",
                              "message": "Too large resource version"}],
                  "retryAfterSeconds": 1})


def request_entity_too_large(limit: int) -> StatusError:
    return error(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def unsupported_media_type() -> StatusError:
    return error(415, "UnsupportedMediaType",
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")


def not_acceptable(message: str) -> StatusError:
    return error(406, "NotAcceptable", message)


def internal(message: str) -> StatusError:
    return error(500, "InternalError", f"Internal error occurred: {message}",
                 {"causes": [{"message": message}]})


def service_unavailable(message: str) -> StatusError:
    return error(503, "ServiceUnavailable", message)


def timeout(message: str, retry_after: int = 0) -> StatusError:
    details = {"retryAfterSeconds": retry_after} if retry_after else None
    return error(504, "Timeout", message, details)


def too_many_requests(message: str, retry_after: int = 1) -> StatusError:
    return error(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after})


def unprocessable(message: str) -> StatusError:
    return error(422, "UnprocessableEntity", message)
