"""Real etcd members for tests: ``with EtcdCluster(members=3) as cluster: ...``.

Starts ``/usr/bin/etcd`` (Debian's etcd-server, which CI installs) on
127.0.0.1 only, with free ports and data directories in a temporary
directory. Synchronous, so that plain pytest fixtures can use it. On exit it
kills only the processes it started, by PID, and removes the directories,
also when the test failed. Nothing is skipped: without etcd it raises.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ETCD = "/usr/bin/etcd"
# 1.5 MiB values must fit in one request with their key and framing; etcd's
# default --max-request-bytes (1.5 MiB) counts the whole request.
MAX_REQUEST_BYTES = 3 * 1024 * 1024


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class EtcdCluster:
    """``members`` etcd processes forming one cluster on 127.0.0.1."""

    def __init__(self, members: int = 1, *, tls: bool = False, ready_timeout: float = 30.0,
                 progress_notify_interval: str = "1s"):
        """``tls``: clients talk https with a self-signed certificate for
        127.0.0.1 (``ssl_context()`` trusts it); peers stay on http."""
        if not os.access(ETCD, os.X_OK):
            raise RuntimeError(f"{ETCD} not found: install etcd (apt-get install etcd-server)")
        self.size = members
        self.ready_timeout = ready_timeout
        self.progress_notify_interval = progress_notify_interval
        self._dir: Path | None = None
        self._procs: list[subprocess.Popen | None] = [None] * members
        ports = _free_ports(2 * members)
        scheme = "https" if tls else "http"
        self.tls = tls
        self.client_urls = [f"{scheme}://127.0.0.1:{p}" for p in ports[:members]]
        self.peer_urls = [f"http://127.0.0.1:{p}" for p in ports[members:]]
        self._token = f"kyb-test-{uuid.uuid4().hex[:8]}"

    @property
    def endpoints(self) -> str:
        return ",".join(self.client_urls)

    def pid(self, i: int) -> int | None:
        proc = self._procs[i]
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "EtcdCluster":
        self._dir = Path(tempfile.mkdtemp(prefix="kyb-etcd-"))
        try:
            if self.tls:
                _write_certificate(self._dir)
            for i in range(self.size):
                self.start_member(i, wait=False)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for i in range(self.size):
            self.kill(i)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "EtcdCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _command(self, i: int) -> list[str]:
        assert self._dir is not None
        cluster = ",".join(f"m{j}={url}" for j, url in enumerate(self.peer_urls))
        return [
            ETCD,
            "--name", f"m{i}",
            "--data-dir", str(self._dir / f"m{i}"),
            "--listen-client-urls", self.client_urls[i],
            "--advertise-client-urls", self.client_urls[i],
            "--listen-peer-urls", self.peer_urls[i],
            "--initial-advertise-peer-urls", self.peer_urls[i],
            "--initial-cluster", cluster,
            "--initial-cluster-token", self._token,
            "--initial-cluster-state", "new",
            "--max-request-bytes", str(MAX_REQUEST_BYTES),
            "--experimental-watch-progress-notify-interval", self.progress_notify_interval,
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        ] + ([
            "--cert-file", str(self._dir / "server.crt"),
            "--key-file", str(self._dir / "server.key"),
        ] if self.tls else [])

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts the members' certificate (with ``tls``)."""
        if not self.tls or self._dir is None:
            return None
        return ssl.create_default_context(cafile=str(self._dir / "server.crt"))

    def start_member(self, i: int, *, wait: bool = True) -> None:
        """Start (or restart, on its data directory) member ``i``."""
        if self.pid(i) is not None:
            return
        assert self._dir is not None, "start the cluster first"
        log = open(self._dir / f"m{i}.log", "ab")
        try:
            self._procs[i] = subprocess.Popen(
                self._command(i), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        if wait:
            self.wait_ready([i])

    def kill(self, i: int) -> None:
        """SIGKILL member ``i`` (by its PID) and reap it."""
        proc = self._procs[i]
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self._procs[i] = None

    # -- readiness -----------------------------------------------------------------

    def _healthy(self, i: int) -> bool:
        # /health answers true once the member has a leader and serves reads.
        try:
            with urllib.request.urlopen(self.client_urls[i] + "/health", timeout=2,
                                        context=self.ssl_context()) as resp:
                return b'"true"' in resp.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def wait_ready(self, members: list[int] | None = None) -> None:
        """Wait until every running member (or those given) is healthy."""
        which = members if members is not None else [
            i for i in range(self.size) if self._procs[i] is not None]
        deadline = time.monotonic() + self.ready_timeout
        pending = list(which)
        while pending:
            for i in list(pending):
                proc = self._procs[i]
                if proc is None or proc.poll() is not None:
                    raise RuntimeError(f"etcd member m{i} exited:\n{self.log(i)}")
                if self._healthy(i):
                    pending.remove(i)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"etcd members {pending} not ready within {self.ready_timeout}s:\n"
                    + "\n".join(self.log(i) for i in pending))
            time.sleep(0.1)

    def log(self, i: int, tail: int = 4000) -> str:
        if self._dir is None:
            return ""
        try:
            return (self._dir / f"m{i}.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def _write_certificate(directory: Path) -> None:
    """A self-signed certificate for 127.0.0.1 (its own CA), as server.crt/key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kybernetes test etcd")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
