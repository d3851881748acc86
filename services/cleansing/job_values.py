"""The cleaner of an import job: its rules and options, the company's picklists and the job's value decisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.cleansing.cleaning import CleanOptions, RecordCleaner
from services.cleansing.picklist_store import field_picklists, value_memory
from services.cleansing.picklists import value_policies
from services.core.errors import ValidationRulesError
from services.core.settings import Settings
from services.fields.company_model import model_and_rules

__all__ = ["clean_options", "job_cleaner", "match_on", "MATCH_ON"]


MATCH_ON = ("external_id",)


def match_on(options: Mapping[str, Any]) -> str | None:
    """The field a job matches duplicates on instead of the model's (``options.match_on``); ValidationRulesError
    names the choices."""
    field = options.get("match_on")
    if field is not None and field not in MATCH_ON:
        raise ValidationRulesError(
            f"match_on {field!r}: duplicates are matched on the model's own keys (email; website, then name), "
            "or on external_id"
        )
    return field


def clean_options(options: Mapping[str, Any], settings: Settings) -> CleanOptions:
    """The job's cleansing options (ValidationRulesError names a bad date_order or phone_region)."""
    return CleanOptions(
        date_order=options.get("date_order") or settings.default_date_order,
        phone_region=options.get("phone_region") or settings.default_phone_region,
    )


async def job_cleaner(
    conn: asyncpg.Connection, company_id: str, job: Mapping[str, Any], settings: Settings, started: bool = False
) -> RecordCleaner:
    """The cleaner every row of ``job`` (a job row, or a preview's equivalent) goes through.

    Raises ValidationRulesError or ValueMappingError for rules, options or value maps that do not
    fit; once the job has ``started`` (was checked), picklist changes since do not refuse it.
    """
    model, field_rules = await model_and_rules(conn, company_id, job["target_model"])
    options = job.get("options") or {}
    model = model.matching_on(match_on(options))
    fields = await field_picklists(conn, company_id, model)
    suggest = bool(options.get("accept_suggestions"))
    memory = await value_memory(conn, company_id) if suggest else None
    strict = bool(options.get("strict"))
    policies = value_policies(
        fields,
        job.get("value_mapping"),
        options.get("unknown_values"),
        strict=strict,
        suggest=suggest,
        memory=memory,
        started=started,
    )
    # A custom field's own rules hold in every import; the job's rules for the same field add to them.
    job_rules = job.get("validation_rules") or {}
    rules = {f: {**field_rules.get(f, {}), **job_rules.get(f, {})} for f in {*field_rules, *job_rules}}
    if model.match_fields == ("external_id",):  # a row without one could only ever be created again
        rules["external_id"] = {**rules.get("external_id", {}), "required": True}
    return RecordCleaner(model, rules or None, clean_options(options, settings), policies, strict)
