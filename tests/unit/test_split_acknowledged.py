"""A split bounds its wait for the broker's acknowledgements: a producer that stopped sending for good (an
idempotent one that lost its sequence with a broker that went away) fails the split, which the worker runs
again, instead of holding the job forever."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.core.settings import Settings
from services.ingest.split_process import SplitStalled, _acknowledged


async def test_an_acknowledgement_in_time_is_returned() -> None:
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.set_result(7)
    assert await _acknowledged(done, Settings(split_ack_timeout_s=1)) == 7


async def test_a_producer_that_never_acknowledges_fails_the_split_in_time() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = time.monotonic()
    with pytest.raises(SplitStalled, match="acknowledged no event of the split for 0.2 s"):
        await _acknowledged(never, Settings(split_ack_timeout_s=0.2))
    assert time.monotonic() - started < 5
    assert never.cancelled()


async def test_a_broker_error_is_the_error_raised() -> None:
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    refused.set_exception(ConnectionError("broker gone"))
    with pytest.raises(ConnectionError, match="broker gone"):
        await _acknowledged(refused, Settings(split_ack_timeout_s=1))
