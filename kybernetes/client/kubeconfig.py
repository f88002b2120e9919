"""Where the API server is and how to authenticate to it: kubeconfig files and in-cluster config.

``load()`` follows clientcmd's loading rules: an explicit path, else every
file in ``$KUBECONFIG`` merged (the first file to set a name wins), else
``~/.kube/config``, else the in-cluster service account (token, CA and
namespace under /var/run/secrets/kubernetes.io/serviceaccount, server from
KUBERNETES_SERVICE_HOST/PORT). The current (or a named) context picks the
cluster (server URL, CA file or data, insecure-skip-tls-verify,
tls-server-name) and the user (client cert/key as file or data, token or
tokenFile, basic auth). Relative paths are relative to the file naming them.

``Config.ssl_context()`` builds the TLS context. A client certificate given
as data must reach OpenSSL through a file: it is written 0600 into a private
temporary directory, loaded, and removed before the call returns.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_REFRESH_SECONDS = 60.0  # client-go re-reads a token file about once a minute


class ConfigError(Exception):
    """No usable configuration, or one that names something missing."""


@dataclass
class Config:
    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    cert_data: bytes | None = None
    key_file: str | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    namespace: str = "default"
    _token_cache: tuple[float, str] | None = field(default=None, repr=False, compare=False)

    def bearer_token(self) -> str | None:
        """The token to send: ``token``, else the token file's content (re-read every minute,
        since kubelet rotates projected service account tokens in place)."""
        if self.token:
            return self.token
        if not self.token_file:
            return None
        now = time.monotonic()
        if self._token_cache is None or now - self._token_cache[0] > TOKEN_REFRESH_SECONDS:
            try:
                with open(self.token_file) as f:
                    self._token_cache = (now, f.read().strip())
            except OSError as e:
                if self._token_cache is None:
                    raise ConfigError(f"cannot read token file {self.token_file}: {e.strerror}") from e
        return self._token_cache[1]

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS settings for an https server (None for http). With a CA given only that CA is
        trusted, as client-go; otherwise the system's roots."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_file or self.ca_data:
            try:
                if self.ca_file:
                    ctx.load_verify_locations(cafile=self.ca_file)
                if self.ca_data:
                    ctx.load_verify_locations(cadata=self.ca_data.decode())
            except (OSError, ssl.SSLError, ValueError) as e:
                raise ConfigError(f"cannot load certificate authority: {e}") from e
        else:
            ctx.load_default_certs()
        if self.cert_file or self.cert_data or self.key_file or self.key_data:
            self._load_client_cert(ctx)
        return ctx

    def _load_client_cert(self, ctx: ssl.SSLContext) -> None:
        if not (self.cert_file or self.cert_data) or not (self.key_file or self.key_data):
            raise ConfigError("client certificate and key must both be given")
        with tempfile.TemporaryDirectory(prefix="kyb-client-") as tmp:
            cert = self.cert_file or _private_file(tmp, "client.crt", self.cert_data)
            key = self.key_file or _private_file(tmp, "client.key", self.key_data)
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(f"cannot load client certificate: {e}") from e


def _private_file(directory: str, name: str, data: bytes | None) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data or b"")
    return path


def load(path: str | None = None, *, context: str | None = None) -> Config:
    """Configuration by clientcmd's precedence (see the module docstring)."""
    if path:
        return from_dict(_read(path), context=context)
    env = os.environ.get("KUBECONFIG")
    if env:
        docs = [_read(p) for p in env.split(os.pathsep) if p and os.path.exists(p)]
        if docs:
            return from_dict(merge(docs), context=context)
    home = os.path.join(os.path.expanduser("~"), ".kube", "config")
    if os.path.exists(home):
        return from_dict(_read(home), context=context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster()
    raise ConfigError("no configuration: give a kubeconfig path, set KUBECONFIG, "
                      "create ~/.kube/config, or run in a pod")


def _read(path: str) -> dict[str, Any]:
    """A kubeconfig with every relative path made absolute against its directory."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse kubeconfig {path}: {e}") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    base = os.path.dirname(os.path.abspath(path))
    for section, inner, keys in (("clusters", "cluster", ("certificate-authority",)),
                                 ("users", "user", ("client-certificate", "client-key", "tokenFile"))):
        for entry in doc.get(section) or []:
            body = (entry or {}).get(inner) or {}
            for k in keys:
                if body.get(k):
                    body[k] = os.path.join(base, os.path.expanduser(body[k]))
    return doc


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """$KUBECONFIG merging: the first file to define a name (or current-context) wins."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": []}
    for doc in docs:
        if not merged.get("current-context") and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section in ("clusters", "contexts", "users"):
            seen = {e.get("name") for e in merged[section]}
            merged[section] += [e for e in doc.get(section) or [] if e and e.get("name") not in seen]
    return merged


def _named(doc: dict[str, Any], section: str, inner: str, name: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if entry and entry.get("name") == name:
            return entry.get(inner) or {}
    raise ConfigError(f"{inner} {name!r} not found in kubeconfig")


def _data(value: str | None, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=False)
    except ValueError as e:
        raise ConfigError(f"{what} is not valid base64") from e


def from_dict(doc: dict[str, Any], *, context: str | None = None) -> Config:
    """The Config a parsed kubeconfig describes for ``context`` (default: current-context)."""
    name = context or doc.get("current-context")
    if not name:
        raise ConfigError("kubeconfig has no current-context and none was given")
    ctx = _named(doc, "contexts", "context", name)
    if not ctx.get("cluster"):
        raise ConfigError(f"context {name!r} names no cluster")
    cluster = _named(doc, "clusters", "cluster", ctx["cluster"])
    user = _named(doc, "users", "user", ctx["user"]) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise ConfigError(f"cluster {ctx['cluster']!r} has no server")
    return Config(
        server=cluster["server"].rstrip("/"),
        ca_file=cluster.get("certificate-authority") or None,
        ca_data=_data(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name") or None,
        cert_file=user.get("client-certificate") or None,
        cert_data=_data(user.get("client-certificate-data"), "client-certificate-data"),
        key_file=user.get("client-key") or None,
        key_data=_data(user.get("client-key-data"), "client-key-data"),
        token=user.get("token") or None,
        token_file=user.get("tokenFile") or None,
        username=user.get("username") or None,
        password=user.get("password") or None,
        namespace=ctx.get("namespace") or "default",
    )


def in_cluster(root: str = SERVICE_ACCOUNT_DIR, environ: Any = None) -> Config:
    """rest.InClusterConfig: the pod's service account token and CA, the kubernetes Service."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
                          "and KUBERNETES_SERVICE_PORT must be defined")
    token_file = os.path.join(root, "token")
    if not os.path.exists(token_file):
        raise ConfigError(f"unable to load in-cluster configuration: no token at {token_file}")
    ca = os.path.join(root, "ca.crt")
    namespace = "default"
    try:
        with open(os.path.join(root, "namespace")) as f:
            namespace = f.read().strip() or "default"
    except OSError:
        pass
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Config(server=f"https://{hostport}", token_file=token_file,
                  ca_file=ca if os.path.exists(ca) else None, namespace=namespace)
