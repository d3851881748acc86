"""The reference an import's speed is a ratio to (issue 15): the same file upserted by a plain asyncpg script.

What a developer would write without crmio: read the file (PostgreSQL parses a CSV itself through COPY;
an .xlsx is read with python-calamine, a JSON array with orjson), COPY its rows into a staging table of
the file's shape, then one INSERT ... ON CONFLICT merge by the match key (the e-mail, lower-cased and
trimmed) into a table shaped like crm_leads. Types are cast (a number that is not one becomes NULL);
nothing else is checked, logged or reported, and there is no Kafka. Duplicates in the file: the last
row of a key wins (update mode).

A csv file with ``extra`` columns after those of tests/datagen.py's leads (bench_custom_fields) is staged
whole; ``custom`` (jsonb key -> SQL over the staging row) stores them in crm_leads' ``custom`` jsonb (keys
of NULL values left out), merged into a stored record's. Without it they are staged and left unused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import orjson

from tests.datagen import HEADERS

__all__ = ["reference_upsert"]

# crm_leads column <- SQL over the staging row (s)
_TARGET = {
    "first_name": "s.c0",
    "last_name": "s.c1",
    "email": "lower(btrim(s.c2))",
    "phone": "s.c3",
    "company": "s.c4",
    "title": "s.c5",
    "lead_source": "lower(s.c6)",
    "status": "lower(s.c7)",
    "annual_revenue": "CASE WHEN replace(replace(s.c8, '$', ''), ',', '') ~ '^-?[0-9]+(\\.[0-9]+)?$' "
    "THEN replace(replace(s.c8, '$', ''), ',', '')::numeric(18,2) END",
    "city": "s.c9",
    "country": "s.c10",
    "website": "s.c11",
}


def _merge(schema: str, column: str) -> str:
    if column == "custom":  # the file's keys over the stored record's others
        return f"custom = coalesce({schema}.leads.custom, '{{}}'::jsonb) || EXCLUDED.custom"
    return f"{column} = coalesce(EXCLUDED.{column}, {schema}.leads.{column})"


def _rows(path: Path, fmt: str) -> list[tuple[str | None, ...]]:
    if fmt == "excel":
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
        return [tuple(None if v == "" else str(v) for v in row) for row in sheet[1:]]
    docs = orjson.loads(path.read_bytes())
    return [tuple(d.get(h) for h in HEADERS) for d in docs]


async def reference_upsert(
    dsn: str, path: Path, fmt: str, *, extra: int = 0, custom: Mapping[str, str] | None = None
) -> tuple[float, int]:
    """Upsert the file into a fresh reference table; (seconds, rows in the table after)."""
    stage = [f"c{i}" for i in range(len(HEADERS) + extra)]  # the file's columns, as text
    target = dict(_TARGET)
    if custom:
        pairs = ", ".join(f"'{key}', {sql}" for key, sql in custom.items())
        target["custom"] = f"jsonb_strip_nulls(jsonb_build_object({pairs}))"
    conn = await asyncpg.connect(dsn)
    schema = f"bench_ref_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE {schema}.leads (LIKE crm_leads INCLUDING DEFAULTS INCLUDING INDEXES); "
            f"CREATE UNIQUE INDEX ON {schema}.leads (company_id, match_key)"
        )
        company = uuid.uuid4()
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                f"CREATE TEMP TABLE stage (n bigserial, {', '.join(f'{c} text' for c in stage)}) ON COMMIT DROP"
            )
            if fmt == "csv":
                await conn.copy_to_table("stage", source=str(path), columns=stage, format="csv", header=True)
            else:
                await conn.copy_records_to_table("stage", records=_rows(path, fmt), columns=stage)
            cols = ", ".join(target)
            await conn.execute(
                f"""
                INSERT INTO {schema}.leads (id, company_id, match_key, {cols})
                SELECT gen_random_uuid(), $1, k, {", ".join(f"t.{c}" for c in target)}
                  FROM (SELECT DISTINCT ON (coalesce(k, n::text)) k,
                               {", ".join(f"{sql} AS {c}" for c, sql in target.items())}
                          FROM (SELECT *, 'email:' || lower(btrim(c2)) AS k FROM stage) AS s
                         ORDER BY coalesce(k, n::text), n DESC) AS t
                ON CONFLICT (company_id, match_key) DO UPDATE SET
                  {", ".join(_merge(schema, c) for c in target)},
                  version = {schema}.leads.version + 1, updated_at = now()
                """,
                company,
            )
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval(f"SELECT count(*) FROM {schema}.leads")
        return elapsed, stored
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
