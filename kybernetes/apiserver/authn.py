"""Authentication: who is asking. The first stage of every request.

x509 client certificates signed by the cluster CA (CN is the user, O the
groups, as Kubernetes reads them; TLS verification already proved them),
and bearer tokens from the server's token table. Nothing else: a request
with no valid credentials is answered 401, except the health and version
endpoints that kube-apiserver opens to ``system:unauthenticated``.
"""

from __future__ import annotations

import hmac
from typing import Mapping

from aiohttp import web

from kybernetes.apiserver.admission import UserInfo

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")


def _from_peercert(cert: Mapping) -> UserInfo | None:
    cn = ""
    groups: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                groups.append(value)
    if not cn:
        return None
    return UserInfo(cn, tuple(groups) + ("system:authenticated",))


class Authenticator:
    def __init__(self, tokens: Mapping[str, UserInfo] | None = None):
        self.tokens = dict(tokens or {})

    def add_token(self, token: str, user: UserInfo) -> None:
        self.tokens[token] = user

    def authenticate(self, request: web.Request) -> UserInfo | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
            for known, user in self.tokens.items():
                if hmac.compare_digest(known, token):
                    return UserInfo(user.name, tuple(user.groups) + ("system:authenticated",), user.uid)
            return None
        transport = request.transport
        if transport is not None:
            cert = transport.get_extra_info("peercert")
            if cert:
                return _from_peercert(cert)
        return None

    @staticmethod
    def is_public(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)
