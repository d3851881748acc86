"""SQL of crm_custom_fields: a company's custom field definitions, every query scoped to the company."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

__all__ = ["list_fields", "get_field", "insert_field", "set_retired"]

_COLUMNS = (
    "id, company_id, target_model, name, label, field_type, required, max_length, picklist, validation_rules, "
    "retired_at, created_at"
)


async def list_fields(
    conn: asyncpg.Connection, company_id: str, model: str | None = None, *, retired: bool = False
) -> list[asyncpg.Record]:
    """The company's fields (of ``model``), oldest first; retired ones only when asked."""
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM crm_custom_fields WHERE company_id = $1 AND ($2::text IS NULL OR target_model = $2) "
            "AND ($3 OR retired_at IS NULL) ORDER BY target_model, created_at, name",
            uuid.UUID(str(company_id)),
            model,
            retired,
        )
    )


async def get_field(conn: asyncpg.Connection, company_id: str, field_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM crm_custom_fields WHERE company_id = $1 AND id = $2",
        uuid.UUID(str(company_id)),
        field_id,
    )


async def insert_field(conn: asyncpg.Connection, company_id: str, row: dict[str, Any]) -> asyncpg.Record | None:
    """The new field, or None when the company's model already has a field of that name (retired ones too)."""
    return await conn.fetchrow(
        "INSERT INTO crm_custom_fields (id, company_id, target_model, name, label, field_type, required, max_length, "
        "picklist, validation_rules) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        f"ON CONFLICT (company_id, target_model, name) DO NOTHING RETURNING {_COLUMNS}",
        uuid.uuid4(),
        uuid.UUID(str(company_id)),
        row["target_model"],
        row["name"],
        row["label"],
        row["field_type"],
        row["required"],
        row["max_length"],
        row["picklist"],
        row["validation_rules"],
    )


async def set_retired(conn: asyncpg.Connection, company_id: str, field_id: Any, retired: bool) -> asyncpg.Record | None:
    """Retire the field (its stored values stay; a second retire keeps the first date) or bring it back; None when
    the company has no such field."""
    return await conn.fetchrow(
        "UPDATE crm_custom_fields SET retired_at = CASE WHEN $3 THEN coalesce(retired_at, now()) END "
        f"WHERE company_id = $1 AND id = $2 RETURNING {_COLUMNS}",
        uuid.UUID(str(company_id)),
        field_id,
        retired,
    )
