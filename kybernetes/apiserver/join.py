"""Joining nodes, as k3s does: the join token, ``/cacerts`` and node credentials.

``kyb server`` writes its join token to ``<data-dir>/token`` in k3s's "secure"
format ``K10<sha256 of the CA bundle>::server:<secret>``. An agent holding it
first fetches ``GET /cacerts`` without trusting anything, checks that the
bytes hash to the token's CA hash (so a man in the middle cannot hand it a CA
of its own), and from then on verifies the API server against that CA. It
then asks ``POST /v1-kybernetes/node-credentials`` (``Authorization: Bearer
<secret>``, JSON ``{"nodeName": ..., "nodeIP": ...}``) for its credentials and the
cluster's settings (``cluster``: network plan, cluster DNS):
a client certificate for ``system:node:<name>`` in group ``system:nodes`` (the
identity the Node authorizer and NodeRestriction expect) and a serving
certificate for the kubelet's own HTTPS API, both signed by the cluster CA.

A node name, once joined, belongs to the agent that joined it, as k3s's node
passwords make it: each agent sends a random password of its own
(``nodePassword``, kept in its data dir); the server keeps a hash per node
name (``<data-dir>/tls/node-passwords.json``, k3s keeps
``<node>.node-password.k3s`` secrets) and refuses another password for that
name with a 403, until the Node object is deleted.

Both endpoints sit in front of authentication, as k3s's supervisor endpoints
do: ``/cacerts`` is public, and the credentials endpoint checks the token
itself (a wrong one is a 401 ``Status``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass

from aiohttp import web

from kybernetes.api import status
from kybernetes.apiserver import pki
from kybernetes.apiserver.calls import respond_status

TOKEN_PREFIX = "K10"
TOKEN_USER = "server"
CACERTS_PATH = "/cacerts"
CREDENTIALS_PATH = "/v1-kybernetes/node-credentials"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
# A node name is a DNS subdomain (RFC 1123), as Node object names are.
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class TokenError(ValueError):
    """A join token that cannot be read, or that does not match the server's CA."""


@dataclass(frozen=True)
class Token:
    secret: str
    ca_hash: str | None = None  # None: a short token (the secret alone), nothing to verify the CA with
    username: str = TOKEN_USER

    def __str__(self) -> str:
        if self.ca_hash is None:
            return self.secret
        return f"{TOKEN_PREFIX}{self.ca_hash}::{self.username}:{self.secret}"


def ca_hash(ca_pem: bytes) -> str:
    """The token's CA hash: sha256 of the exact bytes ``/cacerts`` serves."""
    return hashlib.sha256(ca_pem).hexdigest()


def parse_token(text: str) -> Token:
    """Read a token: ``K10<hash>::<user>:<secret>`` or a bare secret (k3s's short form)."""
    text = text.strip()
    if not text:
        raise TokenError("the token is empty")
    if not text.startswith(TOKEN_PREFIX) or "::" not in text:
        if ":" in text:
            raise TokenError("the token is neither K10<ca-hash>::<user>:<secret> nor a bare secret")
        return Token(secret=text)
    head, _, creds = text.partition("::")
    digest = head[len(TOKEN_PREFIX):]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise TokenError("the token's CA hash is not a sha256 hex digest")
    user, sep, secret = creds.partition(":")
    if not sep or not user or not secret:
        raise TokenError("the token has no <user>:<secret> after its CA hash")
    return Token(secret=secret, ca_hash=digest, username=user)


def verify_ca(token: Token, ca_pem: bytes) -> None:
    """Raise TokenError unless the CA the server sent is the one the token names."""
    if token.ca_hash is None:
        raise TokenError("the token carries no CA hash (K10<sha256>::server:<secret>); "
                         "use the full token from the server's <data-dir>/token")
    if not hmac.compare_digest(token.ca_hash, ca_hash(ca_pem)):
        raise TokenError("the server's CA certificate does not match the token's CA hash")


def token_path(data_dir: str) -> str:
    return os.path.join(data_dir, "token")


def ensure_token(data_dir: str, ca: pki.Pair) -> Token:
    """The server's join token, made on first start and kept (its secret) after:
    agents joined earlier keep working across restarts. Written mode 600."""
    with open(ca.cert, "rb") as f:
        digest = ca_hash(f.read())
    path = token_path(data_dir)
    secret = None
    try:
        with open(path) as f:
            secret = parse_token(f.read()).secret
    except (OSError, TokenError):
        pass
    token = Token(secret=secret or secrets.token_hex(16), ca_hash=digest)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(token) + "\n")
    os.replace(path + ".tmp", path)
    return token


# -- credentials -------------------------------------------------------------------


@dataclass(frozen=True)
class NodeCredentials:
    client: pki.Pair  # system:node:<name>, O system:nodes
    serving: pki.Pair  # the kubelet's HTTPS API


def check_node_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 253 or not _NODE_NAME.fullmatch(name):
        raise ValueError(f"node name {name!r} is not a lowercase RFC 1123 subdomain")
    return name


def _check_ips(ips) -> tuple[str, ...]:
    out = []
    for ip in ips:
        out.append(str(ipaddress.ip_address(ip)))
    return tuple(out)


def issue_node_credentials(ca: pki.Pair, directory: str, node_name: str,
                           node_ips: tuple[str, ...] = ()) -> NodeCredentials:
    """Sign a node's client and serving certificates into ``directory``
    (k3s's file names: client-kubelet.crt, serving-kubelet.crt)."""
    check_node_name(node_name)
    ips = tuple(dict.fromkeys(("127.0.0.1", *_check_ips(node_ips))))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    client = pki.issue(ca, pki.Pair(os.path.join(directory, "client-kubelet.crt"),
                                    os.path.join(directory, "client-kubelet.key")),
                       NODE_USER_PREFIX + node_name, organizations=(NODES_GROUP,), client=True)
    serving = pki.issue(ca, pki.Pair(os.path.join(directory, "serving-kubelet.crt"),
                                     os.path.join(directory, "serving-kubelet.key")),
                        node_name, dns_names=(node_name, "localhost"), ips=ips, server=True)
    return NodeCredentials(client, serving)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class NodePasswords:
    """Hashes of the node passwords by node name, in one JSON file (mode 600)."""

    def __init__(self, path: str):
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            with open(self.path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, str]) -> None:
        fd = os.open(self.path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)

    @staticmethod
    def _hash(node_name: str, password: str) -> str:
        return hashlib.sha256(f"{node_name}:{password}".encode()).hexdigest()

    def matches(self, node_name: str, password: str) -> bool | None:
        """True or False for a known node name; None for one never joined."""
        known = self._load().get(node_name)
        if known is None:
            return None
        return hmac.compare_digest(known, self._hash(node_name, password))

    def set(self, node_name: str, password: str) -> None:
        data = self._load()
        data[node_name] = self._hash(node_name, password)
        self._save(data)


class JoinService:
    """The server side: the CA to sign with, the token secret to check, the
    node passwords, and the cluster settings every agent must share (the
    network plan, cluster DNS), handed to agents with their credentials as
    k3s's supervisor does. ``node_exists`` tells whether a Node object of a
    name exists (a deleted node frees its name)."""

    def __init__(self, ca: pki.Pair, token: Token, cluster: dict | None = None, *,
                 passwords: NodePasswords | None = None, node_exists=None):
        self.ca = ca
        self.token = token
        self.cluster = dict(cluster or {})
        self.passwords = passwords or NodePasswords(os.path.join(os.path.dirname(ca.cert),
                                                                 "node-passwords.json"))
        self.node_exists = node_exists
        self._lock = asyncio.Lock()

    async def claim(self, node_name: str, password: str) -> None:
        """Raise a 403 Status if ``node_name`` belongs to another agent."""
        if not password:
            raise status.bad_request("nodePassword is required")
        async with self._lock:
            known = await asyncio.to_thread(self.passwords.matches, node_name, password)
            if known is False and self.node_exists is not None and not await self.node_exists(node_name):
                known = None  # the Node was deleted: its name is free again
            if known is False:
                raise status.error(403, "Forbidden", f"Node password rejected for node {node_name}: "
                                   "a node of this name joined with another password (duplicate "
                                   "host name, or the agent's node-password file changed)")
            if known is None:
                await asyncio.to_thread(self.passwords.set, node_name, password)

    def authorized(self, header: str) -> bool:
        """``Bearer <secret>`` (or the whole token), compared in constant time."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        value = value.strip()
        try:
            value = parse_token(value).secret
        except TokenError:
            return False
        return hmac.compare_digest(value.encode(), self.token.secret.encode())

    def issue(self, node_name: str, node_ips: tuple[str, ...]) -> dict:
        """The credentials as PEM strings (the keys never stay on the server)."""
        with tempfile.TemporaryDirectory(prefix="kyb-join-") as tmp:
            creds = issue_node_credentials(self.ca, tmp, node_name, node_ips)
            return {
                "caCert": _read(self.ca.cert),
                "clientCert": _read(creds.client.cert), "clientKey": _read(creds.client.key),
                "servingCert": _read(creds.serving.cert), "servingKey": _read(creds.serving.key),
                "cluster": self.cluster,
            }

    async def cacerts(self, request: web.Request) -> web.Response:
        with open(self.ca.cert, "rb") as f:
            return web.Response(body=f.read(), content_type="text/plain")

    async def node_credentials(self, request: web.Request) -> web.Response:
        try:
            if not self.authorized(request.headers.get("Authorization", "")):
                raise status.unauthorized()
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError as e:
                raise status.bad_request(f"the request body is not JSON: {e}") from e
            if not isinstance(body, dict):
                raise status.bad_request("the request body must be a JSON object")
            ips = body.get("nodeIP") or ()
            if isinstance(ips, str):
                ips = tuple(i.strip() for i in ips.split(",") if i.strip())
            try:
                node_name = check_node_name(body.get("nodeName"))
                ips = _check_ips(ips)
            except (ValueError, TypeError) as e:
                raise status.bad_request(str(e)) from e
            password = body.get("nodePassword")
            await self.claim(node_name, password if isinstance(password, str) else "")
            result = await asyncio.to_thread(self.issue, node_name, ips)
            return web.json_response(result)
        except status.StatusError as e:
            return respond_status(e)


def add_routes(app: web.Application, service: JoinService) -> None:
    """The join endpoints, registered before the API server's catch-all route."""
    app.router.add_get(CACERTS_PATH, service.cacerts)
    app.router.add_post(CREDENTIALS_PATH, service.node_credentials)
