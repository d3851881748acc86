"""A field's value in SQL: a built-in field's column, or a custom field's key of the ``custom`` jsonb
column cast to its type, the same expression in the exports' filters and sorts as in its index."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg

from schemas.models import Field, TargetModel, own_name

__all__ = ["value_sql", "link_alias", "create_index", "index_name"]

# A date is kept as its ISO text (YYYY-MM-DD): ordered as the dates are, and indexable (a text to
# date cast is not immutable); numbers and booleans are cast, so they compare and sort as such.
_CASTS = {"integer": "::bigint", "decimal": "::numeric", "boolean": "::boolean"}


def link_alias(linked: str) -> str:
    """The alias of a linked record's table joined to a query ("link_account" for a contact's account)."""
    return f"link_{linked}"


def value_sql(field: Field, alias: str = "t") -> str:
    """The field's value in a query over its table (``alias``: the table's alias, or "" for none); a linked
    record's field ("account.name") is read from that record's table, joined as link_alias(...)."""
    if field.related:
        alias = link_alias(field.related)
    at = f"{alias}." if alias else ""
    name = own_name(field)
    if not field.custom:
        return f'{at}"{name}"'
    # The name is one of crm_custom_fields' (lower case letters, digits and _: its CHECK).
    text = f"({at}custom->>'{name}')"
    cast = _CASTS.get(field.type)
    return f"({text}{cast})" if cast else text


def index_name(model: TargetModel, company_id: str, field: Field) -> str:
    digest = hashlib.sha256(f"{company_id}:{model.table}:{field.name}".encode()).hexdigest()[:24]
    return f"cf_{model.table}_{digest}"


async def create_index(system: asyncpg.Pool, model: TargetModel, company_id: str, field: Field) -> None:
    """The field's expression index, partial on its company: its exports filter and sort by index.

    Built CONCURRENTLY (the company's imports go on meanwhile), by the tables' owner (the system pool)."""
    company = uuid.UUID(str(company_id))  # a UUID, so the literal below is safe
    async with system.acquire() as conn:
        await conn.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index_name(model, str(company), field)} "
            f"ON {model.table} (({value_sql(field, '')})) WHERE company_id = '{company}'"
        )
