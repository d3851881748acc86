"""A company's model: the built-in fields of lead, contact or account, then the company's custom fields."""

from __future__ import annotations

from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from services.cleansing.picklist_store import load_picklists
from services.fields import repository
from services.fields.definitions import to_field

__all__ = ["company_model", "model_and_rules"]


async def model_and_rules(
    conn: asyncpg.Connection, company_id: str, name: str
) -> tuple[TargetModel, dict[str, dict[str, Any]]]:
    """The company's model called ``name`` (ValueError names the models) and its custom fields' own
    validation rules, which every import of the model applies."""
    model = get_model(name)
    rows = await repository.list_fields(conn, company_id, model.name)
    if not rows:
        return model, {}
    picklists = await load_picklists(conn, company_id) if any(r["picklist"] for r in rows) else {}
    fields = tuple(to_field(r, picklists[r["picklist"]].values if r["picklist"] in picklists else ()) for r in rows)
    return model.with_custom(fields), {r["name"]: dict(r["validation_rules"]) for r in rows if r["validation_rules"]}


async def company_model(conn: asyncpg.Connection, company_id: str, name: str) -> TargetModel:
    """The company's model called ``name``: built-in fields, then its active custom fields."""
    return (await model_and_rules(conn, company_id, name))[0]
