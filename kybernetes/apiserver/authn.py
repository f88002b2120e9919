"""Authentication: who is asking. The first stage of every request.

x509 client certificates signed by the cluster CA (CN is the user, O the
groups, as Kubernetes reads them; TLS verification already proved them),
then bearer tokens: the server's static token table, then the token
authenticators added to it (service-account JWTs, ``tokens``). The order is
kube-apiserver's union: the first method that succeeds wins. Nothing else:
a request with no valid credentials is answered 401, except the health and
version endpoints that kube-apiserver opens to ``system:unauthenticated``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Mapping, Protocol

from aiohttp import web

from kybernetes.apiserver.admission import UserInfo

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class TokenResult:
    """What a token authenticator says of one token: the user (None when not
    authenticated), the audiences the token is good for, and why it failed."""

    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    error: str = ""


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str,
                                 audiences: tuple[str, ...] | None = None) -> TokenResult: ...


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
    return UserInfo(cn, tuple(groups) + (AUTHENTICATED,))


def _authenticated(user: UserInfo) -> UserInfo:
    """kube-apiserver's group adder: every authenticated user is in
    ``system:authenticated``."""
    groups = tuple(user.groups)
    if AUTHENTICATED not in groups:
        groups += (AUTHENTICATED,)
    return UserInfo(user.name, groups, user.uid, dict(user.extra))


class Authenticator:
    def __init__(self, tokens: Mapping[str, UserInfo] | None = None):
        self.tokens = dict(tokens or {})
        self.token_authenticators: list[TokenAuthenticator] = []

    def add_token(self, token: str, user: UserInfo) -> None:
        self.tokens[token] = user

    def add_token_authenticator(self, authenticator: TokenAuthenticator) -> None:
        self.token_authenticators.append(authenticator)

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        if transport is not None:
            cert = transport.get_extra_info("peercert")
            if cert:
                user = _from_peercert(cert)
                if user is not None:
                    return user
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return (await self.authenticate_token(header[7:].strip())).user
        return None

    async def authenticate_token(self, token: str,
                                 audiences: tuple[str, ...] | None = None) -> TokenResult:
        """One bearer token, as kube-apiserver's token union reads it (also for
        TokenReview): static tokens are good for any audience; the first
        authenticator that accepts the token wins; otherwise the errors of
        those that recognised it, or "invalid bearer token"."""
        if token:
            for known, user in self.tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return TokenResult(_authenticated(user), tuple(audiences or ()))
        errors = []
        for authenticator in self.token_authenticators if token else ():
            result = await authenticator.authenticate_token(token, audiences)
            if result.user is not None:
                return TokenResult(_authenticated(result.user), result.audiences)
            if result.error:
                errors.append(result.error)
        if not errors:
            return TokenResult(None, error="invalid bearer token")
        # utilerrors.NewAggregate: one error reads as itself, several as a list.
        return TokenResult(None, error=errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")

    @staticmethod
    def is_public(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)
