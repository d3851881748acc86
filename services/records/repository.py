"""SQL of the records pages: reads of crm_leads, crm_contacts and crm_accounts, every one scoped to the company
(``company_id = $1``, on a tenant() connection whose row-level security says the same)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from schemas.models import Field, TargetModel, get_model
from services.exports.query import like_pattern, text_sql

__all__ = ["SEARCHED", "LISTED", "ACCOUNT_ID", "ACCOUNT_NAME", "list_records", "get_record", "contacts_of"]

# What a list searches (case-insensitive substring) and shows besides the id; a person's full name is searched too,
# so "Ada Lovelace" finds her.
SEARCHED: dict[str, tuple[str, ...]] = {
    "lead": ("email", "first_name", "last_name"),
    "contact": ("email", "first_name", "last_name"),
    "account": ("name", "website"),
}
LISTED: dict[str, tuple[str, ...]] = {
    "lead": ("first_name", "last_name", "email", "company", "status"),
    "contact": ("first_name", "last_name", "email", "title"),
    "account": ("name", "website", "industry", "billing_city"),
}
_FULL_NAME = "concat_ws(' ', t.first_name, t.last_name)"
# A contact's account in a row, named so no field can take the name (fields start with a letter).
ACCOUNT_ID, ACCOUNT_NAME = "_account_id", "_account_name"
_ACCOUNTS = get_model("account").table


def _company(company_id: Any) -> uuid.UUID:
    return uuid.UUID(str(company_id))


async def list_records(
    conn: asyncpg.Connection, company_id: Any, model: TargetModel, q: str | None, limit: int, after: uuid.UUID | None
) -> list[asyncpg.Record]:
    """Up to ``limit`` of the company's records, newest first (ids are time-ordered), those past ``after`` (an id
    of the previous page); a contact's account as ACCOUNT_ID / ACCOUNT_NAME (NULL when none, or gone)."""
    args: list[Any] = [_company(company_id)]
    where = ["t.company_id = $1"]
    if after is not None:
        args.append(after)
        where.append(f"t.id < ${len(args)}")
    if q:
        args.append(like_pattern(q))
        searched = [f't."{name}"' for name in SEARCHED[model.name]]
        if "first_name" in SEARCHED[model.name]:
            searched.append(_FULL_NAME)
        where.append("(" + " OR ".join(f"{col} ILIKE ${len(args)}" for col in searched) + ")")
    args.append(limit)
    columns = ", ".join(f't."{name}"' for name in LISTED[model.name])
    linked, join = _account_join(model)
    return list(
        await conn.fetch(
            f"SELECT t.id, {columns}{linked} FROM {model.table} AS t{join} "
            f"WHERE {' AND '.join(where)} ORDER BY t.id DESC LIMIT ${len(args)}",
            *args,
        )
    )


def _account_join(model: TargetModel) -> tuple[str, str]:
    """The account columns and join of a query over contacts (a link to an account that is gone reads as none)."""
    if "account" not in dict(model.links):
        return "", ""
    return (
        f', a.id AS "{ACCOUNT_ID}", a.name AS "{ACCOUNT_NAME}"',
        f" LEFT JOIN {_ACCOUNTS} AS a ON a.id = t.{model.link_column('account')} AND a.company_id = t.company_id",
    )


async def get_record(
    conn: asyncpg.Connection, company_id: Any, model: TargetModel, record_id: uuid.UUID, fields: Sequence[Field]
) -> asyncpg.Record | None:
    """The record's ``fields`` as text (as exports write them, each under its name), created_at, updated_at,
    version and, for a contact, its account's id and name; None when the company has no such record."""
    values = "".join(f', {text_sql(f)} AS "{f.name}"' for f in fields)
    linked, join = _account_join(model)
    return await conn.fetchrow(
        f"SELECT t.id, t.created_at, t.updated_at, t.version{values}{linked} FROM {model.table} AS t{join} "
        "WHERE t.company_id = $1 AND t.id = $2",
        _company(company_id),
        record_id,
    )


async def contacts_of(
    conn: asyncpg.Connection, company_id: Any, account_id: uuid.UUID, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """The first ``limit`` contacts linked to the account, by last name, and how many there are."""
    contacts = get_model("contact")
    company = _company(company_id)
    rows = await conn.fetch(
        f"SELECT id, first_name, last_name, email FROM {contacts.table} "
        f"WHERE company_id = $1 AND {contacts.link_column('account')} = $2 "
        "ORDER BY last_name NULLS LAST, first_name NULLS LAST, id LIMIT $3",
        company,
        account_id,
        limit,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM {contacts.table} WHERE company_id = $1 AND {contacts.link_column('account')} = $2",
        company,
        account_id,
    )
    return list(rows), int(total)
