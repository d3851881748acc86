"""A 20k-row file of contacts and their companies (issue 18) survives its worker being killed mid-job, in each
duplicate mode: every account created once, every contact written once and linked to its account, one ledger
row per row, and the ledger names each account the job created once (what its rollback removes)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.core.kafka_io import producer
from services.core.settings import Settings
from services.ingest.submit import submit_import
from tests.integration.faults.conftest import START_AT, Workers
from tests.integration.faults.test_faults import (
    _applied,
    _fresh_pool,
    _record,
    _Sampler,
    _wait_applied,
    _wait_final,
    kill_worker,
)
from tests.integration.test_account_links import (
    BEFORE,
    COMPANIES,
    EXISTING,
    LONELY,
    MAPPING,
    ROWS,
    contacts_csv,
    domain_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def _seed(pool: Any, company: str) -> None:
    """The stored accounts (found by domain) and contacts (the file's first rows), written directly."""
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_accounts (id, company_id, match_key, name, website) VALUES ($1, $2, $3, $4, $5)",
            [
                (uuid.uuid4(), company, f"domain:co{j}.example", f"Stored Account {j}", f"https://co{j}.example")
                for j in range(EXISTING)
            ],
        )
        await conn.executemany(
            "INSERT INTO crm_contacts (id, company_id, match_key, email, first_name, last_name) "
            "VALUES ($1, $2, $3, $4, 'Stored', 'Contact')",
            [(uuid.uuid4(), company, f"email:c{i}@people.example", f"c{i}@people.example") for i in range(BEFORE)],
        )


@pytest.mark.parametrize("mode", ["skip", "update", "create_new"])
async def test_contacts_with_their_accounts_survive_a_killed_worker(
    mode: str, fault_topics: Settings, workers: Workers, tmp_path: Path
) -> None:
    settings = fault_topics
    company = str(uuid.uuid4())
    path = tmp_path / "contacts.csv"
    path.write_bytes(contacts_csv(range(ROWS)))
    pool = await _fresh_pool(settings)
    result: dict[str, Any] = {
        "fault": "worker SIGKILL, 20k contacts + their accounts",
        "mode": mode,
        "rows": ROWS,
        "outcome": "FAILED",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        await _seed(pool, company)
        await workers.start_async()
        started = time.monotonic()
        async with producer(settings) as prod:
            job = await submit_import(
                settings,
                pool,
                prod,
                company_id=company,
                path=path,
                model="contact",
                mapping=MAPPING,
                duplicates=mode,
                options={"account_match": "domain"},
            )
        await _wait_applied(settings, job["id"], int(ROWS * START_AT))
        result["applied_at_fault"] = await _applied(settings, job["id"])
        sampler = _Sampler(settings, job["id"])
        struck = time.monotonic()
        await kill_worker(settings, workers)
        result["fault_s"] = round(time.monotonic() - struck, 1)
        row = await _wait_final(settings, company, job["id"], workers=workers)
        result.update(longest_stall_s=round(await sampler.stop(), 1), total_s=round(time.monotonic() - started, 1))

        written = ROWS - BEFORE if mode == "skip" else ROWS
        assert row["job_status"] == "completed", dict(row)
        assert (row["processed_records"], row["error_records"]) == (ROWS, 0)
        assert row["created_records"] + row["updated_records"] == written
        async with pool.acquire() as conn:
            accounts = await conn.fetch(
                "SELECT id, match_key FROM crm_accounts WHERE company_id = $1", uuid.UUID(company)
            )
            people = await conn.fetch(
                "SELECT email, account_id FROM crm_contacts WHERE company_id = $1", uuid.UUID(company)
            )
            ledger = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT record_number) AS distinct_n, count(linked_created) AS created, "
                "count(DISTINCT linked_created) AS distinct_created FROM crm_import_ledger WHERE job_id = $1",
                uuid.UUID(job["id"]),
            )
        keys = [a["match_key"] for a in accounts]
        expected = {f"domain:co{j}.example" for j in range(COMPANIES)} | (
            {f"domain:{LONELY}"} if mode != "skip" else set()
        )
        assert len(keys) == len(set(keys)) and set(keys) == expected  # each account once
        assert ledger["n"] == ledger["distinct_n"] == ROWS
        assert ledger["created"] == ledger["distinct_created"] == len(expected) - EXISTING
        key_of = {a["id"]: a["match_key"] for a in accounts}
        assert len(people) == (ROWS + BEFORE if mode == "create_new" else ROWS)  # each contact once
        linked = [p for p in people if p["account_id"] is not None]
        assert len(linked) == written
        for p in linked:
            i = int(p["email"][1 : p["email"].index("@")])
            assert key_of[p["account_id"]] == f"domain:{domain_of(i)}"
        result["outcome"] = "ok"
    finally:
        result.setdefault("fault_s", None)
        _record(result)
        await pool.close()
