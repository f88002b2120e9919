"""Service-account tokens end to end: ``kubectl create token``, then kubectl
using the token alone (a kubeconfig with no client certificate: with one,
kube-apiserver's x509 authenticator would answer first), and tokens that
must be refused: garbage, expired, signed by another key, meant for another
audience, or naming a service account or pod that is gone."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from kybernetes.apiserver import pki, tokens

ISSUER = "https://kubernetes.default.svc.cluster.local"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def as_token(server, tmp_path):
    """Run kubectl with nothing but ``token`` as its credential."""
    with open(server.kubeconfig) as f:
        admin = yaml.safe_load(f)
    counter = iter(range(1_000_000))

    def run(token: str, *args: str) -> subprocess.CompletedProcess:
        path = os.path.join(str(tmp_path), f"token-{next(counter)}.yaml")
        config = {**admin, "users": [{"name": "default", "user": {"token": token}}]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f)
        return subprocess.run(["kubectl", "--kubeconfig", path, "--cache-dir", str(tmp_path / "cache"), *args],
                              capture_output=True, text=True, timeout=60)
    return run


def eventually(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def unauthorized(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and "You must be logged in to the server" in result.stderr


def default_account(kubectl, namespace: str) -> dict:
    eventually(lambda: kubectl.run("get", "serviceaccount", "default", "-n", namespace,
                                   check=False).returncode == 0)
    return kubectl.json("get", "serviceaccount", "default", "-n", namespace)


def test_kubectl_create_token_gives_a_token_kubectl_can_use(kubectl, namespace, as_token):
    account = default_account(kubectl, namespace)
    token = kubectl("create", "token", "default", "-n", namespace).strip()
    claims = claims_of(token)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    assert claims["aud"] == [ISSUER] and claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "default", "uid": account["metadata"]["uid"]}

    result = as_token(token, "get", "pods", "-n", namespace)
    assert result.returncode == 0, result.stderr
    assert "No resources found" in result.stdout + result.stderr
    whoami = as_token(token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{namespace}:default"
    assert user["uid"] == account["metadata"]["uid"]
    assert user["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                              "system:authenticated"]
    assert user["extra"]["authentication.kubernetes.io/credential-id"] == [f"JTI={claims['jti']}"]
    table = as_token(token, "auth", "whoami")
    assert f"system:serviceaccount:{namespace}:default" in table.stdout


def test_token_requests_are_checked_as_upstream_checks_them(kubectl, namespace):
    default_account(kubectl, namespace)
    short = kubectl.run("create", "token", "default", "-n", namespace, "--duration", "5m", check=False)
    assert short.returncode != 0
    assert "may not specify a duration less than 10 minutes" in short.stderr
    missing = kubectl.run("create", "token", "nobody", "-n", namespace, check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    long = kubectl("create", "token", "default", "-n", namespace, "--duration", "48h",
                   "--audience", "vault").strip()
    claims = claims_of(long)
    assert claims["exp"] - claims["iat"] == 48 * 3600 and claims["aud"] == ["vault"]


def test_bad_tokens_are_refused(server, kubectl, namespace, as_token):
    account = default_account(kubectl, namespace)
    key = pki.load_service_account_key(os.path.join(server.data_dir, "tls", "service-account.key"))
    long_ago = int(time.time()) - 7200
    expired = tokens.encode(tokens.claims(ISSUER, account, [ISSUER], 600, long_ago), key)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = tokens.encode(tokens.claims(ISSUER, account, [ISSUER], 600, int(time.time())), other_key)
    elsewhere = kubectl("create", "token", "default", "-n", namespace, "--audience", "vault").strip()
    good = kubectl("create", "token", "default", "-n", namespace).strip()
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    for token in ("garbage", expired, foreign, elsewhere, tampered):
        assert unauthorized(as_token(token, "get", "pods", "-n", namespace)), token
    assert as_token(good, "get", "pods", "-n", namespace).returncode == 0


def test_a_token_dies_with_its_service_account(kubectl, namespace, as_token):
    kubectl("create", "serviceaccount", "robot", "-n", namespace)
    token = kubectl("create", "token", "robot", "-n", namespace).strip()
    assert as_token(token, "get", "pods", "-n", namespace).returncode == 0
    kubectl("delete", "serviceaccount", "robot", "-n", namespace)
    eventually(lambda: unauthorized(as_token(token, "get", "pods", "-n", namespace)))
    kubectl("create", "serviceaccount", "robot", "-n", namespace)  # same name, new uid
    assert unauthorized(as_token(token, "get", "pods", "-n", namespace))


def test_a_pod_bound_token_dies_with_its_pod(kubectl, namespace, as_token):
    default_account(kubectl, namespace)
    kubectl("run", "p", "-n", namespace, "--image=busybox", "--restart=Never")
    pod = kubectl.json("get", "pod", "p", "-n", namespace)
    token = kubectl("create", "token", "default", "-n", namespace, "--bound-object-kind", "Pod",
                    "--bound-object-name", "p", "--bound-object-uid", pod["metadata"]["uid"]).strip()
    assert claims_of(token)["kubernetes.io"]["pod"] == {"name": "p", "uid": pod["metadata"]["uid"]}
    whoami = as_token(token, "auth", "whoami", "-o", "json")
    extra = json.loads(whoami.stdout)["status"]["userInfo"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["p"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
    stale = kubectl.run("create", "token", "default", "-n", namespace, "--bound-object-kind", "Pod",
                        "--bound-object-name", "p", "--bound-object-uid", "not-the-uid", check=False)
    assert "the UID in the bound object reference (not-the-uid) does not match" in stale.stderr
    kubectl("delete", "pod", "p", "-n", namespace, "--grace-period=0", "--force")
    eventually(lambda: unauthorized(as_token(token, "get", "pods", "-n", namespace)))


def test_token_review(kubectl, namespace, tmp_path):
    default_account(kubectl, namespace)
    token = kubectl("create", "token", "default", "-n", namespace).strip()

    def review(token: str) -> dict:
        path = tmp_path / "review.json"
        path.write_text(json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                    "spec": {"token": token}}))
        out = kubectl("create", "--raw", "/apis/authentication.k8s.io/v1/tokenreviews", "-f", str(path))
        return json.loads(out)["status"]

    status = review(token)
    assert status["authenticated"] is True
    assert status["user"]["username"] == f"system:serviceaccount:{namespace}:default"
    assert status["audiences"] == [ISSUER]
    refused = review("garbage")
    assert "authenticated" not in refused and refused["error"] == "invalid bearer token"
