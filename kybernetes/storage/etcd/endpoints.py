"""The etcd cluster as the user names it: ``http://a:2379,https://b:2379``.

The same comma-separated list etcdctl's ``--endpoints`` and k3s's
``--datastore-endpoint`` take. Each member is a client URL; a missing port
is etcd's client port 2379. No I/O.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from kybernetes.storage.errors import DatastoreError

DEFAULT_PORT = 2379


def parse(endpoints: str, name: str) -> list[str]:
    """The member URLs (``scheme://host:port``, no path), in the given order.

    Raises ``DatastoreError`` naming the datastore for anything that is not
    an http(s) URL of a host, so a typo fails at start-up, not at first use.
    """
    urls: list[str] = []
    for part in endpoints.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            split = urlsplit(text)
            port = split.port or DEFAULT_PORT
        except ValueError as e:
            raise DatastoreError(name, f"invalid etcd endpoint {text!r}: {e}") from e
        if split.scheme not in ("http", "https"):
            raise DatastoreError(name, f"invalid etcd endpoint {text!r}: use http:// or https://")
        if not split.hostname:
            raise DatastoreError(name, f"invalid etcd endpoint {text!r}: no host")
        if split.path not in ("", "/") or split.query or split.fragment:
            raise DatastoreError(name, f"invalid etcd endpoint {text!r}: unexpected path")
        host = f"[{split.hostname}]" if ":" in split.hostname else split.hostname
        url = f"{split.scheme}://{host}:{port}"
        if url not in urls:
            urls.append(url)
    if not urls:
        raise DatastoreError(name, "no etcd endpoint given (use http://host:2379[,...])")
    return urls
