"""The records pages' documents: a page of a company's leads, contacts or accounts, and one record with every
own field (built-in and the company's custom ones) under its label, its values as exports write them, and its
links (a contact's account; an account's contacts)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.core.errors import NotFound
from services.fields.company_model import company_model
from services.records import repository
from services.records.repository import ACCOUNT_ID, ACCOUNT_NAME

__all__ = ["CONTACTS_SHOWN", "record_list", "record_document"]

CONTACTS_SHOWN = 50  # an account's contacts on its page; the total says how many more there are


def _account(row: asyncpg.Record) -> dict[str, Any] | None:
    if row[ACCOUNT_ID] is None:
        return None
    return {"id": str(row[ACCOUNT_ID]), "name": row[ACCOUNT_NAME]}


def _linked(model_name: str, row: asyncpg.Record) -> dict[str, Any]:
    return {"account": _account(row)} if model_name == "contact" else {}


async def record_list(
    conn: asyncpg.Connection, company_id: Any, model_name: str, q: str | None, limit: int, after: uuid.UUID | None
) -> dict[str, Any]:
    """A page of the company's records, newest first; ``next_after`` is the ``after`` of the next page (None at
    the end)."""
    model = await company_model(conn, company_id, model_name)
    rows = await repository.list_records(conn, company_id, model, (q or "").strip() or None, limit + 1, after)
    page = rows[:limit]
    items = [
        {
            "id": str(r["id"]),
            **{name: r[name] for name in repository.LISTED[model_name]},
            **_linked(model_name, r),
        }
        for r in page
    ]
    return {
        "model": model_name,
        "items": items,
        "next_after": str(page[-1]["id"]) if len(rows) > limit else None,
    }


async def record_document(
    conn: asyncpg.Connection, company_id: Any, model_name: str, record_id: uuid.UUID
) -> dict[str, Any]:
    """One record of the company; NotFound for an id it has no record of (another company's included)."""
    model = await company_model(conn, company_id, model_name)
    fields = model.own_fields
    row = await repository.get_record(conn, company_id, model, record_id, fields)
    if row is None:
        raise NotFound(
            f"no {model_name} {record_id}: it was removed, or belongs to another company; open the list again"
        )
    doc: dict[str, Any] = {
        "id": str(row["id"]),
        "model": model_name,
        "fields": [
            {"name": f.name, "label": f.title, "type": f.type, "custom": f.custom, "value": row[f.name]} for f in fields
        ],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "version": row["version"],
        **_linked(model_name, row),
    }
    if model_name == "account":
        contacts, total = await repository.contacts_of(conn, company_id, record_id, CONTACTS_SHOWN)
        doc["contacts"] = {
            "items": [
                {"id": str(c["id"]), "first_name": c["first_name"], "last_name": c["last_name"], "email": c["email"]}
                for c in contacts
            ],
            "total": total,
        }
    return doc
