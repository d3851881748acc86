"""A worker's own HTTP server and JSON logs (issue 19 item 2), on the real broker and database.

One worker of its own deployment (topic prefix and consumer group), started with CRMIO_WORKER_HTTP_PORT=0 (a free
port, which it logs) and CRMIO_LOG_FORMAT=json: /healthz, /readyz and /metrics are scraped while it imports, and
its log is read back as JSON lines carrying the job, company and partition.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from services.core.kafka_io import ensure_topics, producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from services.jobs import repository as jobs
from tests.datagen import expected, make_leads, write_csv
from tests.integration.conftest import RUN, start_worker, stop_worker, wait_for_job

pytestmark = pytest.mark.integration

ROWS = 60_000


@pytest.fixture(scope="module")
def obs_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"topic_prefix": f"o{RUN}", "app_id": f"crmio-obs-{RUN}"})


@pytest.fixture(scope="module")
def obs_worker(
    obs_settings: Settings, pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The worker's base URL (read from its log) and its log file."""
    asyncio.run(ensure_topics(obs_settings))
    log_path = tmp_path_factory.mktemp("obs-worker") / "worker.log"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRMIO_WORKER_HTTP_PORT", "0")
        env.setenv("CRMIO_LOG_FORMAT", "json")
        proc = start_worker(obs_settings, log_path)
    try:
        url = None
        for line in log_path.read_text().splitlines():
            if line.startswith("{") and "worker HTTP server on " in line:
                url = orjson.loads(line)["message"].split(" on ", 1)[1].split()[0]
        assert url, f"the worker did not log its HTTP address:\n{log_path.read_text()[-3000:]}"
        yield url, log_path
    finally:
        stop_worker(proc)


@pytest_asyncio.fixture
async def http(obs_worker: tuple[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=obs_worker[0], timeout=10) as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def rows_applied(page: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(v for (name, _), v in page.items() if name == "crmio_worker_rows_applied_total")


async def test_a_worker_serves_health_readiness_and_metrics_during_an_import(
    obs_settings: Settings, pool: asyncpg.Pool, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    # Alone in its group, the worker holds every partition of its topics.
    assert ready.json()["assigned_partitions"] >= obs_settings.record_partitions, ready.json()
    before = samples((await http.get("/metrics")).text)

    lf = make_leads(ROWS, seed=19)
    company = str(uuid.uuid4())
    async with producer(obs_settings) as kafka:
        job = await submit_import(
            obs_settings, pool, kafka, company_id=company, path=write_csv(lf, tmp_path / "leads.csv"), model="lead"
        )
    # Scraped while the job runs: the counter moves between scrapes, the worker stays healthy and ready.
    seen_running: list[float] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = await http.get("/metrics")
        async with pool.acquire() as conn:
            status = await jobs.job_status(conn, company, job["id"])
        if status == "running":
            seen_running.append(rows_applied(samples(page.text)))
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
        if status in jobs.FINAL_STATUSES:
            break
        await asyncio.sleep(0.1)
    done = await wait_for_job(pool, company, job["id"])
    assert done["job_status"] == "completed", done
    assert len(set(seen_running)) >= 2 and seen_running == sorted(seen_running), seen_running

    after = samples((await http.get("/metrics")).text)
    _, counts = expected(lf, "skip")

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    for outcome in ("created", "skipped", "failed"):
        assert moved("crmio_worker_rows_applied_total", outcome=outcome) == counts[outcome], outcome
    batches = moved("crmio_worker_batches_total")
    assert batches >= ROWS / (obs_settings.rows_per_event * obs_settings.events_per_batch)
    assert moved("crmio_worker_apply_seconds_count") == batches
    assert moved("crmio_worker_apply_seconds_sum") > 0
    assert after[("crmio_worker_jobs_running", ())] == 0
    assert after[("crmio_worker_rebalances_total", ())] >= 1
    records = obs_settings.topic("import.records")
    lags = {labels: v for (name, labels), v in after.items() if name == "crmio_worker_consumer_lag"}
    assert {dict(labels)["partition"] for labels in lags if dict(labels)["topic"] == records} == {
        str(p) for p in range(obs_settings.record_partitions)
    }


async def test_the_worker_logs_json_lines_with_job_company_and_partition(
    obs_settings: Settings, obs_worker: tuple[str, Path], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    async with producer(obs_settings) as kafka:
        job = await submit_import(
            obs_settings,
            pool,
            kafka,
            company_id=company,
            path=write_csv(make_leads(500), tmp_path / "l.csv"),
            model="lead",
        )
    assert (await wait_for_job(pool, company, job["id"]))["job_status"] == "completed"

    lines = [line for line in obs_worker[1].read_text().splitlines() if line.strip()]
    # Everything logged is JSON; only Faust's start-up banner (printed, not logged) is plain text.
    logged = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert len(logged) > 10 and all({"time", "level", "logger", "message"} <= set(d) for d in logged)
    assert any("[^Worker]: Ready" in d["message"] for d in logged)  # Faust's own lines go through it too
    mine = [d for d in logged if d.get("job_id") == job["id"]]
    assert mine and all(d["company_id"] == company for d in mine), mine
    running = [d for d in mine if d["message"].startswith("running import job")]
    assert running and isinstance(running[0]["partition"], int), mine
