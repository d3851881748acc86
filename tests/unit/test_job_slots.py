"""A worker's job slots (services.jobs.dispatch.JobSlots): one company never holds them all (issue 17:
a company whose two imports held both slots made every other company's job wait for them)."""

from __future__ import annotations

import asyncio

import pytest

from services.jobs.dispatch import JobSlots


async def _hold(slots: JobSlots, company: str, started: list[str], release: asyncio.Event) -> None:
    async with slots.slot(company):
        started.append(company)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize("size", [2, 3, 5])
async def test_another_company_finds_a_slot_while_one_company_waits_for_its_own(size: int) -> None:
    slots, started, release = JobSlots(size), [], asyncio.Event()
    a_jobs = [asyncio.create_task(_hold(slots, "A", started, release)) for _ in range(size + 2)]
    await _settle()
    assert started == ["A"] * (size - 1)  # A's others wait, one slot stays free
    b = asyncio.create_task(_hold(slots, "B", started, release))
    await _settle()
    assert started[-1] == "B" and len(started) == size  # at once, not after A's
    release.set()
    await asyncio.gather(*a_jobs, b)
    assert started.count("A") == size + 2


async def test_a_freed_slot_goes_to_the_waiting_job_and_a_cancel_frees_its_slot() -> None:
    slots, started = JobSlots(3), []
    first, second = asyncio.Event(), asyncio.Event()
    a1 = asyncio.create_task(_hold(slots, "A", started, first))
    a2 = asyncio.create_task(_hold(slots, "A", started, second))
    a3 = asyncio.create_task(_hold(slots, "A", started, second))
    await _settle()
    assert started == ["A", "A"]
    a1.cancel()  # a job cancelled in its slot (the worker stopping) gives the slot back
    await _settle()
    assert started == ["A", "A", "A"] and a1.cancelled()
    second.set()
    await asyncio.gather(a2, a3)


async def test_one_slot_serves_every_company_in_turn() -> None:
    slots, started, release = JobSlots(1), [], asyncio.Event()
    tasks = [asyncio.create_task(_hold(slots, c, started, release)) for c in "AAB"]
    await _settle()
    assert started == ["A"]
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(started) == ["A", "A", "B"]
