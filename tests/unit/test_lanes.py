"""Lanes: batches of one lane commit in order, one at a time; different lanes overlap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.apply import pipeline
from services.apply.pipeline import LaneApplier


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []

    async def fake_apply(res: Any, prepared: Any) -> list[dict[str, Any]]:
        log.append(("start", prepared))
        await asyncio.sleep(0.02)
        log.append(("end", prepared))
        return [{"batch": prepared}]

    monkeypatch.setattr(pipeline, "apply_prepared", fake_apply)
    return log


async def test_one_lane_applies_in_order_and_reports_after_each_commit(journal: list[tuple[str, Any]]) -> None:
    lanes = LaneApplier(res=None, lanes=2)  # type: ignore[arg-type]
    done: list[Any] = []

    async def on_done(results: list[dict[str, Any]]) -> None:
        done.append(results[0]["batch"])

    for batch in ("a", "b", "c"):
        await lanes.lane(0).submit(batch, on_done)  # type: ignore[arg-type]
    await lanes.drain()
    assert journal == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"), ("start", "c"), ("end", "c")]
    assert done == ["a", "b", "c"]


async def test_partitions_of_different_lanes_overlap(journal: list[tuple[str, Any]]) -> None:
    lanes = LaneApplier(res=None, lanes=2)  # type: ignore[arg-type]

    async def on_done(results: list[dict[str, Any]]) -> None:
        pass

    assert lanes.lane(0) is lanes.lane(2) and lanes.lane(0) is not lanes.lane(1)
    await lanes.lane(0).submit("p0", on_done)  # type: ignore[arg-type]
    await lanes.lane(1).submit("p1", on_done)  # type: ignore[arg-type]
    await lanes.drain()
    assert journal[:2] == [("start", "p0"), ("start", "p1")]
