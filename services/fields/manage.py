"""Create, list, retire and restore a company's custom fields (the API's and the CLI's one way to do it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from schemas.models import get_model
from services.cleansing.picklist_store import create_picklist, load_picklists
from services.core.errors import CustomFieldError, NotFound
from services.fields import repository
from services.fields.company_model import company_model
from services.fields.definitions import checked_definition

__all__ = [
    "create_field",
    "list_field_documents",
    "get_field_document",
    "set_retired",
    "field_document",
]


def field_document(row: Mapping[str, Any], choices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc = {
        "id": str(row["id"]),
        "target_model": row["target_model"],
        "name": row["name"],
        "label": row["label"],
        "field_type": row["field_type"],
        "required": row["required"],
        "max_length": row["max_length"],
        "validation_rules": dict(row["validation_rules"] or {}),
        "retired": row["retired_at"] is not None,
        "retired_at": row["retired_at"].isoformat() if row["retired_at"] else None,
        "created_at": row["created_at"].isoformat(),
    }
    if row["picklist"]:
        doc["picklist"] = row["picklist"]
        doc["choices"] = choices or []
    return doc


async def _choices(conn: asyncpg.Connection, company_id: str) -> dict[str, list[dict[str, Any]]]:
    return {name: [c.document() for c in p.choices] for name, p in (await load_picklists(conn, company_id)).items()}


async def create_field(conn: asyncpg.Connection, company_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new custom field (and a choice field's picklist) on the company's connection."""
    try:
        model = await company_model(conn, company_id, str(spec.get("target_model")))
    except ValueError as exc:
        raise CustomFieldError(str(exc)) from None
    row, labels = checked_definition(model, spec)
    async with conn.transaction():
        stored = await repository.insert_field(conn, company_id, row)
        if stored is None:
            raise CustomFieldError(
                f"{model.name} already has a field {row['name']!r} (a retired field keeps its name and values); "
                "choose another name"
            )
        if labels:
            await create_picklist(conn, company_id, row["picklist"], labels)
    return field_document(stored, (await _choices(conn, company_id)).get(row["picklist"] or ""))


async def list_field_documents(
    conn: asyncpg.Connection, company_id: str, model: str | None = None, *, retired: bool = False
) -> list[dict[str, Any]]:
    if model is not None:
        get_model(model)  # ValueError names the models
    rows = await repository.list_fields(conn, company_id, model, retired=retired)
    choices = await _choices(conn, company_id) if any(r["picklist"] for r in rows) else {}
    return [field_document(r, choices.get(r["picklist"] or "")) for r in rows]


async def get_field_document(conn: asyncpg.Connection, company_id: str, field_id: Any) -> dict[str, Any]:
    row = await repository.get_field(conn, company_id, field_id)
    if row is None:
        raise NotFound(f"no custom field {field_id} in this company")
    return field_document(row, (await _choices(conn, company_id)).get(row["picklist"] or ""))


async def set_retired(conn: asyncpg.Connection, company_id: str, field_id: Any, retired: bool) -> dict[str, Any]:
    """Retire a field (no longer imported, mapped or exported; the values records hold stay) or restore it
    (all of that again, with the values records kept)."""
    row = await repository.set_retired(conn, company_id, field_id, retired)
    if row is None:
        raise NotFound(f"no custom field {field_id} in this company")
    return field_document(row, (await _choices(conn, company_id)).get(row["picklist"] or ""))
