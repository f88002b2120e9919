"""Raw HTTPS requests to a test ``kyb server``, as the admin user.

For what kubectl and the Python client never send: malformed bodies, odd
Accept headers, explicit resourceVersion parameters, watch streams read
line by line. Uses the certificates the server wrote into its data dir.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Iterator

import requests


class Rest:
    def __init__(self, data_dir: str, url: str):
        tls = os.path.join(data_dir, "tls")
        self.url = url
        self.session = requests.Session()
        self.session.cert = (os.path.join(tls, "client-admin.crt"), os.path.join(tls, "client-admin.key"))
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
        self.ca = os.path.join(tls, "ca.crt")
        self.session.trust_env = False

    @classmethod
    def of(cls, server) -> "Rest":
        return cls(server.data_dir, server.url)

    def request(self, method: str, path: str, *, body: Any = None, data: bytes | str | None = None,
                content_type: str = "application/json", accept: str | None = None,
                params: dict | None = None, timeout: float = 30.0, stream: bool = False,
                headers: dict | None = None) -> requests.Response:
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            hdrs.setdefault("Content-Type", content_type)
        if accept is not None:
            hdrs["Accept"] = accept
        return self.session.request(method, self.url + path, data=data, headers=hdrs, params=params,
                                    timeout=timeout, stream=stream, verify=self.ca)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> requests.Response:
        return self.request("POST", path, body=body, **kw)

    def put(self, path: str, body: Any = None, **kw) -> requests.Response:
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path: str, body: Any = None, *, content_type: str = "application/merge-patch+json",
              **kw) -> requests.Response:
        return self.request("PATCH", path, body=body, content_type=content_type, **kw)

    def delete(self, path: str, body: Any = None, **kw) -> requests.Response:
        return self.request("DELETE", path, body=body, **kw)

    def create(self, path: str, obj: dict, **kw) -> dict:
        """POST ``obj``; the created object (the test fails on anything but 201)."""
        response = self.post(path, obj, **kw)
        assert response.status_code == 201, response.text
        return response.json()

    def namespace(self, prefix: str = "t") -> str:
        """A fresh namespace for one test."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.create("/api/v1/namespaces", {"metadata": {"name": name}})
        return name

    def ready(self) -> bool:
        return self.get("/readyz", timeout=10).text == "ok"

    def watch(self, path: str, params: dict, *, timeout: float = 30.0) -> "WatchStream":
        response = self.get(path, params={**params, "watch": "true"}, stream=True, timeout=timeout)
        return WatchStream(response)


class WatchStream:
    """Events of one watch response, one JSON object per line."""

    def __init__(self, response: requests.Response):
        self.response = response
        self._lines = response.iter_lines(chunk_size=1)

    def __iter__(self) -> Iterator[dict]:
        for line in self._lines:
            if line:
                yield json.loads(line)

    def next(self) -> dict:
        return next(iter(self))

    def take(self, n: int) -> list[dict]:
        out = []
        for event in self:
            out.append(event)
            if len(out) == n:
                break
        return out

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> "WatchStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
