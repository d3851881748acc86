"""tests/polling.py: eventually returns as soon as the condition holds and fails, bounded, naming it."""

from __future__ import annotations

import time

import pytest

from tests.polling import eventually


async def test_returns_the_first_truthy_value_as_soon_as_it_comes() -> None:
    calls: list[int] = []

    def check() -> list[int] | None:
        calls.append(1)
        return [len(calls)] if len(calls) == 3 else None

    started = time.monotonic()
    assert await eventually(check, 5, "the third call", interval_s=0.01) == [3]
    assert len(calls) == 3 and time.monotonic() - started < 1


async def test_takes_an_async_check() -> None:
    seen = 0

    async def check() -> int:
        nonlocal seen
        seen += 1
        return seen if seen >= 2 else 0

    assert await eventually(check, 5, "two calls", interval_s=0.01) == 2


async def test_fails_at_the_deadline_saying_what_did_not_happen_and_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"^the job finished: did not happen within 0.2 s \(last check returned \[\]\)$"
    ):
        await eventually(lambda: [], 0.2, "the job finished", interval_s=0.05)
    assert 0.2 <= time.monotonic() - started < 1


async def test_checks_once_more_at_the_deadline() -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        return calls == 2  # true only on the call at the deadline

    assert await eventually(check, 0.05, "the second call", interval_s=10) is True
