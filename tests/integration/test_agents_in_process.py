"""The worker's agents driven in-process with Faust's test context: real PostgreSQL, no broker.

The worker's Runtime and the senders of its outgoing events are injected (streams/runtime.py), so a
test puts events into an agent and reads what it wrote to the database and what it sent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from schemas import events
from services.core.runtime import Runtime, open_runtime
from services.core.settings import Settings, get_settings
from services.jobs.dispatch import Senders
from tests.integration.conftest import worker_env
from tests.polling import eventually

pytestmark = pytest.mark.integration


class Sent:
    """The events an agent sent, by kind."""

    def __init__(self) -> None:
        self.requests: list[events.JobRequest] = []
        self.results: list[events.ImportResult] = []
        self.statuses: list[events.JobStatus] = []

    def senders(self) -> Senders:
        async def request(e: events.JobRequest) -> None:
            self.requests.append(e)

        async def result(e: events.ImportResult) -> None:
            self.results.append(e)

        async def status(e: events.JobStatus) -> None:
            self.statuses.append(e)

        return Senders(request=request, result=result, status=status)


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[ModuleType]:
    """The worker's modules, imported with settings of their own: topics no worker subprocess reads, so
    the partition offsets these agents store are theirs alone."""
    own = f"inproc{uuid.uuid4().hex[:8]}"
    saved = dict(os.environ)
    os.environ.update(worker_env(settings) | {"CRMIO_TOPIC_PREFIX": own, "CRMIO_APP_ID": f"crmio-{own}"})
    get_settings.cache_clear()
    try:
        import streams.worker

        yield streams.worker
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.fixture
async def runtime(worker: ModuleType) -> AsyncIterator[tuple[Runtime, Sent]]:
    from services.ingest import split_process
    from streams.runtime import worker_runtime

    sent = Sent()
    async with open_runtime(worker_runtime.settings, pool_size=(1, 4)) as rt:
        worker_runtime.install(rt, sent.senders())
        yield rt, sent
    split_process.shutdown()  # the job-requests agent warms it up


async def _running_import(pool: asyncpg.Pool, company: str, job_id: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO crm_import_export_jobs (id, company_id, job_type, job_status, target_model, file_format, "
            "file_path, duplicate_handling, queue) VALUES ($1, $2, 'import', 'running', 'lead', 'csv', 'x.csv', "
            "'skip', $3)",
            uuid.UUID(job_id),
            uuid.UUID(company),
            f"inproc{uuid.uuid4().hex[:6]}",
        )


def _batch(company: str, job_id: str, numbers: list[int]) -> events.RecordBatch:
    return events.record_batch(
        job_id,
        company,
        "lead",
        ["first_name", "last_name", "email"],
        numbers,
        [["Ada"] * len(numbers), ["Lovelace"] * len(numbers), [f"ada{n}@example.com" for n in numbers[:-1]] + ["nope"]],
    )


async def test_records_and_results_agents_import_and_finish_a_job(
    runtime: tuple[Runtime, Sent], pool: asyncpg.Pool
) -> None:
    from streams.agents.import_records import apply_import_records
    from streams.agents.import_results import aggregate_import_results

    rt, sent = runtime
    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    await _running_import(pool, company, job_id)

    async with apply_import_records.test_context() as agent:
        await agent.put(_batch(company, job_id, [1, 2, 3]), key=b"k", partition=0)
        await eventually(lambda: sent.results, 20, "the batch's result sent")
        await agent.put(_batch(company, job_id, [1, 2, 3]), key=b"k", partition=0)  # delivered again: no effect
        results = await eventually(lambda: len(sent.results) == 2 and sent.results, 20, "the second result sent")
    assert [r["kind"] for r in results] == ["batch", "batch"]
    assert results[0]["outcomes"] == ["created", "created", "failed"]
    assert "email" in results[0]["errors"]["3"]
    assert results[1]["replayed"] == [1, 2, 3]  # from the ledger, not applied again
    async with pool.acquire() as conn:
        leads = await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", uuid.UUID(company))
    assert leads == 2

    split_done = events.import_result(job_id, company, "split_done", at=0, total=3)
    async with aggregate_import_results.test_context() as agent:
        for event in (results[0], split_done, results[1]):
            await agent.put(event, key=job_id.encode(), partition=0)
        final = await eventually(
            lambda: [s for s in sent.statuses if s["job_status"] == "completed"], 20, "the completed status sent"
        )
    assert (final[-1]["processed_records"], final[-1]["created_records"], final[-1]["error_records"]) == (3, 2, 1)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(job_id))
    assert (row["job_status"], row["success_records"], row["error_records"]) == ("completed", 2, 1)


async def test_job_requests_agent_admits_and_runs_a_job_and_survives_malformed_requests(
    runtime: tuple[Runtime, Sent], pool: asyncpg.Pool
) -> None:
    from streams.agents.job_requests import handle_job_requests
    from streams.codecs import Undecodable

    rt, sent = runtime
    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    job: dict[str, Any] = {
        "id": job_id,
        "company_id": company,
        "job_type": "export",
        "target_model": "lead",
        "file_format": "csv",
        "file_path": "",
        "duplicate_handling": "skip",
        "options": {},
    }
    async with handle_job_requests.test_context() as agent:
        await agent.put(Undecodable("job_request", "not Avro"), key=b"x", partition=0)
        await agent.put({"job_id": "not a uuid"}, key=b"y", partition=0)  # a request it cannot handle
        await agent.put(events.job_request(job, requested_at=0), key=job_id.encode(), partition=0)

        async def recorded() -> Any:
            async with pool.acquire() as conn:
                return await conn.fetchrow("SELECT * FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(job_id))

        row = await eventually(recorded, 20, "the requested job recorded")
        # Recorded, then admitted by the pass the request triggers: its start request goes out.
        start = await eventually(
            lambda: [r for r in sent.requests if r["job_id"] == job_id and r.get("admitted")], 20, "a start request"
        )
        assert (row["job_status"], row["job_type"], str(row["company_id"])) == ("running", "export", company)
        await agent.put(start[0], key=job_id.encode(), partition=0)
        done = await eventually(
            lambda: [s for s in sent.statuses if s["job_id"] == job_id and s["job_status"] == "completed"],
            20,
            "the export completed",
        )
    assert done[-1]["total_records"] == 0  # a new company has no leads


async def test_progress_left_unreported_by_a_burst_of_results_is_written_when_due(
    runtime: tuple[Runtime, Sent], pool: asyncpg.Pool
) -> None:
    """Results arriving within the status interval after a report are only counted; with none after them, the
    timer writes them. Without it the row stayed behind for good, and a split waiting for its processed rows
    waited forever."""
    import asyncio

    from streams.agents.import_results import aggregate_import_results, report_trailing_progress

    rt, sent = runtime
    company, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    await _running_import(pool, company, job_id)

    def batch(first: int) -> events.ImportResult:
        numbers = range(first, first + 500)
        return events.import_result(job_id, company, "batch", at=0, numbers=numbers, outcomes=["created"] * 500)

    async def processed() -> int:
        async with pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT processed_records FROM crm_import_export_jobs WHERE id = $1", uuid.UUID(job_id)
                )
            )

    async with aggregate_import_results.test_context() as agent:
        await agent.put(batch(1), key=job_id.encode(), partition=0)
        await eventually(lambda: sent.statuses, 20, "the first result's status sent")
        await agent.put(batch(501), key=job_id.encode(), partition=0)  # within the interval: counted, not written
        await agent.put(batch(1001), key=job_id.encode(), partition=0)
        await report_trailing_progress()  # not due yet: nothing written
        assert await processed() == 500
        await asyncio.sleep(rt.settings.status_interval_s)
        await report_trailing_progress()
        assert await processed() == 1500
        assert sent.statuses[-1]["processed_records"] == 1500
        statuses = len(sent.statuses)
        await report_trailing_progress()  # reported once, not at every tick
        assert len(sent.statuses) == statuses
