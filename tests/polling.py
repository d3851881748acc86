"""Bounded polling for tests: wait for a condition, not for a guessed number of seconds.

A fixed sleep is either too short (a flaky failure on a loaded machine) or too long (time lost on
every run). ``eventually`` polls until the condition holds and fails with what did not happen.

An observation period ("nothing changes for 3 s after a cancel") is not a wait: it stays a sleep,
with a comment saying it is the behaviour under test.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]], timeout_s: float, what: str, *, interval_s: float = 0.1
) -> T:
    """Call ``check`` (plain or async) until it returns something truthy, and return that.

    Fails with ``what`` did not happen within ``timeout_s``, and the last value ``check`` returned,
    if it never does. ``check`` runs at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        value: T = await result if inspect.isawaitable(result) else result
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{what}: did not happen within {timeout_s:g} s (last check returned {value!r})")
        await asyncio.sleep(min(interval_s, remaining))
