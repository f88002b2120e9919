"""Service-account tokens for projected volumes: TokenRequest, and rotation at 80% of life.

As the kubelet's token manager (pkg/kubelet/token): a token bound to the pod
(``boundObjectRef`` Pod name+uid) is asked for with the volume's audience and
``expirationSeconds``, and asked for again once 80% of the lifetime asked
for has passed, or after 24 hours whatever the lifetime. Instead of an
in-memory cache the current token is read back from the volume itself (its
``iat``, audience and bound pod), so a restarted kubelet keeps tokens that are
still good and the token never lands anywhere but the pod's tmpfs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time

from kybernetes.api.status import StatusError
from kybernetes.client import rest
from kybernetes.kubelet.volumes import sources

DEFAULT_EXPIRATION_SECONDS = 3600
MAX_TTL = 24 * 60 * 60
REFRESH_FRACTION = 0.8


class TokenError(Exception):
    pass


def claims(token: str) -> dict | None:
    """The JWT's payload, unverified (the API server verifies it; we only read times)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None


def needs_refresh(token: str | None, pod: dict, audience: str, expiration_seconds: int,
                  now: float | None = None) -> bool:
    if not token:
        return True
    c = claims(token)
    if not c or "iat" not in c:
        return True
    now = time.time() if now is None else now
    bound = ((c.get("kubernetes.io") or {}).get("pod") or {}).get("uid")
    if bound != (pod.get("metadata") or {}).get("uid"):
        return True
    aud = c.get("aud") or []
    if audience and audience not in (aud if isinstance(aud, list) else [aud]):
        return True
    iat = float(c["iat"])
    if now >= iat + MAX_TTL or now >= float(c.get("exp", iat + expiration_seconds)):
        return True
    return now >= iat + REFRESH_FRACTION * expiration_seconds


def read_current(volume_dir: str, path: str) -> str | None:
    try:
        with open(os.path.join(volume_dir, path)) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


async def request(client: rest.Client, pod: dict, audience: str, expiration_seconds: int) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    body = {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {"name": sa, "namespace": meta.get("namespace")},
        "spec": {
            "audiences": [audience] if audience else [],
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                               "name": meta.get("name"), "uid": meta.get("uid")},
        },
    }
    try:
        tr = await client.create(sources.SERVICEACCOUNTS, body, meta.get("namespace"),
                                 subresource="token", name=sa)
    except StatusError as e:
        raise TokenError(f"failed to fetch token: {e.message or e}") from e
    except rest.ClientError as e:
        raise TokenError(f"failed to fetch token: {e}") from e
    token = (tr.get("status") or {}).get("token")
    if not token:
        raise TokenError("failed to fetch token: the server answered without a token")
    return token
