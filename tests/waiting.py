"""Tests wait for a condition, never for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Generous: a condition that holds comes true in milliseconds on a quiet machine,
# and a busy CI machine must not turn a slow pass into a failure.
DEFAULT_TIMEOUT_S = 20.0


def wait_until(condition: Callable[[], object], *, timeout_s: float = DEFAULT_TIMEOUT_S, what: str = "") -> None:
    """Poll `condition` until it is true; fail with `what` if it is not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or condition}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


async def async_wait_until(
    condition: Callable[[], object | Awaitable[object]], *, timeout_s: float = DEFAULT_TIMEOUT_S, what: str = ""
) -> None:
    """The same inside an event loop; `condition` may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or condition}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
