"""Kubeconfig loading: contexts, files vs data, $KUBECONFIG merging, in-cluster."""

import base64
import datetime
import os
import ssl
import tempfile

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.client import kubeconfig


def self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path, doc):
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def doc(current="ctx", **user):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443/",
                                                 "certificate-authority": "ca.crt"}},
                     {"name": "c2", "cluster": {"server": "https://other:443",
                                                 "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c1", "user": "u1", "namespace": "team"}},
                     {"name": "other", "context": {"cluster": "c2", "user": "u1"}}],
        "users": [{"name": "u1", "user": user or {"token": "abc"}}],
    }


def test_current_context_with_relative_files(tmp_path):
    cfg = kubeconfig.load(write(tmp_path / "config", doc(**{
        "client-certificate": "certs/admin.crt", "client-key": "/abs/admin.key"})))
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.ca_file == str(tmp_path / "ca.crt")
    assert cfg.cert_file == str(tmp_path / "certs" / "admin.crt")
    assert cfg.key_file == "/abs/admin.key"
    assert cfg.namespace == "team"
    assert not cfg.insecure_skip_tls_verify


def test_named_context_and_token(tmp_path):
    cfg = kubeconfig.load(write(tmp_path / "config", doc()), context="other")
    assert cfg.server == "https://other:443"
    assert cfg.insecure_skip_tls_verify
    assert cfg.bearer_token() == "abc"
    assert cfg.namespace == "default"


def test_data_fields_are_decoded(tmp_path):
    cert, key = self_signed()
    d = doc(**{"client-certificate-data": b64(cert), "client-key-data": b64(key)})
    d["clusters"][0]["cluster"] = {"server": "https://h:1", "certificate-authority-data": b64(cert)}
    cfg = kubeconfig.load(write(tmp_path / "config", d))
    assert cfg.ca_data == cert and cfg.cert_data == cert and cfg.key_data == key


def test_ssl_context_from_data_leaves_no_key_on_disk(tmp_path, monkeypatch):
    cert, key = self_signed()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cfg = kubeconfig.Config(server="https://h:1", ca_data=cert, cert_data=cert, key_data=key)
    ctx = cfg.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1  # only the given CA, not the system roots
    assert os.listdir(scratch) == []


def test_ssl_context_from_files_and_insecure(tmp_path):
    cert, key = self_signed()
    (tmp_path / "c.crt").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    cfg = kubeconfig.Config(server="https://h:1", ca_file=str(tmp_path / "c.crt"),
                            cert_file=str(tmp_path / "c.crt"), key_file=str(tmp_path / "c.key"))
    assert cfg.ssl_context() is not None
    insecure = kubeconfig.Config(server="https://h:1", insecure_skip_tls_verify=True).ssl_context()
    assert insecure.verify_mode == ssl.CERT_NONE
    assert kubeconfig.Config(server="http://h:1").ssl_context() is None
    with pytest.raises(kubeconfig.ConfigError):
        kubeconfig.Config(server="https://h:1", cert_data=cert).ssl_context()


def test_token_file_is_read_and_reread(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("one\n")
    cfg = kubeconfig.load(write(tmp_path / "config", doc(tokenFile="token")))
    assert cfg.token_file == str(token)
    assert cfg.bearer_token() == "one"
    token.write_text("two")
    assert cfg.bearer_token() == "one"  # cached for a minute
    monkeypatch.setattr(kubeconfig, "TOKEN_REFRESH_SECONDS", -1.0)
    assert cfg.bearer_token() == "two"


def test_kubeconfig_env_merges_first_wins(tmp_path, monkeypatch):
    first = {"current-context": "a",
             "clusters": [{"name": "c", "cluster": {"server": "https://first"}}],
             "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}],
             "users": [{"name": "u", "user": {"token": "t1"}}]}
    second = {"current-context": "b",
              "clusters": [{"name": "c", "cluster": {"server": "https://second"}},
                           {"name": "d", "cluster": {"server": "https://d"}}],
              "contexts": [{"name": "b", "context": {"cluster": "d", "user": "u"}}],
              "users": [{"name": "u", "user": {"token": "t2"}}]}
    p1, p2 = write(tmp_path / "one", first), write(tmp_path / "two", second)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([p1, str(tmp_path / "missing"), p2]))
    cfg = kubeconfig.load()
    assert (cfg.server, cfg.token) == ("https://first", "t1")
    cfg = kubeconfig.load(context="b")
    assert (cfg.server, cfg.token) == ("https://d", "t1")


def test_home_config_then_in_cluster(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(kubeconfig.ConfigError):
        kubeconfig.load()
    (tmp_path / ".kube").mkdir()
    write(tmp_path / ".kube" / "config", doc())
    assert kubeconfig.load().server == "https://127.0.0.1:6443"


def test_in_cluster(tmp_path):
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(self_signed()[0])
    (tmp_path / "namespace").write_text("kube-system")
    cfg = kubeconfig.in_cluster(str(tmp_path), {"KUBERNETES_SERVICE_HOST": "10.96.0.1",
                                                "KUBERNETES_SERVICE_PORT": "443"})
    assert cfg.server == "https://10.96.0.1:443"
    assert cfg.bearer_token() == "sa-token"
    assert cfg.ca_file == str(tmp_path / "ca.crt")
    assert cfg.namespace == "kube-system"
    v6 = kubeconfig.in_cluster(str(tmp_path), {"KUBERNETES_SERVICE_HOST": "fd00::1",
                                               "KUBERNETES_SERVICE_PORT": "443"})
    assert v6.server == "https://[fd00::1]:443"
    with pytest.raises(kubeconfig.ConfigError):
        kubeconfig.in_cluster(str(tmp_path), {})


def test_errors_name_what_is_missing(tmp_path):
    d = doc(current="nope")
    with pytest.raises(kubeconfig.ConfigError, match="nope"):
        kubeconfig.load(write(tmp_path / "config", d))
    with pytest.raises(kubeconfig.ConfigError, match="cannot read"):
        kubeconfig.load(str(tmp_path / "absent"))
