"""Service-account tokens: JWTs the API server signs and later believes.

``serviceaccounts/token`` (TokenRequest) issues them, the authenticator
(``authn``) accepts them as bearer tokens, TokenReview reviews them. They are
kube-apiserver's bound tokens: compact JWS, RS256, the key id in the header
derived from the public key as upstream derives it (base64url of the SHA-256
of the DER public key), claims ``iss``, ``sub``, ``aud``, ``exp``, ``iat``,
``nbf``, ``jti`` and the private ``kubernetes.io`` claim naming the namespace,
the service account and the object the token is bound to (pod, secret or
node), each by name and uid. A token stays good only while its service
account and bound object exist with those uids (pkg/serviceaccount/claims.go),
checked on every use against the watch caches.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import time
import uuid
from typing import Awaitable, Callable, Mapping

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kybernetes.apiserver.admission import UserInfo
from kybernetes.apiserver.authn import TokenResult

# kube-apiserver's bound-token expiry for projected volumes (60*60 + 7): a
# pod-bound token asked for with exactly this lifetime lives a year, with a
# ``warnafter`` claim at the lifetime asked for (--service-account-extend-token-expiration).
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 60 * 60 + 7
EXPIRATION_EXTENSION_SECONDS = 24 * 365 * 60 * 60
# go-jose's jwt.DefaultLeeway, allowed on exp, nbf and iat.
LEEWAY = 60

USERNAME_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"

# (resource plural, namespace, name) -> the object, or None when there is none.
Lookup = Callable[[str, str, str], Awaitable[dict | None]]


class InvalidToken(Exception):
    """A token that is not ours, or no longer good; the message is upstream's."""


# -- JWS compact serialization ------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise InvalidToken("illegal base64 data") from e


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The ``kid`` of tokens signed by the key (upstream keyIDFromPublicKey)."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


def encode(claims: Mapping, key: rsa.RSAPrivateKey) -> str:
    """``claims`` signed with ``key``: header.payload.signature. Keys are
    sorted, as go-jose writes the claims it merged into one map."""
    header = {"alg": "RS256", "kid": key_id(key.public_key())}
    signing_input = (_b64(orjson.dumps(header, option=orjson.OPT_SORT_KEYS)) + "."
                     + _b64(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS)))
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64(signature)


def _json_object(data: bytes) -> dict:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidToken("invalid JSON") from e
    if not isinstance(value, dict):
        raise InvalidToken("invalid JSON")
    return value


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of a compact JWT, not verified (upstream's
    hasCorrectIssuer): whether the token is ours to judge at all."""
    parts = token.split(".")
    if token.lstrip().startswith("{") or len(parts) != 3:
        return None
    try:
        issuer = _json_object(_unb64(parts[1])).get("iss")
    except InvalidToken:
        return None
    return issuer if isinstance(issuer, str) else None


def decode(token: str, keys: Mapping[str, rsa.RSAPublicKey]) -> dict:
    """The claims of ``token`` once its signature checks out with the key its
    ``kid`` names (any key when it names none)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("compact JWS format must have three parts")
    header = _json_object(_unb64(parts[0]))
    kid = header.get("kid")
    if not kid:
        candidates = list(keys.values())
    else:
        candidates = [keys[kid]] if isinstance(kid, str) and kid in keys else []
    if not candidates:
        raise InvalidToken("invalid signature, no keys found")
    if header.get("alg") != "RS256":
        raise InvalidToken("go-jose/go-jose: unexpected signature algorithm in JWS header; "
                           "expected one of [RS256]")
    signature, signing_input = _unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode()
    for public_key in candidates:
        try:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return _json_object(_unb64(parts[1]))
    raise InvalidToken("go-jose/go-jose: error in cryptographic primitive")


# -- claims ---------------------------------------------------------------------------------


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


def _ref(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    return {k: v for k, v in (("name", meta.get("name")), ("uid", meta.get("uid"))) if v}


def claims(issuer: str, account: dict, audiences: list[str], expiration_seconds: int, now: int, *,
           pod: dict | None = None, secret: dict | None = None, node: dict | None = None,
           warn_after: int = 0) -> dict:
    """The claims of a new token (upstream serviceaccount.Claims, with the
    ServiceAccountTokenJTI, PodNodeInfo and NodeBinding features on)."""
    meta = account["metadata"]
    private: dict = {"namespace": meta["namespace"], "serviceaccount": _ref(account)}
    if pod is not None:
        private["pod"] = _ref(pod)
    elif secret is not None:
        private["secret"] = _ref(secret)
    if node is not None:  # alone, or the node of a bound pod
        private["node"] = _ref(node)
    if warn_after:
        private["warnafter"] = now + warn_after
    return {"iss": issuer, "sub": username(meta["namespace"], meta["name"]), "aud": list(audiences),
            "iat": now, "nbf": now, "exp": now + expiration_seconds, "jti": str(uuid.uuid4()),
            "kubernetes.io": private}


def check_times(public: Mapping, now: float) -> None:
    """go-jose's Claims.Validate with its default leeway, in its order."""
    def number(name: str) -> float | None:
        value = public.get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    nbf, exp, iat = number("nbf"), number("exp"), number("iat")
    if nbf is not None and now + LEEWAY < nbf:
        raise InvalidToken("service account token is not valid yet")
    if exp is not None and now - LEEWAY > exp:
        raise InvalidToken("service account token has expired")
    if iat is not None and now + LEEWAY < iat:
        raise InvalidToken("service account token is issued in the future")


# -- issuing and authenticating ------------------------------------------------------------


class ServiceAccountTokens:
    """The API server's service-account token issuer and authenticator."""

    def __init__(self, key: rsa.RSAPrivateKey, issuer: str, audiences: tuple[str, ...],
                 lookup: Lookup, *, max_expiration_seconds: int = 0, extend_expiration: bool = True,
                 clock: Callable[[], float] = time.time):
        self.key = key
        self.issuer = issuer
        self.audiences = audiences  # --api-audiences: what the API server itself accepts
        self.lookup = lookup
        self.max_expiration_seconds = max_expiration_seconds
        self.extend_expiration = extend_expiration
        self.clock = clock
        self.public_keys = {key_id(key.public_key()): key.public_key()}

    def issue(self, account: dict, audiences: list[str], expiration_seconds: int, *,
              pod: dict | None = None, secret: dict | None = None, node: dict | None = None) -> tuple[str, int]:
        """A signed token and the time (seconds) TokenRequest says it expires."""
        now = int(self.clock())
        exp, warn_after = expiration_seconds, 0
        if (self.extend_expiration and pod is not None
                and expiration_seconds == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS
                and set(audiences) <= set(self.audiences)):
            exp, warn_after = EXPIRATION_EXTENSION_SECONDS, expiration_seconds
        token = encode(claims(self.issuer, account, audiences, exp, now, pod=pod, secret=secret,
                              node=node, warn_after=warn_after), self.key)
        return token, now + expiration_seconds

    async def authenticate_token(self, token: str,
                                 audiences: tuple[str, ...] | None = None) -> TokenResult:
        """Upstream's jwtTokenAuthenticator: a token of another issuer is not
        ours (no error); one of ours must verify, be meant for one of the
        ``audiences`` asked for (the API server's own by default) and still
        name live objects."""
        if unverified_issuer(token) != self.issuer:
            return TokenResult(None)
        try:
            public = decode(token, self.public_keys)
            if public.get("iss") != self.issuer:
                raise InvalidToken(f'token issuer "{public.get("iss")}" is invalid')
            aud = public.get("aud")
            token_audiences = ([aud] if isinstance(aud, str) else
                               [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else [])
            token_audiences = token_audiences or list(self.audiences)
            wanted = list(audiences) if audiences else list(self.audiences)
            granted = tuple(a for a in token_audiences if a in wanted)
            if not granted and self.audiences:
                raise InvalidToken(f"token audiences {_quoted(token_audiences)} is invalid for the "
                                   f"target audiences {_quoted(wanted)}")
            user = await self._validate(public)
        except InvalidToken as e:
            return TokenResult(None, error=str(e))
        return TokenResult(user, granted)

    async def _validate(self, public: dict) -> UserInfo:
        """Upstream's validator: times, then the service account and the
        bound object, by name and uid (deleted beyond the leeway is gone)."""
        now = self.clock()
        check_times(public, now)
        private = public.get("kubernetes.io")
        if not isinstance(private, dict):
            raise InvalidToken("service account token claims could not be validated")
        namespace = str(private.get("namespace") or "")
        sa_ref = _claim_ref(private, "serviceaccount") or {}
        account = await self.lookup("serviceaccounts", namespace, sa_ref.get("name", ""))
        if account is None:
            raise InvalidToken(f'serviceaccount "{sa_ref.get("name", "")}" not found')
        sa_uid = account["metadata"].get("uid", "")
        if sa_uid != sa_ref.get("uid"):
            raise InvalidToken(f"service account UID ({sa_uid}) does not match claim ({sa_ref.get('uid', '')})")
        if _deleted_before(account, now - LEEWAY):
            raise InvalidToken(f"service account {namespace}/{sa_ref.get('name')} has been deleted")
        extra: dict[str, list[str]] = {}
        for kind in ("secret", "pod"):
            ref = _claim_ref(private, kind)
            if ref is None:
                continue
            obj = await self.lookup(kind + "s", namespace, ref.get("name", ""))
            if obj is None or _deleted_before(obj, now - LEEWAY):
                raise InvalidToken("service account token has been invalidated")
            if obj["metadata"].get("uid", "") != ref.get("uid"):
                raise InvalidToken(f"{kind} UID ({obj['metadata'].get('uid', '')}) does not match "
                                   f"service account {kind} ref claim ({ref.get('uid', '')})")
            if kind == "pod":
                extra[POD_NAME_KEY], extra[POD_UID_KEY] = [ref.get("name", "")], [ref.get("uid", "")]
        node_ref = _claim_ref(private, "node")
        if node_ref is not None:
            if "pod" not in private:  # bound to the node itself: it must still be there
                node = await self.lookup("nodes", "", node_ref.get("name", ""))
                if node is None or _deleted_before(node, now - LEEWAY):
                    raise InvalidToken("service account token has been invalidated")
                if node["metadata"].get("uid", "") != node_ref.get("uid"):
                    raise InvalidToken(f"node UID ({node['metadata'].get('uid', '')}) does not match "
                                       f"service account node ref claim ({node_ref.get('uid', '')})")
            extra[NODE_NAME_KEY] = [node_ref.get("name", "")]
            if node_ref.get("uid"):
                extra[NODE_UID_KEY] = [node_ref["uid"]]
        jti = public.get("jti")
        if isinstance(jti, str) and jti:
            extra[CREDENTIAL_ID_KEY] = [f"JTI={jti}"]
        return UserInfo(username(namespace, sa_ref.get("name", "")),
                        (ALL_SERVICE_ACCOUNTS, f"system:serviceaccounts:{namespace}"), sa_uid, extra)


def _claim_ref(private: dict, kind: str) -> dict | None:
    ref = private.get(kind)
    return {k: v for k, v in ref.items() if isinstance(v, str)} if isinstance(ref, dict) else None


def _deleted_before(obj: dict, moment: float) -> bool:
    stamp = obj["metadata"].get("deletionTimestamp")
    if not stamp:
        return False
    when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return when.timestamp() < moment


def _quoted(values: list[str]) -> str:
    """Go's %q of a string slice: ["a" "b"]."""
    return "[" + " ".join(orjson.dumps(v).decode() for v in values) + "]"
