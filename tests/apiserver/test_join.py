"""Join tokens and node credentials (``apiserver.join``): the k3s token format,
CA verification, and the two endpoints an agent uses to join."""

from __future__ import annotations

import os
import ssl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.apiserver import join, pki


@pytest.fixture
def ca(tmp_path):
    return pki.ensure_ca(str(tmp_path))


def test_token_format(tmp_path, ca):
    token = join.ensure_token(str(tmp_path), ca)
    text = open(os.path.join(tmp_path, "token")).read().strip()
    assert oct(os.stat(os.path.join(tmp_path, "token")).st_mode & 0o777) == "0o600"
    assert text == str(token)
    assert text.startswith("K10")
    head, _, creds = text.partition("::")
    assert head[3:] == join.ca_hash(open(ca.cert, "rb").read())
    assert len(head) == 3 + 64
    user, _, secret = creds.partition(":")
    assert user == "server" and len(secret) >= 32
    assert join.parse_token(text) == token


def test_token_kept_across_restarts(tmp_path, ca):
    first = join.ensure_token(str(tmp_path), ca)
    assert join.ensure_token(str(tmp_path), ca) == first


def test_parse_short_and_bad_tokens():
    assert join.parse_token("abc123") == join.Token(secret="abc123")
    for bad in ("", "K10zz::server:x", "K10" + "a" * 64 + "::server", "K10" + "a" * 64 + "::server:",
                "user:pass"):
        with pytest.raises(join.TokenError):
            join.parse_token(bad)


def test_verify_ca(tmp_path, ca):
    pem = open(ca.cert, "rb").read()
    token = join.ensure_token(str(tmp_path), ca)
    join.verify_ca(token, pem)
    (tmp_path / "other").mkdir()
    other = pki.ensure_ca(str(tmp_path / "other"))
    with pytest.raises(join.TokenError, match="does not match"):
        join.verify_ca(token, open(other.cert, "rb").read())
    with pytest.raises(join.TokenError, match="no CA hash"):
        join.verify_ca(join.Token(secret=token.secret), pem)


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


@pytest.fixture
def existing_nodes():
    return set()


@pytest.fixture
async def http(tmp_path, ca, existing_nodes):
    async def node_exists(name):
        return name in existing_nodes

    service = join.JoinService(ca, join.ensure_token(str(tmp_path), ca), {"clusterCIDR": "10.9.0.0/16"},
                               node_exists=node_exists)
    app = web.Application()
    join.add_routes(app, service)
    async with TestClient(TestServer(app)) as client:
        yield client, service


async def test_cacerts_is_the_ca(http, ca):
    client, service = http
    async with client.get("/cacerts") as r:
        assert r.status == 200
        body = await r.read()
    assert body == open(ca.cert, "rb").read()
    join.verify_ca(service.token, body)


async def test_node_credentials(http, ca):
    client, service = http
    async with client.post(join.CREDENTIALS_PATH, json={"nodeName": "worker-1", "nodeIP": "172.31.9.7",
                                                             "nodePassword": "pw"},
                           headers={"Authorization": f"Bearer {service.token.secret}"}) as r:
        assert r.status == 200, await r.text()
        creds = await r.json()
    assert creds["caCert"] == open(ca.cert).read()
    assert creds["cluster"] == {"clusterCIDR": "10.9.0.0/16"}
    client_cert = _cert(creds["clientCert"])
    assert pki.identity(client_cert) == ("system:node:worker-1", ("system:nodes",))
    eku = client_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    serving = _cert(creds["servingCert"])
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "worker-1" in san.get_values_for_type(x509.DNSName)
    assert {str(i) for i in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "172.31.9.7"}
    # The keys match their certificates and the CA signed both: TLS loads them.
    for cert, key in (("clientCert", "clientKey"), ("servingCert", "servingKey")):
        cpath, kpath = ca.cert + "." + cert, ca.cert + "." + key
        open(cpath, "w").write(creds[cert])
        open(kpath, "w").write(creds[key])
        ssl.create_default_context().load_cert_chain(cpath, kpath)
        _cert(creds[cert]).verify_directly_issued_by(_cert(creds["caCert"]))


async def test_the_whole_token_works_as_bearer(http):
    client, service = http
    async with client.post(join.CREDENTIALS_PATH, json={"nodeName": "n1", "nodePassword": "pw"},
                           headers={"Authorization": f"Bearer {service.token}"}) as r:
        assert r.status == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2VydmVyOndyb25n", "Bearer "])
async def test_wrong_token_is_401_status(http, header):
    client, _ = http
    headers = {"Authorization": header} if header is not None else {}
    async with client.post(join.CREDENTIALS_PATH, json={"nodeName": "n1"}, headers=headers) as r:
        assert r.status == 401
        body = await r.json()
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


@pytest.mark.parametrize("body", [{"nodeName": "Bad_Name", "nodePassword": "pw"}, {"nodePassword": "pw"},
                                  {"nodeName": "n1", "nodeIP": "x.y", "nodePassword": "pw"},
                                  {"nodeName": "n1"}])
async def test_bad_request(http, body):
    client, service = http
    async with client.post(join.CREDENTIALS_PATH, json=body,
                           headers={"Authorization": f"Bearer {service.token.secret}"}) as r:
        assert r.status == 400
        assert (await r.json())["reason"] == "BadRequest"


async def _join(client, service, name, password):
    async with client.post(join.CREDENTIALS_PATH, json={"nodeName": name, "nodePassword": password},
                           headers={"Authorization": f"Bearer {service.token.secret}"}) as r:
        return r.status, await r.json()


async def test_a_node_name_belongs_to_its_first_agent(http, existing_nodes, tmp_path):
    client, service = http
    assert (await _join(client, service, "n1", "first"))[0] == 200
    assert (await _join(client, service, "n1", "first"))[0] == 200  # the same agent again
    existing_nodes.add("n1")
    code, body = await _join(client, service, "n1", "second")
    assert code == 403 and body["reason"] == "Forbidden"
    assert "Node password rejected for node n1" in body["message"]
    assert (await _join(client, service, "n2", "second"))[0] == 200
    # Only hashes are kept, in a private file.
    text = open(service.passwords.path).read()
    assert "first" not in text and oct(os.stat(service.passwords.path).st_mode & 0o777) == "0o600"
    # Once the Node is deleted its name is free again.
    existing_nodes.discard("n1")
    assert (await _join(client, service, "n1", "second"))[0] == 200
    existing_nodes.add("n1")
    assert (await _join(client, service, "n1", "first"))[0] == 403
