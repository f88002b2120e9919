"""Waiting, in async tests, for what a real server or node does in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(fn: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Poll ``fn`` (async) until it returns something truthy, or ``timeout``
    seconds have passed; its last value either way (the caller asserts it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
