"""The cluster's certificates, made on first start as k3s makes them.

A self-signed cluster CA; a serving certificate for the API server whose
names cover every way a client reaches it (127.0.0.1, localhost, the host
name, ``kubernetes.default.svc...`` and the first service IP); and client
certificates (the admin's with ``O=system:masters``). Files are written mode
600 inside a 700 directory; existing ones are reused, so restarts keep the
same identity. The kubeconfig that ``kubectl`` uses is written here too,
and the RSA key that signs service-account tokens (k3s's ``service.key``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365 * 10)
CLIENT_VALIDITY = datetime.timedelta(days=365)
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"  # kubelet.config.APISERVER_CLIENT_CN


@dataclass(frozen=True)
class Pair:
    cert: str  # path of the PEM certificate
    key: str   # path of the PEM private key


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _save(pair: Pair, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    _write_private(pair.key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM))


def load(pair: Pair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    with open(pair.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(pair.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return cert, key  # type: ignore[return-value]


def ensure_ca(directory: str, name: str = "kybernetes-ca") -> Pair:
    pair = Pair(os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key"))
    if os.path.exists(pair.cert) and os.path.exists(pair.key):
        return pair
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}@{int(now.timestamp())}")])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _save(pair, cert, key)
    return pair


def issue(ca: Pair, pair: Pair, common_name: str, *, organizations: tuple[str, ...] = (),
          dns_names: tuple[str, ...] = (), ips: tuple[str, ...] = (), server: bool = False,
          client: bool = False, validity: datetime.timedelta = CLIENT_VALIDITY) -> Pair:
    """Sign a certificate with the CA (always a fresh one)."""
    ca_cert, ca_key = load(ca)
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name(attrs)).issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + validity)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                            key_cert_sign=False, crl_sign=False,
                                            content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    _save(pair, builder.sign(ca_key, hashes.SHA256()), key)
    return pair


def ensure_service_account_key(directory: str) -> str:
    """The key that signs service-account tokens (RSA 2048, PEM, mode 600),
    made once: every token ever issued is verified with it, so a restart
    must keep it."""
    path = os.path.join(directory, "service-account.key")
    if not os.path.exists(path):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
    return path


def load_service_account_key(path: str) -> rsa.RSAPrivateKey:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def serving_names(service_ip: str, extra: tuple[str, ...] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    dns = ["localhost", socket.gethostname(), "kubernetes", "kubernetes.default",
           "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    ips = ["127.0.0.1", service_ip]
    for name in extra:
        try:
            ipaddress.ip_address(name)
            ips.append(name)
        except ValueError:
            dns.append(name)
    return tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(ips))


def ensure_serving(ca: Pair, directory: str, service_ip: str, extra: tuple[str, ...] = ()) -> Pair:
    """The API server's certificate; remade when the wanted names changed."""
    pair = Pair(os.path.join(directory, "serving-kube-apiserver.crt"),
                os.path.join(directory, "serving-kube-apiserver.key"))
    dns, ips = serving_names(service_ip, extra)
    if os.path.exists(pair.cert) and os.path.exists(pair.key):
        cert, _ = load(pair)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have_dns = set(san.get_values_for_type(x509.DNSName))
        have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
        if set(dns) <= have_dns and set(ips) <= have_ips:
            return pair
    return issue(ca, pair, "kube-apiserver", dns_names=dns, ips=ips, server=True,
                 validity=VALIDITY)


def ensure_client(ca: Pair, directory: str, filename: str, user: str,
                  groups: tuple[str, ...] = ()) -> Pair:
    pair = Pair(os.path.join(directory, f"{filename}.crt"), os.path.join(directory, f"{filename}.key"))
    if os.path.exists(pair.cert) and os.path.exists(pair.key):
        return pair
    return issue(ca, pair, user, organizations=groups, client=True)


def ensure_kubelet_client(ca: Pair, directory: str) -> Pair:
    """The API server's certificate towards kubelets (logs, exec, proxy,
    metrics): kube-apiserver's --kubelet-client-certificate, CN
    kube-apiserver-kubelet-client in O system:masters, as kubeadm issues it."""
    return ensure_client(ca, directory, "client-kube-apiserver-kubelet", KUBELET_CLIENT_CN, ("system:masters",))


def identity(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """(user, groups) of a client certificate: CN and O, as Kubernetes reads them."""
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (str(cn[0]) if cn else ""), tuple(str(o) for o in orgs)


def write_kubeconfig(path: str, server: str, ca: Pair, client: Pair, *, name: str = "default") -> None:
    """A kubeconfig with the certificates inline, mode 600, usable as is."""
    import base64

    def b64(p: str) -> str:
        with open(p, "rb") as f:
            return base64.b64encode(f.read()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server,
                                                "certificate-authority-data": b64(ca.cert)}}],
        "users": [{"name": name, "user": {"client-certificate-data": b64(client.cert),
                                          "client-key-data": b64(client.key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
