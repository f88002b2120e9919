"""How the API server reaches a node's kubelet (kube-apiserver's kubelet client).

A node's kubelet is at the first of its ``status.addresses`` in the
preferred order (k3s passes ``--kubelet-preferred-address-types=InternalIP,
ExternalIP,Hostname``) and the port of
``status.daemonEndpoints.kubeletEndpoint``. The API server speaks HTTPS to
it with its own client certificate (``--kubelet-client-certificate``: CN
kube-apiserver-kubelet-client, O system:masters) and checks the kubelet's
serving certificate against ``--kubelet-certificate-authority`` when one is
set, without a host name check (kubelets' serving names are node names, the
API server dials addresses); with no authority set it does not verify, as
kube-apiserver does by default.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import aiohttp

from kybernetes.api import status

PREFERRED_ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
DEFAULT_PORT = 10250
DIAL_TIMEOUT = 5.0  # --kubelet-timeout


@dataclass(frozen=True)
class Location:
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, path: str, scheme: str = "https") -> str:
        return f"{scheme}://{self.netloc}{path}"


def location(node: dict) -> Location:
    """Where the kubelet of ``node`` listens (NodeConnectionInfoGetter)."""
    st = node.get("status") or {}
    addresses = st.get("addresses") or []
    host = ""
    for kind in PREFERRED_ADDRESS_TYPES:
        host = next((a.get("address", "") for a in addresses if a.get("type") == kind and a.get("address")), "")
        if host:
            break
    if not host:
        known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
        raise unknown_error(f"no preferred addresses found; known addresses: [{known}]")
    port = ((st.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_PORT
    return Location(host, int(port))


def unknown_error(message: str, code: int = 500) -> status.StatusError:
    """What kube-apiserver answers for an error that is no API status (a
    failed dial, say): a 500 Status with no reason and the Go error text."""
    body = status.status(code, "", message)
    body.pop("reason", None)
    return status.StatusError(body)


def dial_error(e: BaseException, loc: Location) -> str:
    """Go's net error text for a failed connection to ``loc``."""
    if isinstance(e, ConnectionRefusedError):
        return f"dial tcp {loc.netloc}: connect: connection refused"
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return f"dial tcp {loc.netloc}: i/o timeout"
    if isinstance(e, ssl.SSLError):
        return f"tls: {e.reason or e}".lower() if getattr(e, "reason", None) else f"tls: {e}"
    if isinstance(e, aiohttp.ClientConnectorError) and e.os_error is not None:
        return dial_error(e.os_error, loc)
    return f"dial tcp {loc.netloc}: {e.strerror if isinstance(e, OSError) and e.strerror else e}"


class KubeletClient:
    """TLS settings and one pooled HTTP session for every kubelet."""

    def __init__(self, cert: str = "", key: str = "", ca: str = ""):
        self._verified = self._context(cert, key, ca)
        self._insecure = self._context(cert, key, "")
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    @staticmethod
    def _context(cert: str, key: str, ca: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = False
        if ca:
            ctx.load_verify_locations(ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_NONE
        if cert and key:
            ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def ssl_context(self, insecure: bool = False) -> ssl.SSLContext:
        return self._insecure if insecure else self._verified

    def session(self, insecure: bool = False) -> aiohttp.ClientSession:
        """A session for HTTP(S) requests to kubelets (and pods: plain HTTP);
        bodies are relayed as they come, undecoded."""
        s = self._sessions.get(insecure)
        if s is None or s.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl_context(insecure), limit=0)
            s = self._sessions[insecure] = aiohttp.ClientSession(
                connector=connector, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=DIAL_TIMEOUT))
        return s

    async def open(self, loc: Location, insecure: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw TLS connection to a kubelet (for upgraded streams)."""
        return await asyncio.wait_for(
            asyncio.open_connection(loc.host, loc.port, ssl=self.ssl_context(insecure),
                                    server_hostname=loc.host, limit=2**20), DIAL_TIMEOUT)

    async def close(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()
