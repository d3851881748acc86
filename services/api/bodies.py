"""Request bodies of the API (pydantic): what the OpenAPI document shows and what FastAPI checks (422)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Model",
    "ImportOptions",
    "PreviewRequest",
    "ErrorPolicyBody",
    "ImportJobRequest",
    "ExportJobRequest",
    "JobRequest",
    "TemplateCreate",
    "TemplateUpdate",
    "RollbackRequest",
    "RetryRequest",
    "ScheduleCreate",
]

Model = Literal["lead", "contact", "account"]


class _Strict(BaseModel):
    # An unknown key is a typo the caller wants to hear about, not to have ignored.
    model_config = ConfigDict(extra="forbid")


class ImportOptions(_Strict):
    date_order: Literal["DMY", "MDY"] | None = Field(
        default=None, description="which wins for ambiguous dates such as 03/04/2024"
    )
    phone_region: str | None = Field(default=None, description="region for national phone numbers, e.g. US, GB")
    sheet: str | None = Field(default=None, description="Excel sheet (default: the first)")
    encoding: str | None = Field(default=None, description="CSV encoding (default: detected)")
    delimiter: str | None = Field(default=None, description="CSV delimiter (default: detected)")
    dry_run: bool | None = Field(
        default=None, description="validate and resolve duplicates for every row; write nothing to the CRM tables"
    )
    strict: bool | None = Field(
        default=None,
        description="a value an optional field cannot take fails its row (default: the value is left out "
        "with a warning and the record is imported)",
    )
    unknown_values: str | dict[str, str] | None = Field(
        default=None,
        description="what a choice value that is not in the company's picklist gets: add (to the picklist), "
        "map:VALUE, empty (left out with a warning; the default) or fail (the row); one policy, or one per field "
        'with "*" for the rest, e.g. {"lead_source": "add", "*": "empty"}',
    )
    accept_suggestions: bool | None = Field(
        default=None, description="take every column and value suggestion that is sure enough, without asking"
    )
    match_on: Literal["external_id"] | None = Field(
        default=None,
        description="match duplicates on external_id (the id another system gave each record; every row needs "
        "one) instead of the model's keys (email; website, then name for accounts)",
    )

    account_match: Literal["external_id", "domain", "name"] | None = Field(
        default=None,
        description="contacts: link each contact to the account with this external_id, domain (account.website) or "
        "name, from the columns mapped to account.<field> (default: the first of them the mapping gives)",
    )
    missing_accounts: Literal["create", "warn"] | None = Field(
        default=None,
        description="contacts: an account the row names that does not exist is created from the row's account "
        "columns (create, the default), or the contact is imported without a link and a warning says so (warn)",
    )

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PreviewRequest(_Strict):
    target_model: Model | None = Field(None, description="required unless template_id names an import template")
    mapping: dict[str, str | None] | None = Field(
        None, description="source column -> target field (default: suggestions)"
    )
    template_id: uuid.UUID | None = None
    validation_rules: dict[str, Any] | None = None
    value_mapping: dict[str, dict[str, str | None]] | None = Field(
        None,
        description="per choice field, file value -> picklist value (null: leave empty), e.g. "
        '{"lead_source": {"Google Ads": "advertisement", "Podcast": null}}; see the preview\'s "values"',
    )
    options: ImportOptions = ImportOptions()
    duplicate_handling: Literal["skip", "update", "create_new"] | None = Field(
        None, description="the import's mode: update may leave required fields unmapped (only new records need them)"
    )
    rows: int | None = Field(None, ge=1, description="rows to preview (default preview_rows, at most preview_rows_max)")


class ErrorPolicyBody(_Strict):
    mode: Literal["continue", "stop", "all_or_nothing"] = Field(
        "continue",
        description="continue: apply every valid row; stop: end the job once the errors exceed "
        "max_errors or max_error_percent; all_or_nothing: validate every row first, write only if none fails",
    )
    max_errors: int | None = Field(None, ge=0, description="stop: the most failed rows tolerated")
    max_error_percent: float | None = Field(
        None, ge=0, lt=100, description="stop: the highest share of failed rows, in %"
    )


class ImportJobRequest(_Strict):
    job_type: Literal["import"]
    upload_id: uuid.UUID
    target_model: Model | None = Field(None, description="required unless template_id names an import template")
    mapping: dict[str, str | None] | None = None
    template_id: uuid.UUID | None = None
    duplicate_handling: Literal["skip", "update", "create_new"] = "skip"
    validation_rules: dict[str, Any] | None = None
    value_mapping: dict[str, dict[str, str | None]] | None = Field(
        None,
        description="per choice field, file value -> picklist value (null: leave empty), e.g. "
        '{"lead_source": {"Google Ads": "advertisement", "Podcast": null}}; see the preview\'s "values"',
    )
    error_policy: ErrorPolicyBody | None = None
    options: ImportOptions = ImportOptions()


class ExportJobRequest(_Strict):
    job_type: Literal["export"]
    target_model: Model
    fields: list[str] | None = Field(None, description="fields in column order (default: every field)")
    filters: list[dict[str, Any]] | None = Field(
        None, description='e.g. [{"field": "status", "op": "in", "value": ["new"]}]'
    )
    sort: list[str] | None = Field(None, description='e.g. ["-created_at", "email"]')
    file_format: Literal["csv", "excel", "json", "pdf"] = "csv"
    options: dict[str, Any] | None = None


JobRequest = Annotated[ImportJobRequest | ExportJobRequest, Field(discriminator="job_type")]


class TemplateCreate(_Strict):
    template_name: str = Field(min_length=1, max_length=200)
    target_model: Model
    template_type: Literal["import", "export"]
    field_mapping: dict[str, str | None] = {}
    validation_rules: dict[str, Any] = {}
    value_mapping: dict[str, dict[str, str | None]] = {}
    is_active: bool = True


class TemplateUpdate(_Strict):
    template_name: str | None = Field(None, min_length=1, max_length=200)
    target_model: Model | None = None
    template_type: Literal["import", "export"] | None = None
    field_mapping: dict[str, str | None] | None = None
    validation_rules: dict[str, Any] | None = None
    value_mapping: dict[str, dict[str, str | None]] | None = None
    is_active: bool | None = None


class RollbackRequest(_Strict):
    force: bool = Field(False, description="also revert records changed after the import (their later change is lost)")


class RetryRequest(_Strict):
    upload_id: uuid.UUID | None = Field(
        default=None,
        description="a fixed file (e.g. the corrected errors.csv); default: the job's own file, failed rows only",
    )
    mapping: dict[str, str | None] | None = Field(default=None, description="a corrected mapping (default: the job's)")


class ScheduleCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    cron: str = Field(description="five fields (minute hour day month weekday), or six with seconds last")
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in, e.g. Europe/Berlin")
    job: dict[str, Any] = Field(
        description='{"job_type": "export", "target_model", "file_format", "fields", '
        '"filters", "sort"} or {"job_type": "import", "target_model", "folder", "mapping" '
        'or "template_id", "duplicate_handling", "options"}'
    )
