"""Per-company limits and retention: the settings' defaults, overridden per company by an operator.

Limits are an operator's decision, not a company's: the CLI sets them (`crmio limits set`); the
API only shows them. Every refusal names the limit and its value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from services.core.errors import FileTooLarge, LimitExceeded
from services.core.settings import Settings

__all__ = [
    "CompanyLimits",
    "LIMIT_NAMES",
    "defaults",
    "company_limits",
    "limits_for",
    "set_company_limits",
    "check_file_size",
    "check_row_estimate",
]

LIMIT_NAMES = (
    "max_running_jobs",
    "max_file_bytes",
    "max_rows",
    "job_retention_days",
    "file_retention_days",
    "max_storage_bytes",
)


@dataclass(frozen=True, slots=True)
class CompanyLimits:
    max_running_jobs: int
    max_file_bytes: int
    max_rows: int
    job_retention_days: int
    file_retention_days: int  # logs, uploads and job files
    max_storage_bytes: int  # the company's stored files together (services.jobs.stored_files)

    def document(self) -> dict[str, int]:
        return asdict(self)


def defaults(settings: Settings) -> CompanyLimits:
    return CompanyLimits(
        max_running_jobs=settings.max_running_jobs,
        max_file_bytes=settings.max_file_bytes,
        max_rows=settings.max_rows,
        job_retention_days=settings.job_retention_days,
        file_retention_days=settings.log_retention_days,
        max_storage_bytes=settings.max_storage_bytes,
    )


def _merge(base: CompanyLimits, row: asyncpg.Record | None) -> CompanyLimits:
    if row is None:
        return base
    return CompanyLimits(**{name: row[name] if row[name] is not None else getattr(base, name) for name in LIMIT_NAMES})


async def company_limits(conn: asyncpg.Connection, settings: Settings, company_id: str) -> CompanyLimits:
    row = await conn.fetchrow("SELECT * FROM crm_company_settings WHERE company_id = $1", uuid.UUID(str(company_id)))
    return _merge(defaults(settings), row)


async def limits_for(
    conn: asyncpg.Connection, settings: Settings, company_ids: Iterable[Any]
) -> dict[str, CompanyLimits]:
    """Limits of several companies at once (admission, retention)."""
    ids = sorted({uuid.UUID(str(c)) for c in company_ids})
    rows = {
        str(r["company_id"]): r
        for r in await conn.fetch("SELECT * FROM crm_company_settings WHERE company_id = ANY($1::uuid[])", ids)
    }
    base = defaults(settings)
    return {str(c): _merge(base, rows.get(str(c))) for c in ids}


async def set_company_limits(
    conn: asyncpg.Connection, settings: Settings, company_id: str, values: dict[str, int | None]
) -> CompanyLimits:
    """Override some limits of a company (None resets one to the default)."""
    unknown = sorted(set(values) - set(LIMIT_NAMES))
    if unknown:
        raise ValueError(f"unknown limits {unknown}; known: {', '.join(LIMIT_NAMES)}")
    cid = uuid.UUID(str(company_id))
    await conn.execute("INSERT INTO crm_company_settings (company_id) VALUES ($1) ON CONFLICT DO NOTHING", cid)
    for name, value in values.items():
        await conn.execute(
            f"UPDATE crm_company_settings SET {name} = $2, updated_at = now() WHERE company_id = $1", cid, value
        )
    return await company_limits(conn, settings, company_id)


def check_file_size(limits: CompanyLimits, size: int, file: str) -> None:
    if size > limits.max_file_bytes:
        raise FileTooLarge(
            f"the file is {size:,} bytes; this company's limit is {limits.max_file_bytes:,} bytes (max_file_bytes)",
            file=file,
        )


def check_row_estimate(limits: CompanyLimits, rows: int | None, exact: bool, file: str) -> None:
    """Refuse up front when the upload's count already exceeds the row limit (the reader enforces it exactly)."""
    if rows is not None and exact and rows > limits.max_rows:
        raise LimitExceeded(
            f"{file}: the file has {rows:,} data rows; this company's limit is {limits.max_rows:,} rows (max_rows)"
        )
