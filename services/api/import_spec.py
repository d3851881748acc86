"""What an import (or its preview) uses: the target model, the mapping and the rules, from the request or a template."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.models import TargetModel
from services.api.http import Unprocessable
from services.core.errors import NotFound
from services.fields.company_model import company_model
from services.ingest.mapping import default_mapping
from services.jobs import templates

__all__ = ["ImportSpec", "resolve_spec"]


@dataclass(frozen=True)
class ImportSpec:
    model: TargetModel
    mapping: dict[str, str | None]
    rules: dict[str, Any] | None
    chosen: bool  # the mapping came from the caller or a template, not from suggestions
    value_mapping: dict[str, dict[str, str | None]] | None = None


async def resolve_spec(
    conn: asyncpg.Connection,
    company_id: str,
    *,
    target_model: str | None,
    mapping: dict[str, str | None] | None,
    template_id: uuid.UUID | None,
    rules: dict[str, Any] | None,
    headers: list[str] | None,
    value_mapping: dict[str, dict[str, str | None]] | None = None,
    samples: Mapping[str, Sequence[str | None]] | None = None,
    accept_suggestions: bool = False,
) -> ImportSpec:
    """The request's own mapping and rules win over the template's; without either, suggestions with mapping memory.

    ``headers`` are the upload's headers; None when they may differ (another sheet), so the
    suggestions are left to the reader of the file itself. ``samples`` (column -> the first rows' raw
    values, services.ingest.column_sniffing.sample_file) let the suggestions read the values too.
    """
    template = None
    if template_id is not None:
        template = await templates.get_template(conn, company_id, str(template_id))
        if template is None:
            raise NotFound(f"no template {template_id}")
        if template["template_type"] != "import":
            raise Unprocessable(
                f"template {template['template_name']!r} is an export template; name an import template"
            )
        if not template["is_active"]:
            raise Unprocessable(f"template {template['template_name']!r} is inactive; activate it or choose another")
        if target_model and target_model != template["target_model"]:
            raise Unprocessable(
                f"template {template['template_name']!r} is for {template['target_model']}, not {target_model}"
            )
        target_model = template["target_model"]
    if not target_model:
        raise Unprocessable("name the target_model (lead, contact or account) or an import template_id")
    model = await company_model(conn, company_id, target_model)  # with the company's custom fields
    if mapping is None and template is not None and template["field_mapping"]:
        mapping = dict(template["field_mapping"])
    if rules is None and template is not None and template["validation_rules"]:
        rules = dict(template["validation_rules"])
    if value_mapping is None and template is not None and template["value_mapping"]:
        value_mapping = {f: dict(pairs) for f, pairs in template["value_mapping"].items()}
    chosen = mapping is not None
    if mapping is None and headers is not None:
        memory = await templates.mapping_memory(conn, company_id, model.name)
        mapping = dict(default_mapping(model, headers, memory, samples, accept_suggestions=accept_suggestions))
    return ImportSpec(model, mapping or {}, rules, chosen, value_mapping or None)
