"""What the API answers (pydantic models for the OpenAPI document): the routes build these documents as plain
dicts (services' *_document functions); the models say what clients may rely on. Every model accepts more
members than it names, so a document may grow without breaking a generated client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Health",
    "Readiness",
    "Job",
    "JobPage",
    "LogEntry",
    "LogPage",
    "Upload",
    "UploadCreated",
    "Preview",
    "Template",
    "TemplatePage",
    "Schedule",
    "ScheduleList",
    "CustomField",
    "CustomFieldList",
    "PicklistValue",
    "Picklist",
    "PicklistList",
    "ApiKey",
    "ApiKeyList",
    "Limits",
    "Me",
    "ModelsDocument",
    "Inspection",
    "ExportCount",
    "ErrorSummary",
    "JobActions",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(_Open):
    status: str


class Readiness(_Open):
    status: str = Field(description="ready | not ready")
    checks: dict[str, str] = Field(description="postgres, kafka: ok, or the failure")


class Job(_Open):
    """An import, export or rollback job with its counters, percent, rate and ETA."""

    id: str
    job_type: str = Field(description="import | export | rollback")
    job_status: str = Field(description="pending | running | completed | failed | cancelled")
    target_model: str | None = None
    file_format: str | None = None
    original_filename: str | None = None
    total_records: int | None = None
    processed_records: int | None = None
    success_records: int | None = None
    error_records: int | None = None
    warning_records: int | None = None
    created_records: int | None = None
    updated_records: int | None = None
    skipped_records: int | None = None
    duplicate_handling: str | None = None
    field_mapping: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    message: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    percent: float | None = None
    records_per_second: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float | None = None


class JobPage(_Open):
    items: list[Job]
    total: int
    limit: int
    offset: int


class LogEntry(_Open):
    id: int | str | None = None
    log_level: str | None = None
    message: str | None = None
    record_number: int | None = None


class LogPage(_Open):
    items: list[LogEntry]
    limit: int
    offset: int


class Upload(_Open):
    """An uploaded file as inspected: format, encoding, sheets, headers, row estimate."""

    id: str
    original_filename: str
    file_format: str
    size_bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheet_names: list[str] | None = None
    headers: list[str] | None = None
    row_estimate: int | None = None
    row_estimate_exact: bool | None = None
    created_at: str | None = None


class UploadCreated(Upload):
    rows: list[list[str | None]] | None = Field(None, description="the first rows as read")
    suggested_mapping: dict[str, Any] | None = Field(None, description="per model, column -> suggested field")


class Preview(_Open):
    """The first rows mapped, cleansed and validated, issues per cell, and the choice columns' values."""

    upload_id: str
    mapping: dict[str, Any] | None = None
    values: Any = None
    match_fields: list[str] | None = None


class Template(_Open):
    id: str
    template_name: str
    target_model: str
    template_type: str
    field_mapping: dict[str, Any] | None = None
    validation_rules: dict[str, Any] | None = None
    value_mapping: dict[str, Any] | None = None
    is_active: bool | None = None
    created_at: str | None = None


class TemplatePage(_Open):
    items: list[Template]
    total: int
    limit: int
    offset: int


class Schedule(_Open):
    id: str
    name: str
    cron: str
    timezone: str
    job_definition: dict[str, Any] | None = None
    is_active: bool | None = None
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_error: str | None = None
    failures: int | None = None


class ScheduleList(_Open):
    items: list[Schedule]


class CustomField(_Open):
    id: str
    target_model: str
    name: str
    label: str
    field_type: str
    required: bool
    max_length: int | None = None
    validation_rules: dict[str, Any] | None = None
    retired: bool
    retired_at: str | None = None
    created_at: str | None = None
    picklist: str | None = None
    choices: list[dict[str, Any]] | None = None


class CustomFieldList(_Open):
    items: list[CustomField]


class PicklistValue(_Open):
    value: str
    label: str | None = None
    synonyms: list[str] | None = None
    active: bool | None = None
    builtin: bool | None = None
    position: int | None = None


class Picklist(_Open):
    name: str
    values: list[PicklistValue]


class PicklistList(_Open):
    items: list[Picklist]


class ApiKey(_Open):
    id: str
    role: str
    label: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None
    revoked: bool
    current: bool | None = Field(None, description="the key this request was made with (in the list)")


class ApiKeyList(_Open):
    items: list[ApiKey]


class Limits(_Open):
    max_running_jobs: int
    max_file_bytes: int
    max_rows: int
    job_retention_days: int
    file_retention_days: int
    max_storage_bytes: int
    storage_used_bytes: int
    max_running_jobs_total: int


class Me(_Open):
    company_id: str
    role: str
    label: str | None = None
    key_id: str


class ModelsDocument(_Open):
    models: dict[str, Any]
    pseudo_fields: list[str]
    filter_ops: list[str]
    rules: list[str]


class Inspection(_Open):
    upload_id: str
    format: str
    headers: list[str]
    rows: list[list[str | None]]
    row_estimate: int
    row_estimate_exact: bool


class ExportCount(_Open):
    target_model: str
    count: int


class ErrorSummary(_Open):
    job_id: str
    error_records: int | None = None
    fields: list[dict[str, Any]]


class JobActions(_Open):
    job_id: str
    role: str
    actions: dict[str, dict[str, Any]]
