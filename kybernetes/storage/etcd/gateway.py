"""The HTTP client of etcd's v3 JSON gateway, with failover between members.

Every etcd member serves grpc-gateway on its client URL: ``POST /v3/kv/range``
and friends take and give the protobuf JSON mapping (see ``codec``). This
module knows nothing of keys or revisions: it sends a body to the member in
use and, when that member cannot answer, moves on to the next one, as
clientv3's balancer does. Above it, the backend decides what a failure means.

What may be retried is the subtle part. A failure is either *not sent* (the
connection was never made, or the member refused before proposing anything:
``etcdserver: no leader``, ``too many requests``) or *sent*: the request may
have reached raft and may yet be applied (a reset connection, a timeout,
``etcdserver: request timed out``). Reads are retried on the next member in
both cases. Writes are retried here only when not sent; a sent write raises
``OutcomeUnknown`` and the backend works out what happened (``writing``).

Every request carries the gRPC metadata ``hasleader=true`` (as clientv3's
``WithRequireLeader``), so a member cut off from the quorum refuses at once
instead of stalling, and cancels our watches, which then fail over.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from typing import Any, AsyncIterator

import aiohttp
import orjson

log = logging.getLogger(__name__)

Json = dict[str, Any]

# gRPC status codes etcd answers with (google.golang.org/grpc/codes).
CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED = 1, 2, 4, 8
ABORTED, OUT_OF_RANGE, UNAVAILABLE = 10, 11, 14
_TRANSIENT = {CANCELLED, DEADLINE_EXCEEDED, ABORTED, UNAVAILABLE}
# Refused by the member before anything was proposed to raft.
_NOT_APPLIED = ("etcdserver: no leader", "etcdserver: too many requests")

CONNECT_TIMEOUT = 3.0
_HEADERS = {"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"}
# aiohttp >= 3.10 tells a connect timeout apart; before, it is "maybe sent".
_CONNECT_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(aiohttp, "ConnectionTimeoutError", None),) if t is not None)


class EtcdError(Exception):
    """etcd answered with an error status (not a transport failure)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def compacted(self) -> bool:  # mvcc.ErrCompacted
        return self.code == OUT_OF_RANGE and "has been compacted" in self.message

    @property
    def future(self) -> bool:  # mvcc.ErrFutureRev
        return self.code == OUT_OF_RANGE and "future revision" in self.message


class Unreachable(Exception):
    """No member answered before the deadline; the message says why for each."""


class OutcomeUnknown(Exception):
    """A write reached a member that then failed to answer: it may be applied."""


class Failure(Exception):
    """One attempt on one member failed; ``sent`` if it may have had an effect."""

    def __init__(self, url: str, reason: str, *, sent: bool):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.sent = sent


class Gateway:
    def __init__(self, urls: list[str], *, request_timeout: float = 5.0,
                 retry_timeout: float = 15.0, ssl: ssl_module.SSLContext | None = None):
        self.urls = urls
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self._ssl = ssl
        self._current = 0
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl if self._ssl else True)
            self._session = aiohttp.ClientSession(connector=connector, headers=_HEADERS)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise Unreachable("the datastore is closed")
        return self._session

    def members(self) -> list[str]:
        """Member URLs, the one in use first."""
        return self.urls[self._current:] + self.urls[:self._current]

    def failed(self, url: str) -> None:
        """Move off ``url`` if it is the member in use (once, however many
        requests saw it fail at the same time)."""
        if self.urls[self._current] == url:
            self._current = (self._current + 1) % len(self.urls)

    async def call(self, path: str, body: Json, *, write: bool = False,
                   timeout: float | None = None) -> Json:
        """POST ``body`` to ``path``, failing over until ``timeout`` (default
        ``retry_timeout``) has passed. Raises ``EtcdError`` for an answer that
        is an error, ``Unreachable``, or for a ``write``, ``OutcomeUnknown``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.retry_timeout if timeout is None else timeout)
        reasons: dict[str, str] = {}
        delay, tried = 0.05, 0
        while True:
            url = self.urls[self._current]
            remaining = deadline - loop.time()
            try:
                return await self._post(url, path, body, min(self.request_timeout, max(remaining, 0.2)))
            except Failure as f:
                log.debug("etcd member %s failed on %s (%s)", url, path, f.reason)
                reasons[url] = f.reason
                self.failed(url)
                if write and f.sent:
                    raise OutcomeUnknown(str(f)) from f
            tried += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unreachable(_summary(reasons))
            if tried % len(self.urls) == 0:  # a whole round failed: back off
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)

    async def _post(self, url: str, path: str, body: Json, timeout: float) -> Json:
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, CONNECT_TIMEOUT))
        try:
            async with self.session.post(url + path, data=orjson.dumps(body), timeout=limits) as resp:
                raw = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectorError as e:
            raise Failure(url, _describe(e), sent=False) from e
        except _CONNECT_TIMEOUT_ERRORS as e:
            raise Failure(url, "connect timed out", sent=False) from e
        except asyncio.TimeoutError as e:
            raise Failure(url, f"no answer within {timeout:.1f}s", sent=True) from e
        except aiohttp.ClientError as e:
            raise Failure(url, _describe(e), sent=True) from e
        if status == 200:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise Failure(url, f"malformed answer: {raw[:100]!r}", sent=True) from e
        raise _error(url, status, raw)

    async def stream(self, url: str, path: str, body: Json) -> AsyncIterator[Json]:
        """The messages of a server stream (``/v3/watch``) from one member, one
        JSON object per line, until the member ends it. Raises ``Failure`` when
        the stream cannot be opened or breaks. Close it with ``aclose``."""
        limits = aiohttp.ClientTimeout(total=None, sock_read=None,
                                       sock_connect=min(self.request_timeout, CONNECT_TIMEOUT))
        try:
            async with self.session.post(url + path, data=orjson.dumps(body), timeout=limits) as resp:
                if resp.status != 200:
                    raise _error(url, resp.status, await resp.read())
                buffer = bytearray()
                async for chunk in resp.content.iter_any():
                    # Not readline(): aiohttp refuses lines over 128 KiB, and
                    # one watch response may carry megabytes of values.
                    start = len(buffer)
                    buffer += chunk
                    end = buffer.find(b"\n", start)
                    while end >= 0:
                        line = bytes(buffer[:end])
                        del buffer[:end + 1]
                        if line.strip():
                            yield orjson.loads(line)
                        end = buffer.find(b"\n")
        except aiohttp.ClientConnectorError as e:
            raise Failure(url, _describe(e), sent=False) from e
        except (asyncio.TimeoutError, aiohttp.ClientError) as e:
            raise Failure(url, _describe(e), sent=True) from e
        except orjson.JSONDecodeError as e:
            raise Failure(url, f"malformed stream message: {e}", sent=True) from e
        raise Failure(url, "the member ended the stream", sent=True)


def _error(url: str, status: int, raw: bytes) -> Exception:
    """An HTTP error answer as ``EtcdError`` (etcd said no) or ``Failure``."""
    try:
        body = orjson.loads(raw)
        error = body.get("error")
        if isinstance(error, dict):  # a server stream's error: {"error": {"grpc_code": ...}}
            body = {"code": error.get("grpc_code"), "message": error.get("message")}
        code, message = int(body.get("code") or 0), str(body.get("message") or error)
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        if status >= 500:
            return Failure(url, f"HTTP {status}", sent=True)
        return EtcdError(0, f"HTTP {status}: {raw[:200]!r}")
    if code == RESOURCE_EXHAUSTED or message in _NOT_APPLIED:
        return Failure(url, message, sent=False)
    if code in _TRANSIENT or (code == UNKNOWN and status >= 500):
        return Failure(url, message, sent=True)
    return EtcdError(code, message)


def _describe(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    os_error = getattr(e, "os_error", None)  # not set on certificate errors
    if isinstance(e, aiohttp.ClientConnectorError) and isinstance(os_error, OSError):
        return f"cannot connect: {os_error.strerror or os_error}"
    return str(e) or type(e).__name__


def _summary(reasons: dict[str, str]) -> str:
    return "; ".join(f"{url}: {reason}" for url, reason in reasons.items())
