"""The cleaner of an import job: its rules and options, the company's picklists and the job's value decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

import asyncpg

from schemas.models import TargetModel
from services.cleansing.cleaning import CleanOptions, RecordCleaner
from services.cleansing.picklist_store import field_picklists, value_memory
from services.cleansing.picklists import value_policies
from services.core.errors import MappingError, ValidationRulesError
from services.core.settings import Settings
from services.fields.company_model import model_and_rules

__all__ = ["clean_options", "job_cleaner", "match_on", "MATCH_ON", "link_choice", "LINKED", "LINK_BY", "MISSING"]


MATCH_ON = ("external_id",)
LinkBy = Literal["external_id", "domain", "name"]
Missing = Literal["create", "warn"]
LINKED = "account"  # what a contacts import links each contact to (services.apply.account_links)
LINK_BY: dict[str, str] = {"external_id": "external_id", "domain": "website", "name": "name"}  # key -> account field
MISSING = ("create", "warn")


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


def _key_columns() -> str:
    return ", ".join(f"{LINKED}.{f}" for f in LINK_BY.values())


def link_choice(model: TargetModel, mapped: Iterable[str], options: Mapping[str, Any]) -> tuple[LinkBy, Missing] | None:
    """How the job links its records to accounts, (account_match, missing_accounts), or None when it maps no
    account column. MappingError or ValidationRulesError say what to map or choose."""
    chosen, missing = options.get("account_match"), options.get("missing_accounts")
    if chosen is not None and chosen not in LINK_BY:
        raise ValidationRulesError(f"account_match {chosen!r}: link contacts to accounts by {', '.join(LINK_BY)}")
    if missing is not None and missing not in MISSING:
        raise ValidationRulesError(f"missing_accounts {missing!r}: choose create or warn")
    targets = sorted({f for f in mapped if f.startswith(f"{LINKED}.")})
    if not targets:
        if chosen is not None or missing is not None:
            raise MappingError(
                "the import links contacts to accounts (account_match, missing_accounts) but maps no column to an "
                f"account field: map the column that names each contact's account to one of {_key_columns()}"
            )
        return None
    if LINKED not in dict(model.links):
        raise MappingError(f"{model.name} records link to no account; map no column to {', '.join(targets)}")
    if chosen is None:
        chosen = next((by for by, f in LINK_BY.items() if f"{LINKED}.{f}" in targets), None)
        if chosen is None:
            raise MappingError(
                f"columns are mapped to {', '.join(targets)}, but none says which account a contact belongs to: "
                f"map the column that names it to one of {_key_columns()}"
            )
    elif f"{LINKED}.{LINK_BY[chosen]}" not in targets:
        raise MappingError(
            f"the import links contacts to accounts by {chosen}: map the file's column of it to "
            f"{LINKED}.{LINK_BY[chosen]}",
            missing=[f"{LINKED}.{LINK_BY[chosen]}"],
        )
    return cast(LinkBy, chosen), cast(Missing, missing or "create")


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
    # Started: the custom fields it started with, though one was retired since (every worker reads the same).
    as_of = job.get("started_at") if started else None
    model, field_rules = await model_and_rules(conn, company_id, job["target_model"], as_of)
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
    rules = dict(job.get("validation_rules") or {})
    if model.match_fields == ("external_id",):  # a row without one could only ever be created again
        rules["external_id"] = {**rules.get("external_id", {}), "required": True}
    return RecordCleaner(
        model,
        rules or None,
        clean_options(options, settings),
        policies,
        strict,
        field_rules=field_rules or None,
        required_to_create=job.get("duplicate_handling") == "update",
    )
