"""When a worker analyzes a table's company_id (services/apply/statistics.py): each time the rows it applied
for a company to that table pass 20,000, 200,000, 2M, ..., one ANALYZE of a table at a time."""

from __future__ import annotations

import asyncio
from typing import Any

from services.apply import statistics
from services.apply.statistics import FreshStatistics
from services.core.runtime import Runtime
from services.core.settings import Settings

_RUNTIME = Runtime(Settings(), None, None)  # type: ignore[arg-type]  # no pool is used: ANALYZE is replaced


def test_thresholds_are_crossed_once_each_and_grow_tenfold() -> None:
    fresh = FreshStatistics(first=100)
    crossed = [n for n in range(1, 2_001) if fresh.crossed("crm_leads", "c1", 1)]
    assert crossed == [100, 1_000]
    assert fresh.crossed("crm_leads", "c1", 8_000)  # 10,000 passed in one batch
    assert not fresh.crossed("crm_leads", "c1", 50_000)  # next is 100,000


def test_companies_and_tables_count_apart() -> None:
    fresh = FreshStatistics(first=100)
    assert not fresh.crossed("crm_leads", "c1", 99)
    assert not fresh.crossed("crm_leads", "c2", 99)
    assert not fresh.crossed("crm_accounts", "c1", 99)
    assert fresh.crossed("crm_leads", "c1", 1)
    assert not fresh.crossed("crm_leads", "c2", 0)


async def test_one_analyze_of_a_table_at_a_time(monkeypatch: Any) -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def analyze(owner_dsn: str, table: str) -> None:
        started.append(table)
        await release.wait()

    monkeypatch.setattr(statistics, "analyze_company_column", analyze)
    fresh = FreshStatistics(first=10)
    fresh.applied(_RUNTIME, ("crm_contacts", "crm_accounts"), "c1", 10)
    fresh.applied(_RUNTIME, ("crm_contacts",), "c2", 10)  # crm_contacts is being analyzed
    await asyncio.sleep(0)
    assert sorted(started) == ["crm_accounts", "crm_contacts"]
    release.set()
    await fresh.wait()
    fresh.applied(_RUNTIME, ("crm_contacts",), "c3", 10)
    await asyncio.sleep(0)
    assert started.count("crm_contacts") == 2
    release.set()
    await fresh.wait()
