"""The compiled binary COPY writer (native/src/copy.rs) against asyncpg's own encoding: the same rows stored both
ways must leave PostgreSQL holding the same values, and rows it declines must reach asyncpg unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.apply.batch import new_id
from services.cleansing.cleaning import PartialDate
from services.core import db
from services.core.db import MappedRows, _copy_encoder, copy_rows, set_tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEAD_COLUMNS = (
    "id",
    "company_id",
    "match_key",
    "date_precision",
    "first_name",
    "annual_revenue",
    "number_of_employees",
    "converted_date",
    "description",
    "custom",
)
LEDGER_COLUMNS = ("job_id", "record_number", "company_id", "outcome", "record_id", "before_image", "after_version")

AMOUNTS = [
    "0",
    "-0.00",
    "0.005",
    "12345.67",
    "-12345.675",
    "1E+3",
    "1.5E+10",
    "1E-9",
    "9999999999999999.99",
    "0.0001",
    "100000000",
    "-0.5",
    "7.10",
]
DATES = [
    dt.date(2024, 3, 1),
    dt.date(2000, 1, 1),
    dt.date(1999, 12, 31),
    dt.date(2000, 2, 29),
    dt.date(1900, 2, 28),
    dt.date(1, 1, 2),
    dt.date.max,
    dt.date.min,
    PartialDate(1990, 1, 1, "year"),
    dt.datetime(2023, 5, 6, 23, 59),
]
TEXTS = ["Anna", "Zoë Ñúñez", "李小龙", "🙂 emoji", 'quote " and \\ backslash', "tab\tnew\nline", ""]


def lead_rows(company: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(60):
        rows.append(
            (
                new_id() if i % 2 else uuid.uuid4(),  # asyncpg's UUID and the standard library's
                company,
                f"email:u{i}@example.com" if i % 7 else None,
                {"converted_date": "year"} if i % 5 == 0 else None,
                TEXTS[i % len(TEXTS)] if i % 11 else None,
                Decimal(AMOUNTS[i % len(AMOUNTS)]) if i % 13 else None,
                [0, -1, 250, 2**62, True][i % 5] if i % 17 else None,
                DATES[i % len(DATES)] if i % 19 else None,
                "x" * (i * 50),
                {"tier": "gold", "score": i, "since": "2024-01-01", "note": TEXTS[i % len(TEXTS)]} if i % 3 else None,
            )
        )
    return rows


def ledger_rows(company: uuid.UUID) -> list[tuple[Any, ...]]:
    job = uuid.uuid4()
    before = {"first_name": "Anna", "annual_revenue": Decimal("12.50"), "converted_date": dt.date(2024, 1, 2)}
    return [
        (job, n, company, ["created", "updated", "failed"][n % 3], new_id() if n % 3 != 2 else None, before, n)
        for n in range(1, 40)
    ]


@pytest_asyncio.fixture(loop_scope="session")
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as c:
        tx = c.transaction()
        await tx.start()
        try:
            yield c
        finally:
            await tx.rollback()


async def _stored_both_ways(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: list) -> list:
    encoder = await _copy_encoder(conn, table, columns)
    assert encoder is not None
    payload = encoder.encode(rows)
    assert payload is not None, "every value here is one the compiled writer takes"
    for name in ("compiled", "asyncpg"):
        await conn.execute(f"CREATE TEMP TABLE {name} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    await conn.copy_to_table("compiled", source=memoryview(payload), columns=list(columns), format="binary")
    await conn.copy_records_to_table("asyncpg", columns=list(columns), records=rows)
    cols = ", ".join(columns)
    differ = await conn.fetch(
        f"(SELECT {cols} FROM compiled EXCEPT ALL SELECT {cols} FROM asyncpg) "
        f"UNION ALL (SELECT {cols} FROM asyncpg EXCEPT ALL SELECT {cols} FROM compiled)"
    )
    assert differ == []
    return await conn.fetch(f"SELECT {cols} FROM compiled")


async def test_leads_are_stored_as_asyncpg_stores_them(conn: asyncpg.Connection) -> None:
    company = uuid.uuid4()
    rows = lead_rows(company)
    stored = await _stored_both_ways(conn, "crm_leads", LEAD_COLUMNS, rows)
    assert len(stored) == len(rows)
    by_id = {r["id"]: r for r in stored}
    # Not only equal to asyncpg's: the values themselves (numeric(18,2) rounds as PostgreSQL rounds).
    for row in rows:
        got = by_id[row[0]]
        assert got["company_id"] == company
        if row[5] is not None:
            assert got["annual_revenue"] == row[5].quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        if row[7] is not None and row[7] not in (dt.date.max, dt.date.min):
            want = row[7].date() if isinstance(row[7], dt.datetime) else row[7]
            assert got["converted_date"] == dt.date(want.year, want.month, want.day)
        assert got["description"] == row[8]
        assert got["custom"] == row[9]
    infinite = await conn.fetch("SELECT converted_date::text AS d FROM compiled WHERE converted_date IS NOT NULL")
    assert {"infinity", "-infinity"} <= {r["d"] for r in infinite}


async def test_ledger_rows_are_stored_as_asyncpg_stores_them(conn: asyncpg.Connection) -> None:
    stored = await _stored_both_ways(conn, "crm_import_ledger", LEDGER_COLUMNS, ledger_rows(uuid.uuid4()))
    assert stored[0]["before_image"] == {
        "first_name": "Anna",
        "annual_revenue": "12.50",
        "converted_date": "2024-01-02",
    }


@pytest.mark.parametrize("held", ["tuples", "dicts"])
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("id", "0191d2a4-0000-7000-8000-000000000001"),  # a uuid as text: asyncpg parses it
        ("annual_revenue", 12.5),  # a float for numeric: asyncpg converts it
        ("annual_revenue", Decimal("NaN")),  # numeric NaN: asyncpg writes it
        ("number_of_employees", 3.9),  # a float for bigint: asyncpg truncates it
        ("first_name", 42),  # a number for text: asyncpg refuses it
        ("number_of_employees", 2**70),  # too big for bigint: asyncpg refuses it
    ],
)
async def test_values_it_declines_reach_asyncpg_as_they_are(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, column: str, value: Any, held: str
) -> None:
    company = uuid.uuid4()
    await set_tenant(conn, company)
    row = dict(zip(LEAD_COLUMNS, lead_rows(company)[1]))
    row[column] = value
    names = list(LEAD_COLUMNS[2:])
    records: list[tuple[Any, ...]] | MappedRows = [tuple(row.values())]
    if held == "dicts":  # as a plan's records reach copy_rows
        records = MappedRows([row["id"]], (company,), [{n: row[n] for n in names}], names)
    encoder = await _copy_encoder(conn, "crm_leads", LEAD_COLUMNS)
    assert encoder is not None and encoder.encode([tuple(row.values())]) is None

    async def outcome() -> tuple[str, Any]:
        try:
            async with conn.transaction():  # a savepoint: a refused COPY leaves the test's transaction usable
                await copy_rows(conn, "crm_leads", columns=LEAD_COLUMNS, records=records)
                stored = await conn.fetchval(f"SELECT {column} FROM crm_leads WHERE company_id = $1", company)
                await conn.execute("DELETE FROM crm_leads WHERE company_id = $1", company)
                return ("stored", repr(stored))  # repr: NaN equals itself only so
        except Exception as exc:  # noqa: BLE001 - what asyncpg or PostgreSQL says is the outcome compared
            return ("refused", f"{type(exc).__name__}: {exc}")

    declined = await outcome()
    monkeypatch.setitem(db._ENCODERS, ("crm_leads", LEAD_COLUMNS), None)  # asyncpg encodes every row
    assert declined == await outcome()
