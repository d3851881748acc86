"""A company's model: the built-in fields of lead, contact or account, then the company's custom fields, then
the fields of the records it links to (a contact's account, as "account.<field>")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from schemas.picklists import field_picklist
from services.cleansing.picklist_store import load_picklists
from services.cleansing.picklists import Picklist
from services.fields import repository
from services.fields.definitions import to_field

__all__ = ["company_model", "model_and_rules"]


async def _own_model(
    conn: asyncpg.Connection,
    company_id: str,
    name: str,
    picklists: Mapping[str, Picklist],
    as_of: dt.datetime | None = None,
) -> tuple[TargetModel, dict[str, dict[str, Any]]]:
    model = get_model(name)
    rows = await repository.list_fields(conn, company_id, model.name, retired=True)
    active = [r for r in rows if r["retired_at"] is None or (as_of is not None and r["retired_at"] > as_of)]
    live = {r["name"] for r in active}
    model = replace(
        model.with_custom(tuple(to_field(r) for r in active)),
        retired_fields=tuple(r["name"] for r in rows if r["name"] not in live),
    )
    return _with_company_choices(model, picklists), {
        r["name"]: dict(r["validation_rules"]) for r in active if r["validation_rules"]
    }


def _with_company_choices(model: TargetModel, picklists: Mapping[str, Picklist]) -> TargetModel:
    """Every choice field with its company picklist's values: those the company added to a built-in one too,
    active as ``choices``, retired ones apart."""
    fields = []
    for f in model.fields:
        picklist = picklists.get(field_picklist(model.name, f) or "") if f.type == "choice" else None
        if picklist is not None:
            retired = tuple(c.value for c in picklist.choices if not c.active)
            f = replace(f, choices=picklist.values, retired=retired)
        fields.append(f)
    return replace(model, fields=tuple(fields))


async def model_and_rules(
    conn: asyncpg.Connection, company_id: str, name: str, as_of: dt.datetime | None = None
) -> tuple[TargetModel, dict[str, dict[str, Any]]]:
    """The company's model called ``name`` (ValueError names the models) and its custom fields' own
    validation rules, which every import of the model applies (a linked record's as "account.<field>").
    ``as_of``: a running job's start; a field retired since is still the job's, whichever worker asks."""
    picklists = await load_picklists(conn, company_id)  # once for the model and the ones it links
    model, rules = await _own_model(conn, company_id, name, picklists, as_of)
    for linked_name, _ in model.links:
        linked, linked_rules = await _own_model(conn, company_id, linked_name, picklists, as_of)
        rules.update({f"{linked_name}.{field}": r for field, r in linked_rules.items()})
        model = model.with_related(linked)
    return model, rules


async def company_model(conn: asyncpg.Connection, company_id: str, name: str) -> TargetModel:
    """The company's model called ``name``: built-in fields, its active custom fields, then linked records' fields."""
    return (await model_and_rules(conn, company_id, name))[0]
