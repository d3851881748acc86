"""The split processes run with the worker's garbage-collector settings (services/core/collector.py): rows
allocate lists by the million, and the default thresholds cost a split about a tenth of its CPU."""

from __future__ import annotations

import asyncio
import gc

from services.core.settings import Settings
from services.ingest import split_process


def _thresholds() -> tuple[int, int, int]:
    return gc.get_threshold()


async def test_a_split_process_collects_at_the_row_streams_thresholds() -> None:
    assert gc.get_threshold() != (100_000, 50, 100)  # this process is not tuned: the child's figure is its own
    try:
        pool = split_process._pool(Settings())
        child = await asyncio.get_running_loop().run_in_executor(pool, _thresholds)
    finally:
        split_process.shutdown()
    assert child == (100_000, 50, 100)
