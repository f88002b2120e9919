"""Service-account tokens: the JWT codec, the claims, the checks a token
passes on every use, and TokenRequest / TokenReview through the in-process
API server."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kybernetes.apiserver import pki, tokens
from tests.apiserver import harness

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def part(token: str, index: int) -> dict:
    text = token.split(".")[index]
    return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def account(name="default", ns="ns", uid="sa-uid") -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": uid}}


# -- the codec --------------------------------------------------------------------------


def test_the_key_id_is_base64url_of_the_sha256_of_the_der_public_key(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    want = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert tokens.key_id(key.public_key()) == want


def test_a_token_is_an_rs256_jws_that_decodes_to_its_claims(key):
    token = tokens.encode({"sub": "x", "aud": ["a"]}, key)
    assert "=" not in token and token.count(".") == 2
    assert part(token, 0) == {"alg": "RS256", "kid": tokens.key_id(key.public_key())}
    keys = {tokens.key_id(key.public_key()): key.public_key()}
    assert tokens.decode(token, keys) == {"sub": "x", "aud": ["a"]}


def test_a_changed_payload_or_an_unknown_key_fails_verification(key):
    keys = {tokens.key_id(key.public_key()): key.public_key()}
    token = tokens.encode({"sub": "x"}, key)
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"admin"}').rstrip(b"=").decode()
    with pytest.raises(tokens.InvalidToken, match="error in cryptographic primitive"):
        tokens.decode(f"{header}.{forged}.{signature}", keys)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(tokens.InvalidToken, match="invalid signature, no keys found"):
        tokens.decode(tokens.encode({"sub": "x"}, other), keys)
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(f"{unsigned}.{forged}.", keys)
    for garbage in ("", "a.b", "not.a.jwt", "....", "{}.{}.{}"):
        with pytest.raises(tokens.InvalidToken):
            tokens.decode(garbage, keys)


def test_claims_name_the_account_and_the_bound_object():
    pod = {"metadata": {"name": "p", "uid": "pod-uid"}}
    node = {"metadata": {"name": "n1"}}
    claims = tokens.claims(ISSUER, account(), ["api"], 3600, NOW, pod=pod, node=node, warn_after=60)
    assert claims["sub"] == "system:serviceaccount:ns:default"
    assert (claims["iss"], claims["aud"]) == (ISSUER, ["api"])
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 3600)
    assert claims["jti"]
    assert claims["kubernetes.io"] == {
        "namespace": "ns", "serviceaccount": {"name": "default", "uid": "sa-uid"},
        "pod": {"name": "p", "uid": "pod-uid"}, "node": {"name": "n1"}, "warnafter": NOW + 60}


def test_times_are_checked_with_a_minute_of_leeway():
    tokens.check_times({"exp": NOW, "nbf": NOW, "iat": NOW}, NOW + 59)
    with pytest.raises(tokens.InvalidToken, match="service account token has expired"):
        tokens.check_times({"exp": NOW}, NOW + 61)
    with pytest.raises(tokens.InvalidToken, match="not valid yet"):
        tokens.check_times({"nbf": NOW}, NOW - 61)
    with pytest.raises(tokens.InvalidToken, match="issued in the future"):
        tokens.check_times({"iat": NOW}, NOW - 61)


# -- the authenticator -----------------------------------------------------------------------


class Objects:
    def __init__(self, *objs: tuple[str, dict]):
        self.objects = {(plural, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                        for plural, o in objs}

    async def lookup(self, plural: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((plural, namespace, name))


def issuer(key, objects: Objects, clock=lambda: NOW) -> tokens.ServiceAccountTokens:
    return tokens.ServiceAccountTokens(key, ISSUER, (ISSUER,), objects.lookup, clock=clock)


async def test_a_token_authenticates_as_its_service_account(key):
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "pod-uid"}}
    sa = issuer(key, Objects(("serviceaccounts", account()), ("pods", pod)))
    token, expires = sa.issue(account(), [ISSUER], 600, pod=pod)
    assert expires == NOW + 600
    result = await sa.authenticate_token(token)
    assert result.error == ""
    user = result.user
    assert user.name == "system:serviceaccount:ns:default"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:ns")
    assert user.uid == "sa-uid"
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["p"]
    assert user.extra["authentication.kubernetes.io/pod-uid"] == ["pod-uid"]
    assert user.extra["authentication.kubernetes.io/credential-id"] == [f"JTI={part(token, 1)['jti']}"]
    assert result.audiences == (ISSUER,)


async def test_a_token_fails_once_its_objects_are_gone_or_replaced(key):
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "pod-uid"}}
    token, _ = issuer(key, Objects()).issue(account(), [ISSUER], 600, pod=pod)
    cases = [
        (Objects(("pods", pod)), 'serviceaccount "default" not found'),
        (Objects(("serviceaccounts", account(uid="new")), ("pods", pod)),
         "service account UID (new) does not match claim (sa-uid)"),
        (Objects(("serviceaccounts", account())), "service account token has been invalidated"),
        (Objects(("serviceaccounts", account()),
                 ("pods", {"metadata": {"name": "p", "namespace": "ns", "uid": "other"}})),
         "pod UID (other) does not match service account pod ref claim (pod-uid)"),
    ]
    for objects, error in cases:
        result = await issuer(key, objects).authenticate_token(token)
        assert (result.user, result.error) == (None, error)


async def test_expiry_audience_and_issuer(key):
    objects = Objects(("serviceaccounts", account()))
    sa = issuer(key, objects)
    token, _ = sa.issue(account(), ["vault"], 600)
    result = await sa.authenticate_token(token)
    assert result.user is None
    assert result.error == ('token audiences ["vault"] is invalid for the target audiences '
                            '["https://kubernetes.default.svc.cluster.local"]')
    assert (await sa.authenticate_token(token, ("vault",))).user is not None
    late = issuer(key, objects, clock=lambda: NOW + 600 + 61)
    token, _ = sa.issue(account(), [ISSUER], 600)
    assert (await late.authenticate_token(token)).error == "service account token has expired"
    foreign = tokens.encode({**part(token, 1), "iss": "https://elsewhere"}, key)
    assert await sa.authenticate_token(foreign) == tokens.TokenResult(None)  # not ours to judge


def test_projected_pod_tokens_live_a_year_and_warn_after_the_hour(key):
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "pod-uid"}}
    sa = issuer(key, Objects())
    token, expires = sa.issue(account(), [ISSUER], 3607, pod=pod)
    claims = part(token, 1)
    assert expires == NOW + 3607
    assert claims["exp"] == NOW + 365 * 24 * 3600
    assert claims["kubernetes.io"]["warnafter"] == NOW + 3607
    token, _ = sa.issue(account(), ["other"], 3607, pod=pod)
    assert part(token, 1)["exp"] == NOW + 3607


def test_the_signing_key_is_made_once_mode_600(tmp_path):
    path = pki.ensure_service_account_key(str(tmp_path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = pki.load_service_account_key(path)
    assert key.key_size == 2048
    with open(path, "rb") as f:
        first = f.read()
    assert pki.ensure_service_account_key(str(tmp_path)) == path
    with open(path, "rb") as f:
        assert f.read() == first


# -- through the API server --------------------------------------------------------------------

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def api(tmp_path):
    async with harness.running(str(tmp_path)) as api:
        code, _ = await api.call("POST", f"{NS}/serviceaccounts", {"metadata": {"name": "robot"}})
        assert code == 201
        yield api


def request(**spec) -> dict:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


async def test_token_request_answers_a_token_that_authenticates(api):
    code, answer = await api.call("POST", f"{NS}/serviceaccounts/robot/token", request())
    assert code == 201, answer
    assert answer["kind"] == "TokenRequest"
    assert answer["metadata"]["name"] == "robot" and answer["metadata"]["namespace"] == "default"
    assert answer["spec"] == {"audiences": [ISSUER], "expirationSeconds": 3600}
    token = answer["status"]["token"]
    claims = part(token, 1)
    assert claims["exp"] - claims["iat"] == 3600
    code, review = await api.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                                  token=token)
    assert code == 201
    assert review["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
    assert "system:authenticated" in review["status"]["userInfo"]["groups"]
    code, _ = await api.call("DELETE", f"{NS}/serviceaccounts/robot")
    assert code == 200
    await api.state.caches["/registry/serviceaccounts/"].wait_fresh(await api.store.current_revision())
    code, _ = await api.call("GET", f"{NS}/pods", token=token)
    assert code == 401


async def test_token_request_errors_are_upstreams(api):
    path = f"{NS}/serviceaccounts/robot/token"
    code, answer = await api.call("POST", path, request(expirationSeconds=599))
    assert code == 422
    assert answer["message"] == ('TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
                                 "Invalid value: 599: may not specify a duration less than 10 minutes")
    code, answer = await api.call("POST", f"{NS}/serviceaccounts/nobody/token", request())
    assert (code, answer["message"]) == (404, 'serviceaccounts "nobody" not found')
    code, answer = await api.call("POST", path, request(boundObjectRef={"kind": "Pod", "apiVersion": "v1",
                                                                        "name": "gone"}))
    assert (code, answer["message"]) == (404, 'pods "gone" not found')
    code, answer = await api.call("POST", path, request(boundObjectRef={"kind": "ConfigMap",
                                                                        "apiVersion": "v1", "name": "x"}))
    assert (code, answer["message"]) == (400, "cannot bind token to object of type /v1, Kind=ConfigMap")
    code, secret = await api.call("POST", f"{NS}/secrets", {"metadata": {"name": "s"}})
    ref = {"kind": "Secret", "apiVersion": "v1", "name": "s", "uid": "stale"}
    code, answer = await api.call("POST", path, request(boundObjectRef=ref))
    assert code == 409
    assert answer["message"].startswith('Operation cannot be fulfilled on Secret "s": the UID in the bound '
                                        "object reference (stale) does not match")
    code, answer = await api.call("POST", path, {**request(), "metadata": {"name": "other"}})
    assert code == 422 and "must match the service account name if specified" in answer["message"]


async def test_token_review_judges_service_account_tokens(api):
    code, answer = await api.call("POST", f"{NS}/serviceaccounts/robot/token",
                                  request(audiences=["vault"], expirationSeconds=600))
    token = answer["status"]["token"]
    reviews = "/apis/authentication.k8s.io/v1/tokenreviews"

    async def review(**spec):
        code, answer = await api.call("POST", reviews, {"apiVersion": "authentication.k8s.io/v1",
                                                        "kind": "TokenReview", "spec": spec})
        assert code == 201, answer
        return answer["status"]

    good = await review(token=token, audiences=["vault"])
    assert good["authenticated"] is True
    assert good["audiences"] == ["vault"]
    assert good["user"]["username"] == "system:serviceaccount:default:robot"
    assert good["user"]["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default",
                                      "system:authenticated"]
    wrong_audience = await review(token=token)
    assert "authenticated" not in wrong_audience and wrong_audience["user"] == {}
    assert "token audiences" in wrong_audience["error"]
    assert await review(token="garbage") == {"user": {}, "error": "invalid bearer token"}
    static = await review(token=harness.TOKEN)
    assert static["authenticated"] is True and static["user"]["username"] == "admin"
    code, answer = await api.call("POST", reviews, {"apiVersion": "authentication.k8s.io/v1",
                                                    "kind": "TokenReview", "spec": {}})
    assert (code, answer["message"]) == (400, "token is required for TokenReview in authentication")
