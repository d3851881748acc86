"""One broker of a 3-broker cluster SIGKILLed during a 200k-row import, in each duplicate mode (issue 16 item 2).

The test's own cluster (tests/integration/kafka_cluster.py, plaintext: the CPU goes to the import) on ports
19492-19497, replication 3 and min.insync.replicas 2, started once for the three modes; PostgreSQL is the
session's. Each mode starts with every replica in sync; once a quarter of the rows are applied a broker is
killed (another one in each mode) and stays down until the job has ended; the import goes on on the other two.
The checks are the fault suite's (nothing lost, nothing twice, exact counters, one error log per invalid row,
before-images), and no stall lasts longer than the leader election: the time from the kill until every
partition of crmio's topics, Faust's own and the group's offsets has a leader again, plus the time the worker
takes to go on (a rebalance if the group's coordinator was on the dead broker), bounded here by STALL_SLACK_S.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.core.kafka_io import ensure_topics, producer
from services.core.kafka_security import client_options
from services.core.settings import Settings
from services.ingest.submit import submit_import
from stack import cluster
from tests.datagen import LeadFile, expected
from tests.integration.faults.conftest import ROWS, START_AT, Workers
from tests.integration.faults.test_faults import (
    _applied,
    _fresh_pool,
    _gaps_read_again,
    _matched,
    _record,
    _Sampler,
    _wait_applied,
    _wait_final,
)
from tests.integration.kafka_cluster import own_cluster
from tests.integration.test_import_pipeline import seed, stored_state

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PORT = 19492
FAULT = "one broker of three SIGKILLed (cluster)"
STALL_SLACK_S = 6.0
MODES = ["skip", "update", "create_new"]


@pytest.fixture(scope="module")
def three(settings: Settings) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:8]
    with own_cluster(settings, PORT, secure=False) as cluster_settings:
        yield cluster_settings.model_copy(update={"topic_prefix": f"b{run}", "app_id": f"crmio-brokers-{run}"})


@pytest.fixture
def cluster_workers(three: Settings, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(three, tmp_path)
    yield w
    w.stop_all()


async def _topics(admin: AIOKafkaAdminClient, settings: Settings) -> list[str]:
    """crmio's topics, Faust's own (the progress table's changelog, its assignor's) and the group's offsets."""
    names = await admin.list_topics()
    ours = (settings.topic_prefix, settings.app_id)
    return sorted(n for n in names if n.startswith(ours) or n == "__consumer_offsets")


async def _until(
    settings: Settings, ready: Callable[[list[dict[str, Any]]], bool], what: str, timeout_s: float
) -> float:
    """Seconds until ``ready`` holds for the partitions of every topic of the run (polled every 0.1 s)."""
    started = time.monotonic()
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=3000)
    await admin.start()
    try:
        while True:
            try:
                described = await admin.describe_topics(await _topics(admin, settings))
                partitions = [p for t in described for p in t["partitions"]]
                if partitions and ready(partitions):
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001 - the dead broker's connection fails while metadata moves
                pass
            assert time.monotonic() - started < timeout_s, f"{what} within {timeout_s} s"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _leaders_back(settings: Settings, dead: int, timeout_s: float = 60) -> float:
    """Seconds until no partition is led by the dead node or leaderless."""
    return await _until(
        settings,
        lambda parts: all(p["leader"] not in (dead, -1) for p in parts),
        f"partitions led by node {dead} had no new leader",
        timeout_s,
    )


async def _fully_replicated(settings: Settings, timeout_s: float = 120) -> None:
    """Every partition's replicas are all in sync: a node started again has caught up, so the next kill
    leaves two in-sync replicas (min.insync.replicas) and not one."""
    await _until(
        settings,
        lambda parts: all(len(p["isr"]) == len(p["replicas"]) for p in parts),
        "the cluster's replicas were not all in sync",
        timeout_s,
    )


@pytest.mark.parametrize("mode", MODES)
async def test_import_survives_a_broker_of_three(
    mode: str, three: Settings, cluster_workers: Workers, lead_file: LeadFile, lead_csv: Path
) -> None:
    settings, workers = three, cluster_workers
    await ensure_topics(settings)
    company = str(uuid.uuid4())
    dead = MODES.index(mode) + 1  # another node each time
    pool = await _fresh_pool(settings)
    result: dict[str, Any] = {
        "fault": FAULT,
        "mode": mode,
        "rows": ROWS,
        "outcome": "FAILED",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    killed = False
    try:
        await seed(pool, company, lead_file)
        want_state, want = expected(lead_file, mode)
        await _fully_replicated(settings)
        await workers.start_async()
        started = time.monotonic()
        async with producer(settings) as prod:
            job = await submit_import(
                settings, pool, prod, company_id=company, path=lead_csv, model="lead", duplicates=mode
            )
        await _wait_applied(settings, job["id"], int(ROWS * START_AT))
        before = await _applied(settings, job["id"])
        sampler = _Sampler(settings, job["id"])
        await asyncio.to_thread(cluster.node_stop, settings, dead, kill=True)
        killed = True
        election_s = await _leaders_back(settings, dead)
        row = await _wait_final(settings, company, job["id"], workers=workers)
        stall_s = await sampler.stop()
        result.update(
            fault_s=round(election_s, 1),
            longest_stall_s=round(stall_s, 1),
            total_s=round(time.monotonic() - started, 1),
            applied_at_fault=before,
            gaps_read_again=_gaps_read_again(workers),
            leader_election_s=round(election_s, 1),
        )
        await asyncio.to_thread(cluster.node_start, settings, dead)
        killed = False

        assert row["job_status"] == "completed", dict(row)
        assert (row["total_records"], row["processed_records"]) == (ROWS, ROWS)
        assert row["error_records"] == want["failed"] == len(lead_file.invalid)
        assert (row["created_records"], row["updated_records"], row["skipped_records"]) == (
            want["created"],
            want["updated"],
            want["skipped"],
        )
        assert await stored_state(pool, company) == want_state  # none lost, none twice
        async with pool.acquire() as conn:
            errors = await conn.fetch(
                "SELECT record_number FROM crm_import_export_logs WHERE job_id = $1 AND log_level = 'error'",
                uuid.UUID(job["id"]),
            )
            ledger = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT record_number) AS distinct_n, "
                "count(*) FILTER (WHERE outcome = 'updated' AND before_image IS NULL) AS missing_images, "
                "count(*) FILTER (WHERE outcome = 'updated' AND before_image->>'title' LIKE 'Stored title %') "
                "AS stored_images FROM crm_import_ledger WHERE job_id = $1",
                uuid.UUID(job["id"]),
            )
        assert sorted(r["record_number"] for r in errors) == sorted(lead_file.invalid)
        assert ledger["n"] == ledger["distinct_n"] == ROWS
        assert ledger["missing_images"] == 0
        if mode == "update":
            assert ledger["stored_images"] >= len(_matched(lead_file))
        assert stall_s <= election_s + STALL_SLACK_S, (
            f"the import stalled {stall_s:.1f} s; the leaders were back {election_s:.1f} s after the kill"
        )
        result["outcome"] = "ok"
    finally:
        if killed:  # the next mode has three brokers again, whatever became of this one
            await asyncio.to_thread(cluster.node_start, settings, dead)
        result.setdefault("fault_s", None)
        _record(result)
        await pool.close()
