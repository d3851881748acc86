"""Integration fixtures: the real Kafka broker and PostgreSQL (started by `crmio stack up`), migrations,
unique topics per session, and a real `crmio worker` subprocess.

A missing service FAILS the test with a message saying how to start it; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.core.db import connect_pool, migrate
from services.core.kafka_io import ensure_topics, producer
from services.core.settings import PROJECT_ROOT, Settings
from services.ingest.submit import submit_import
from services.jobs import repository as jobs

RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "topic_prefix": f"t{RUN}",
            "app_id": f"crmio-test-{RUN}",
            "storage_dir": tmp_path_factory.mktemp("storage"),
            "schedule_min_interval_s": 1.0,  # the schedule tests fire every 2 s
        }
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CRMIO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CRMIO_DATABASE_URL": settings.dsn(),
            "CRMIO_SYSTEM_DATABASE_URL": settings.system_dsn(),
            "CRMIO_TOPIC_PREFIX": settings.topic_prefix,
            "CRMIO_SCHEDULE_MIN_INTERVAL_S": str(settings.schedule_min_interval_s),
            "CRMIO_APP_ID": settings.app_id,
            "CRMIO_STORAGE_DIR": str(settings.storage_dir),
            "CRMIO_STATE_DIR": str(settings.state_dir),
            "CRMIO_WORKER_SESSION_TIMEOUT_S": str(settings.worker_session_timeout_s),
            "PYTHONUNBUFFERED": "1",
            "CRMIO_STORAGE_BACKEND": settings.storage_backend,
            "CRMIO_SCRATCH_DIR": str(settings.scratch_dir),
        }
    )
    env.update(_kafka_env(settings))
    if settings.storage_backend == "s3":  # tests/integration/object_storage.py
        secret = settings.s3_secret_access_key
        env.update(
            {
                "CRMIO_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
                "CRMIO_S3_BUCKET": settings.s3_bucket,
                "CRMIO_S3_REGION": settings.s3_region,
                "CRMIO_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
                "CRMIO_S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
                "CRMIO_S3_PATH_STYLE": str(settings.s3_path_style).lower(),
                "CRMIO_S3_PREFIX": settings.s3_prefix,
            }
        )
    if settings.schema_registry_url:  # tests/integration/test_schema_registry.py
        env["CRMIO_SCHEMA_REGISTRY_URL"] = settings.schema_registry_url
    return env


def _kafka_env(settings: Settings) -> dict[str, str]:
    """How the worker reaches Kafka: a test's own cluster (tests/integration/kafka_cluster.py) may be secure."""
    env = {
        "CRMIO_KAFKA_REPLICATION_FACTOR": str(settings.kafka_replication_factor),
        "CRMIO_KAFKA_MIN_INSYNC_REPLICAS": str(settings.kafka_min_insync_replicas),
        "CRMIO_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "CRMIO_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
    }
    if settings.kafka_sasl_username and settings.kafka_sasl_password:
        env["CRMIO_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
        env["CRMIO_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile:
        env["CRMIO_KAFKA_SSL_CAFILE"] = str(settings.kafka_ssl_cafile)
    return env


async def _check_kafka(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 15)
        await asyncio.wait_for(admin.describe_cluster(), 15)
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
        pytest.fail(
            f"Kafka is not reachable at {settings.kafka_bootstrap} ({type(exc).__name__}: {exc}). "
            "Start the stack with `make stack-up` (or `.venv/bin/crmio stack up`) before the integration tests.",
            pytrace=False,
        )
    finally:
        await admin.close()


@pytest_asyncio.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    await _check_kafka(settings)
    try:
        # The owner's pool: tests check state across companies; the worker, API and CLI processes
        # they start use the service role, bound by row-level security.
        p = await connect_pool(settings.system_dsn(), max_size=4, timeout_s=10)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"PostgreSQL is not reachable at {settings.system_dsn().rsplit('@', 1)[-1]} ({exc}). "
            "Start the stack with `make stack-up` (or `.venv/bin/crmio stack up`) before the integration tests.",
            pytrace=False,
        )
    await migrate(p)
    await ensure_topics(settings)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def worker(
    settings: Settings, pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """One real worker for the session; its log is printed when a test fails to start it."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(settings, log_path)
    yield proc
    stop_worker(proc)


_WORKER_LOGS: list[Path] = []


def _worker_warnings(lines: int = 25) -> str:
    """The last warnings and errors of every worker this session started: what a CI log needs to say
    why a job did not finish."""
    out = []
    for path in dict.fromkeys(_WORKER_LOGS[:1] + _WORKER_LOGS[-3:]):  # the session's worker and the latest
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        picked = [line[:300] for line in text if "[WARNING]" in line or "[ERROR]" in line][-lines:]
        out.append(f"--- {path} (last {len(picked)} warnings/errors)\n" + "\n".join(picked))
    return "\n".join(out)


def start_worker(settings: Settings, log_path: Path, timeout_s: float = 90) -> subprocess.Popen[bytes]:
    _WORKER_LOGS.append(log_path)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "worker"],
            cwd=PROJECT_ROOT,
            env=worker_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "Ready" in text and "[^Worker]" in text:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    stop_worker(proc)
    pytest.fail(
        f"the worker did not become ready; its log:\n{log_path.read_text(errors='replace')[-5000:]}", pytrace=False
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest_asyncio.fixture(scope="session")
async def kafka_producer(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Any]:
    async with producer(settings) as p:
        yield p


async def wait_for_job(pool: asyncpg.Pool, company: str, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    """Poll the job row until it is final (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with pool.acquire() as conn:
            row = await jobs.get_job(conn, company, job_id)
        if row is not None and row["job_status"] in jobs.FINAL_STATUSES:
            return jobs.job_document(row)
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"job {job_id} did not finish within {timeout_s} s; last state: {dict(row) if row else None}\n"
        f"{_worker_warnings()}"
    )


class ProgressChangelog:
    """The aggregator's progress table (streams/tables.py) as Faust records it: the table's changelog
    topic, read from the moment this is entered. The aggregator stores a job's progress after every
    result event it takes in, so each event it has folded is one record here: a test waits for the
    aggregator to have folded given results instead of sleeping."""

    def __init__(self, settings: Settings) -> None:
        self.topic = f"{settings.app_id}-job-progress-changelog"
        self.partitions = [TopicPartition(self.topic, p) for p in range(settings.job_partitions)]
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
        self.seen: dict[str, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> ProgressChangelog:
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        for tp, end in (await self.consumer.end_offsets(self.partitions)).items():
            self.consumer.seek(tp, end)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def values(self, job_id: str) -> list[dict[str, Any]]:
        """The job's progress values recorded since entering, oldest first (what has arrived so far)."""
        for records in (await self.consumer.getmany(timeout_ms=200)).values():
            for rec in records:
                if rec.key is not None and rec.value is not None:
                    self.seen.setdefault(orjson.loads(rec.key), []).append(orjson.loads(rec.value))
        return self.seen.get(job_id, [])

    async def latest_if(self, job_id: str, **want: Any) -> dict[str, Any] | None:
        """The job's latest progress value if it has ``want``'s values (else None): a check for ``eventually``."""
        values = await self.values(job_id)
        latest = values[-1] if values else None
        return latest if latest is not None and all(latest[k] == v for k, v in want.items()) else None

    async def count_if_at_least(self, job_id: str, n: int) -> int:
        """How many progress values the job has, once there are ``n`` (else 0): a check for ``eventually``."""
        have = len(await self.values(job_id))
        return have if have >= n else 0


@pytest_asyncio.fixture
async def progress_changelog(settings: Settings, worker: Any) -> AsyncIterator[ProgressChangelog]:
    """The aggregator's progress changelog from before the test's first event (the worker declares the topic)."""
    async with ProgressChangelog(settings) as changelog:
        yield changelog


@pytest.fixture
def run_import(settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any) -> Any:
    async def go(path: Path, *, company: str, model: str = "lead", wait: bool = True, **kwargs: Any) -> dict[str, Any]:
        job = await submit_import(settings, pool, kafka_producer, company_id=company, path=path, model=model, **kwargs)
        return await wait_for_job(pool, company, job["id"]) if wait else job

    return go
