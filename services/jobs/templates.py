"""DataTemplate repository and the per-company mapping memory (header -> field), every query scoped to a company."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from schemas.models import TargetModel, get_model
from services.cleansing.picklists import Picklist, check_value_mapping
from services.cleansing.validation import validate_rules
from services.core.errors import CrmioError, MappingError
from services.fields.company_model import company_model
from services.ingest.mapping import normalize_header
from services.jobs.repository import _plain

__all__ = [
    "TemplateNameTaken",
    "check_template",
    "create_template",
    "get_template",
    "list_templates",
    "update_template",
    "delete_template",
    "template_document",
    "remember_mapping",
    "mapping_memory",
]

_COLUMNS = (
    "id, company_id, template_name, target_model, template_type, field_mapping, validation_rules, is_active, "
    "created_at, value_mapping"
)
_EDITABLE = (
    "template_name",
    "target_model",
    "template_type",
    "field_mapping",
    "validation_rules",
    "is_active",
    "value_mapping",
)


class TemplateNameTaken(CrmioError):
    """The company already has a template with this name: choose another name."""

    http_status = 409


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def check_template(values: Mapping[str, Any], model: TargetModel | None = None) -> dict[str, Any]:
    """A template's mapping and rules checked against its model; the normalized values, or a 422 error.

    Import templates map source column -> field; export templates map field -> column title.
    Either way every named field must exist on the model.
    """
    model = model or get_model(values["target_model"])  # the company's (with its custom fields), when given
    out = dict(values)
    mapping = values.get("field_mapping") or {}
    named = mapping.values() if values["template_type"] == "import" else mapping.keys()
    unknown = sorted({f for f in named if f and f not in model.by_name})
    if unknown:
        raise MappingError(
            f"{model.name} has no field {model.unknown(unknown)} (fields: {', '.join(model.field_names)})"
        )
    out["field_mapping"] = dict(mapping)
    out["validation_rules"] = validate_rules(model, values.get("validation_rules") or None)
    # Whether each target is an active picklist value is checked when the template is used: a
    # value retired since then is named there.
    choices = {f.name: Picklist(f.name, ()) for f in model.fields if f.type == "choice"}
    out["value_mapping"] = check_value_mapping(values.get("value_mapping") or {}, choices, require_active=False)
    return out


async def _model(conn: asyncpg.Connection, company_id: str, values: Mapping[str, Any]) -> TargetModel | None:
    """The company's model the template names (None for a name that is no model: check_template refuses it)."""
    try:
        return await company_model(conn, company_id, str(values.get("target_model")))
    except ValueError:
        return None


async def create_template(conn: asyncpg.Connection, company_id: str, values: Mapping[str, Any]) -> asyncpg.Record:
    v = check_template(values, await _model(conn, company_id, values))
    try:
        return await conn.fetchrow(
            f"""
            INSERT INTO crm_data_templates (id, company_id, template_name, target_model, template_type,
                                            field_mapping, validation_rules, is_active, value_mapping)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_COLUMNS}
            """,
            uuid.uuid4(),
            company_id,
            v["template_name"],
            v["target_model"],
            v["template_type"],
            v["field_mapping"],
            v["validation_rules"],
            v.get("is_active", True),
            v["value_mapping"],
        )
    except asyncpg.UniqueViolationError:
        raise TemplateNameTaken(
            f"a template named {v['template_name']!r} already exists; choose another name"
        ) from None


async def get_template(conn: asyncpg.Connection, company_id: str, template_id: str) -> asyncpg.Record | None:
    tid = _uuid(template_id)
    if tid is None:
        return None
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM crm_data_templates WHERE company_id = $1 AND id = $2", company_id, tid
    )


async def list_templates(
    conn: asyncpg.Connection,
    company_id: str,
    *,
    search: str | None = None,
    is_active: bool | None = None,
    template_type: str | None = None,
    target_model: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[asyncpg.Record], int]:
    """A page of the company's templates by name, and the total matching count."""
    where = """
        company_id = $1
        AND ($2::text IS NULL OR template_name ILIKE '%' || $2 || '%')
        AND ($3::boolean IS NULL OR is_active = $3)
        AND ($4::text IS NULL OR template_type = $4)
        AND ($5::text IS NULL OR target_model = $5)
    """
    # ILIKE wildcards typed by the user are literal characters in a search box.
    pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if search else None
    args = (company_id, pattern, is_active, template_type, target_model)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM crm_data_templates WHERE {where} ORDER BY template_name, id LIMIT $6 OFFSET $7",
        *args,
        limit,
        offset,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM crm_data_templates WHERE {where}", *args)
    return rows, total


async def update_template(
    conn: asyncpg.Connection, company_id: str, template_id: str, changes: Mapping[str, Any]
) -> asyncpg.Record | None:
    """Apply the given fields (others unchanged), checked as a whole; None when the company has no such template."""
    async with conn.transaction():
        current = await get_template(conn, company_id, template_id)
        if current is None:
            return None
        merged = {k: current[k] for k in _EDITABLE} | {k: v for k, v in changes.items() if k in _EDITABLE}
        # A rename or (de)activation keeps what was checked: a template mapping a field retired since can
        # still be switched off.
        checked = any(k in changes for k in _EDITABLE if k not in ("template_name", "is_active"))
        v = check_template(merged, await _model(conn, company_id, merged)) if checked else merged
        try:
            return await conn.fetchrow(
                f"""
                UPDATE crm_data_templates
                   SET template_name = $3, target_model = $4, template_type = $5, field_mapping = $6,
                       validation_rules = $7, is_active = $8, value_mapping = $9
                 WHERE company_id = $1 AND id = $2 RETURNING {_COLUMNS}
                """,
                company_id,
                current["id"],
                v["template_name"],
                v["target_model"],
                v["template_type"],
                v["field_mapping"],
                v["validation_rules"],
                v["is_active"],
                v["value_mapping"],
            )
        except asyncpg.UniqueViolationError:
            raise TemplateNameTaken(
                f"a template named {v['template_name']!r} already exists; choose another name"
            ) from None


async def delete_template(conn: asyncpg.Connection, company_id: str, template_id: str) -> bool:
    # Jobs keep their own copy of mapping and rules, so deleting a template never changes a job.
    tid = _uuid(template_id)
    if tid is None:
        return False
    status: str = await conn.execute(
        "DELETE FROM crm_data_templates WHERE company_id = $1 AND id = $2", company_id, tid
    )
    return status.endswith(" 1")


def template_document(row: asyncpg.Record) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


async def remember_mapping(
    conn: asyncpg.Connection, company_id: str, model: str, mapping: Mapping[str, str | None]
) -> None:
    """Remember the company's choice per header (normalized), so later suggestions prefer it."""
    pairs = {normalize_header(col): field for col, field in mapping.items() if field and normalize_header(col)}
    if not pairs:
        return
    await conn.executemany(
        """
        INSERT INTO crm_mapping_memory (company_id, target_model, header_key, field) VALUES ($1, $2, $3, $4)
        ON CONFLICT (company_id, target_model, header_key) DO UPDATE SET field = EXCLUDED.field, updated_at = now()
        """,
        [(company_id, model, key, field) for key, field in pairs.items()],
    )


async def mapping_memory(conn: asyncpg.Connection, company_id: str, model: str) -> dict[str, str]:
    """normalized header -> field, the ``memory`` argument of services.ingest.mapping.suggest_mapping."""
    rows = await conn.fetch(
        "SELECT header_key, field FROM crm_mapping_memory WHERE company_id = $1 AND target_model = $2",
        company_id,
        model,
    )
    return {r["header_key"]: r["field"] for r in rows}
