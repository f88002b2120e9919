"""Authorization: may this user do this? The second stage of every request.

The stage is in place from the start; for now every authenticated user may
do everything (kube-apiserver's AlwaysAllow mode). RBAC and the Node
authorizer plug in here as further ``Authorizer`` implementations.
"""

from __future__ import annotations

from typing import Protocol

from kybernetes.apiserver.admission import UserInfo
from kybernetes.apiserver.requestinfo import RequestInfo


class Authorizer(Protocol):
    async def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        """(allowed, reason)."""
        ...


class AlwaysAllow:
    async def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        return True, ""


def forbidden_message(user: UserInfo, info: RequestInfo, reason: str = "") -> str:
    """kube-apiserver's 403 text."""
    if not info.is_resource:
        text = f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    else:
        resource = info.resource + (f"/{info.subresource}" if info.subresource else "")
        text = f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{info.group}"'
        text += f' in the namespace "{info.namespace}"' if info.namespace else " at the cluster scope"
    return text + (f": {reason}" if reason else "")
