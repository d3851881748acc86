"""Exports end to end on the real broker, database and worker: every format filtered and sorted, the
round trip export -> import into a new company, company isolation, refusals and the status events."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import openpyxl
import orjson
import pypdf
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import avro
from schemas.models import get_model
from services.cleansing.cleaning import match_key
from services.core import storage
from services.core.settings import Settings
from services.exports import ExportError, ExportTooLarge, submit_export
from tests.datagen import make_leads, write_csv
from tests.integration.conftest import wait_for_job

pytestmark = pytest.mark.integration

LEAD = get_model("lead")
ROWS = 3_000
FIELDS = [
    "email",
    "last_name",
    "first_name",
    "status",
    "annual_revenue",
    "number_of_employees",
    "converted_date",
    "description",
]
FILTERS = [
    {"field": "status", "op": "in", "value": ["new", "qualified"]},
    {"field": "email", "op": "contains", "value": "@EXAMPLE.com"},
]
SORT = ["-annual_revenue", "email"]


async def company_with_leads(run_import: Any, tmp_path: Path, seed: int) -> str:
    """A new company holding an imported generated file plus rows with dates, integers and awkward text."""
    company = str(uuid.uuid4())
    job = await run_import(write_csv(make_leads(ROWS, seed=seed), tmp_path / f"leads{seed}.csv"), company=company)
    assert job["job_status"] == "completed", job
    return company


async def add_typed_rows(pool: asyncpg.Pool, company: str) -> None:
    rows = [
        (
            "Zoë",
            "Ünal",
            "zoe@example.com",
            "new",
            Decimal("9999999999999999.99"),
            42,
            dt.date(2024, 2, 29),
            'Line one\nline "two", with comma',
        ),
        ("Sam", "O'Neil", "sam@example.com", "qualified", Decimal("-12.50"), 0, dt.date(1999, 12, 31), "<b>bold</b>"),
    ]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, match_key, first_name, last_name, email, status, annual_revenue, "
            "number_of_employees, converted_date, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [(uuid.uuid4(), company, match_key(LEAD, {"email": r[2]}), *r) for r in rows],
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return format(value, "f") if isinstance(value, Decimal) else str(value)


async def expected_rows(pool: asyncpg.Pool, company: str) -> list[tuple[str | None, ...]]:
    """The oracle: all of the company's rows, filtered and sorted here in Python (not by the export's SQL)."""
    async with pool.acquire() as conn:
        records = await conn.fetch(f"SELECT {', '.join(FIELDS)} FROM crm_leads WHERE company_id = $1", company)
    kept = [r for r in records if r["status"] in ("new", "qualified") and "@example.com" in (r["email"] or "").lower()]
    kept.sort(key=lambda r: r["email"] or "")
    kept.sort(key=lambda r: (r["annual_revenue"] is None, -(r["annual_revenue"] or 0)))
    return [tuple(_text(r[f]) for f in FIELDS) for r in kept]


async def model_values(pool: asyncpg.Pool, company: str) -> list[tuple[Any, ...]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT {', '.join(LEAD.field_names)} FROM crm_leads WHERE company_id = $1", company)
    return sorted((tuple(r) for r in rows), key=repr)


async def export(
    settings: Settings, pool: asyncpg.Pool, producer: Any, company: str, fmt: str, **kw: Any
) -> tuple[dict[str, Any], Path]:
    args: dict[str, Any] = {"fields": FIELDS, "filters": FILTERS, "sort": SORT} | kw
    job = await submit_export(settings, pool, producer, company_id=company, model="lead", file_format=fmt, **args)
    assert job["job_status"] == "pending" and job["file_path"] == "" and job["job_type"] == "export"
    done = await wait_for_job(pool, company, job["id"], timeout_s=120)
    assert done["job_status"] == "completed", done
    assert done["file_path"].startswith("exports/")
    return done, storage.resolve(settings.storage_dir, company, done["file_path"])


def read_file(fmt: str, path: Path) -> tuple[list[str], list[tuple[str | None, ...]]]:
    """(header, rows as text or None) from an exported file."""
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            header, *rows = list(csv.reader(f))
        return header, [tuple(c or None for c in r) for r in rows]
    if fmt == "excel":
        wb = openpyxl.load_workbook(path, read_only=True)
        header, *rows = [list(r) for r in wb.active.iter_rows(values_only=True)]
        wb.close()
        types = [LEAD.field(h).type for h in header]
        # Number cells come back as floats; decimals past 15 digits were written as exact text.
        return header, [
            tuple(
                None if v is None else f"{v:.2f}" if t == "decimal" and not isinstance(v, str) else str(v)
                for v, t in zip(r, types)
            )
            for r in rows
        ]
    docs = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return list(docs[0]), [tuple(None if v is None else str(v) for v in d.values()) for d in docs]


@pytest.fixture
async def two_companies(run_import: Any, pool: asyncpg.Pool, tmp_path: Path) -> tuple[str, str]:
    company, other = await asyncio.gather(
        company_with_leads(run_import, tmp_path, 11), company_with_leads(run_import, tmp_path, 12)
    )
    await add_typed_rows(pool, company)
    await add_typed_rows(pool, other)  # the same emails in another company: must never appear
    return company, other


async def test_every_format_filtered_sorted_and_scoped(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, two_companies: tuple[str, str]
) -> None:
    company, other = two_companies
    want = await expected_rows(pool, company)
    assert 100 < len(want) < ROWS  # the filter keeps some rows and drops others
    for fmt in ("csv", "excel", "json"):
        done, path = await export(
            settings, pool, kafka_producer, company, fmt, options={"json_style": "ndjson"} if fmt == "json" else None
        )
        header, rows = read_file(fmt, path)
        assert header == FIELDS
        # The big decimal has 18 digits: XLSX keeps it as exact text, the others as plain text too.
        assert rows == want, fmt
        assert done["total_records"] == done["processed_records"] == done["success_records"] == len(want)
    done, path = await export(settings, pool, kafka_producer, company, "pdf")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    assert "<b>bold</b>" in text and "Zoë" in text and "status in" in text
    assert done["processed_records"] == len(want)
    # The other company's rows share emails with this one's typed rows but not the generated ones.
    other_emails = {r[0] for r in await expected_rows(pool, other)} - {"zoe@example.com", "sam@example.com"}
    assert other_emails and not other_emails & {r[0] for r in want}


@pytest.mark.parametrize("fmt", ["csv", "excel", "json"])
async def test_round_trip_into_a_new_company(
    settings: Settings,
    pool: asyncpg.Pool,
    kafka_producer: Any,
    run_import: Any,
    two_companies: tuple[str, str],
    fmt: str,
) -> None:
    company, _ = two_companies
    _, path = await export(settings, pool, kafka_producer, company, fmt, fields=None, filters=None, sort=None)
    fresh = str(uuid.uuid4())
    job = await run_import(path, company=fresh, file_format=fmt, mapping={f: f for f in LEAD.field_names})
    assert job["job_status"] == "completed" and job["error_records"] == 0, job
    assert await model_values(pool, fresh) == await model_values(pool, company)


async def test_refusals_before_a_job_exists(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, two_companies: tuple[str, str]
) -> None:
    company, _ = two_companies
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM crm_import_export_jobs WHERE company_id = $1", company)
    bad = [
        ({"fields": ["email", "salary"]}, "salary"),
        ({"filters": [{"field": "email", "op": "matches", "value": "x"}]}, "matches"),
        ({"sort": ["-password"]}, "password"),
        ({"file_format": "xml"}, "xml"),
    ]
    for kw, needle in bad:
        args: dict[str, Any] = {"fields": None, "filters": None, "sort": None, "file_format": "csv"} | kw
        with pytest.raises(ExportError, match=needle):
            await submit_export(settings, pool, kafka_producer, company_id=company, model="lead", **args)
    capped = settings.model_copy(update={"pdf_max_rows": 10})
    with pytest.raises(ExportTooLarge, match="pdf_max_rows"):
        await submit_export(
            capped,
            pool,
            kafka_producer,
            company_id=company,
            model="lead",
            fields=None,
            filters=None,
            sort=None,
            file_format="pdf",
        )
    async with pool.acquire() as conn:
        after = await conn.fetchval("SELECT count(*) FROM crm_import_export_jobs WHERE company_id = $1", company)
    assert after == before


async def test_status_events_end_completed(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, two_companies: tuple[str, str]
) -> None:
    company, _ = two_companies
    done, _ = await export(settings, pool, kafka_producer, company, "csv")
    consumer = AIOKafkaConsumer(
        settings.topic("jobs.status"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline and not any(e["job_status"] == "completed" for e in seen):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [avro.decode("job_status", r.value) for r in records if r.key.decode() == done["id"]]
    finally:
        await consumer.stop()
    statuses = [e["job_status"] for e in seen]
    assert statuses[0] == "pending" and statuses[-1] == "completed" and "running" in statuses
    assert seen[-1]["processed_records"] == seen[-1]["total_records"] == done["processed_records"]
    assert seen[-1]["job_type"] == "export" and seen[-1]["company_id"] == company


HOSTILE = [
    "=1+1",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\tTAB",
    "\rCR",
    "+14155550123",
    "-12.50",
    ".5",
    "12.",
    "- 3",
    'say "hi"',
    "a,b",
    "line1\nline2",
    "cr\r\nlf",
    "'already",
    "plain",
    "Zoë ünïcode",
    "=",
    "+",
    None,
]


async def test_csv_copied_by_postgresql_equals_the_python_writer(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The fast CSV path (COPY of query.copy_sql) writes byte for byte what CsvWriter.write_rows writes."""
    from services.exports.csv_writer import CsvWriter, copy_csv
    from services.exports.query import build_query, export_fields
    from services.exports.writers import ExportMeta

    model, company = get_model("lead"), uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, first_name, last_name, title, annual_revenue, converted_date) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    uuid.uuid4(),
                    company,
                    v,
                    f"L{i}",
                    HOSTILE[-1 - i],
                    Decimal("1200.50") if i % 2 else None,
                    dt.date(2024, 3, 1) if i % 3 else None,
                )
                for i, v in enumerate(HOSTILE)
            ],
        )
        fields = export_fields(model, ["first_name", "last_name", "title", "annual_revenue", "converted_date"])
        for name, chosen in (("many", fields), ("one", fields[:1])):
            query = build_query(model, company, chosen, [], [])
            by_python = CsvWriter()
            by_python.open(tmp_path / f"{name}-python.csv", chosen, ExportMeta(csv_bom=True))
            by_python.write_rows(await conn.fetch(query.sql, *query.args))
            assert by_python.close() == len(HOSTILE)
            async with conn.transaction():
                copied = await copy_csv(conn, query.copy_sql, query.args, tmp_path / f"{name}-copy.csv", bom=True)
            assert copied == len(HOSTILE)
            assert (tmp_path / f"{name}-copy.csv").read_bytes() == (tmp_path / f"{name}-python.csv").read_bytes()


async def test_json_copied_by_postgresql_equals_the_python_writer(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The fast JSON path (COPY of query.json_copy_sql) holds the same values, types and order as
    JsonWriter.write_rows, in both styles."""
    from services.exports.json_writer import JsonWriter, copy_json
    from services.exports.query import build_query, export_fields
    from services.exports.writers import ExportMeta

    model, company = get_model("lead"), uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, first_name, last_name, title, annual_revenue, "
            "number_of_employees, converted_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    uuid.uuid4(),
                    company,
                    v,
                    f"L{i}\\\\{i}",
                    HOSTILE[-1 - i],
                    Decimal("1200.50") if i % 2 else None,
                    i * 7 if i % 3 else None,
                    dt.date(2024, 3, 1) if i % 3 else None,
                )
                for i, v in enumerate(HOSTILE)
            ],
        )
        fields = export_fields(model, None)
        query = build_query(model, company, fields, [], [])
        rows = await conn.fetch(query.sql, *query.args)
        for style in ("array", "ndjson"):
            by_python = JsonWriter()
            by_python.open(tmp_path / f"python.{style}", fields, ExportMeta(json_style=style))
            by_python.write_rows(rows)
            by_python.close()
            async with conn.transaction():
                copied = await copy_json(
                    conn, query.json_copy_sql, query.args, tmp_path / f"copy.{style}", ndjson=style == "ndjson"
                )
            assert copied == len(HOSTILE)
            python_text = (tmp_path / f"python.{style}").read_bytes()
            copy_text = (tmp_path / f"copy.{style}").read_bytes()
            if style == "array":
                assert orjson.loads(copy_text) == orjson.loads(python_text)
                assert copy_text.startswith(b"[\n{") and copy_text.endswith(b"}\n]\n")
            else:
                assert [orjson.loads(x) for x in copy_text.splitlines()] == [
                    orjson.loads(x) for x in python_text.splitlines()
                ]


PDF_TEXT = [
    "(open paren",
    "close paren)",
    "back\\slash \\(x\\)",
    "<b>not bold</b> &amp;",
    "Привет, мир",
    "Ωμέγα λόγος",
    "Zoë ünïcode",
]


async def test_user_text_never_becomes_a_formula_or_pdf_markup(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any, worker: Any
) -> None:
    """Exports of hostile user text: CSV cells a spreadsheet would run are quote-prefixed (numbers kept), the
    XLSX sheet XML holds no <f> element (every text an inline string, read back unchanged), and the PDF
    prints parentheses, backslashes, markup and non-Latin text as written (read back with pypdf)."""
    import zipfile

    company = str(uuid.uuid4())
    texts = [v for v in HOSTILE if v is not None]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, first_name, last_name, title) VALUES ($1, $2, $3, $4, $5)",
            [(uuid.uuid4(), company, v, f"L{i:02d}", PDF_TEXT[i % len(PDF_TEXT)]) for i, v in enumerate(texts)],
        )
    args: dict[str, Any] = {"fields": ["last_name", "first_name", "title"], "filters": None, "sort": ["last_name"]}

    _, path = await export(settings, pool, kafka_producer, company, "csv", **args)
    with path.open(newline="", encoding="utf-8-sig") as f:
        _, *rows = list(csv.reader(f))
    assert [r[0] for r in rows] == [f"L{i:02d}" for i in range(len(texts))]
    for value, (_, cell, _) in zip(texts, rows):
        number = value.strip() and value[0] in "+-" and value[1:].replace(".", "", 1).isdigit()
        expected = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not number else value
        assert cell == expected, (value, cell)

    _, path = await export(settings, pool, kafka_producer, company, "excel", **args)
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet and "<f/>" not in sheet
    wb = openpyxl.load_workbook(path)  # not read-only: openpyxl then reports formulas as data_type "f"
    cells = [row for row in wb.active.iter_rows(min_row=2)]
    assert all(c.data_type != "f" for row in cells for c in row)
    assert [row[1].value for row in cells] == texts
    wb.close()

    _, path = await export(settings, pool, kafka_producer, company, "pdf", **args)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    for value in PDF_TEXT:
        assert value in text, (value, text[:2000])
    assert "=1+1" in text and "@cmd" in text


async def test_two_runs_of_one_export_leave_one_file_and_one_final_state(
    settings: Settings, pool: asyncpg.Pool, kafka_producer: Any
) -> None:
    """A start request redelivered while its first run still works (a worker frozen past its session
    timeout): both runs write, the first to finish completes the job, the other removes its own file and
    reports nothing, so the job's file and its last status event stay those of the completed run."""
    from services.core.db import connect_pool
    from services.core.kafka_io import ensure_topics
    from services.core.runtime import Runtime
    from services.exports import run_export_request

    own = settings.model_copy(update={"topic_prefix": f"x{uuid.uuid4().hex[:8]}"})  # no worker reads these topics
    await ensure_topics(own)
    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO crm_leads (id, company_id, match_key, first_name, last_name, email) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (
                    uuid.uuid4(),
                    company,
                    match_key(LEAD, {"email": f"l{i}@example.com"}),
                    f"F{i}",
                    f"L{i}",
                    f"l{i}@example.com",
                )
                for i in range(5000)
            ],
        )
    job = await submit_export(
        own,
        pool,
        kafka_producer,
        company_id=company,
        model="lead",
        file_format="csv",
        fields=["email", "first_name"],
        filters=None,
        sort=["email"],
    )
    app_pool = await connect_pool(own.dsn(), max_size=4)
    sent: list[dict[str, Any]] = []

    async def send_status(event: dict[str, Any]) -> None:
        sent.append(event)

    try:
        res = Runtime(own, app_pool, pool)
        req = {"job_id": job["id"], "company_id": company, "admitted": True}
        await asyncio.gather(run_export_request(res, req, send_status), run_export_request(res, req, send_status))
    finally:
        await app_pool.close()
    done = await wait_for_job(pool, company, job["id"], timeout_s=5)
    assert done["job_status"] == "completed" and done["processed_records"] == 5000
    path = storage.resolve(own.storage_dir, company, done["file_path"])
    with path.open(newline="", encoding="utf-8-sig") as f:
        assert len(list(csv.reader(f))) == 5001
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the other run's file is gone
    assert [e["job_status"] for e in sent if e["job_status"] != "running"] == ["completed"]
