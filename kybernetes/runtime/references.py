"""Image references, normalised the way Docker and containerd name images.

``busybox`` is ``docker.io/library/busybox:latest``; ``me/app:1`` is
``docker.io/me/app:1``; ``localhost:5000/app`` keeps its registry; a digest
reference (``app@sha256:...``) gets no default tag. This follows
distribution's ``reference.ParseNormalizedNamed`` + ``TagNameOnly``, which is
what the kubelet shows in ``containerStatuses[].image``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kybernetes.runtime import errors

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form Docker prints (``busybox:latest``)."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN and path.startswith(OFFICIAL_PREFIX):
            path = path[len(OFFICIAL_PREFIX):]
        name = path if self.domain == DEFAULT_DOMAIN else self.repository
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name


def parse(ref: str) -> Reference:
    """Parse and normalise ``ref``; raise ``ImageError`` if it is not a name."""
    text = ref.strip()
    if not text:
        raise errors.ImageError("empty image reference")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise errors.ImageError(f"invalid digest in image reference {ref!r}")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise errors.ImageError(f"invalid tag in image reference {ref!r}")
    domain, _, rest = text.partition("/")
    if not rest or ("." not in domain and ":" not in domain and domain != "localhost"
                    and domain.lower() == domain):
        domain, rest = DEFAULT_DOMAIN, text
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    for component in rest.split("/"):
        if not _COMPONENT.match(component):
            raise errors.ImageError(f"invalid repository name in image reference {ref!r}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=rest, tag=tag, digest=digest)


def normalize(ref: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest``."""
    return str(parse(ref))
