"""The target model registry and the SQL tables agree: one typed column per field, blueprint names kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.models import MODELS, SQL_TYPES, get_model

MIGRATION = (Path(__file__).parents[2] / "schemas" / "migrations" / "001_initial.sql").read_text()


def columns(table: str) -> dict[str, str]:
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", MIGRATION, re.S)
    assert body, table
    cols = {}
    for line in body.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith(("--", "PRIMARY", "UNIQUE")):
            continue
        name, typ = line.split()[:2]
        cols[name] = typ.rstrip(",")
    return cols


@pytest.mark.parametrize("model", MODELS.values(), ids=list(MODELS))
def test_each_field_has_a_column_of_its_type(model) -> None:
    cols = columns(model.table)
    for f in model.fields:
        assert cols[f.name] == SQL_TYPES[f.type], f.name
    assert {"id", "company_id", "match_key", "version"} <= set(cols)
    assert set(cols) - set(model.field_names) == {
        "id",
        "company_id",
        "match_key",
        "version",
        "created_at",
        "updated_at",
    }


def test_blueprint_tables_keep_their_columns() -> None:
    jobs = columns("crm_import_export_jobs")
    for name in (
        "id",
        "company_id",
        "job_type",
        "job_status",
        "target_model",
        "file_format",
        "file_path",
        "total_records",
        "processed_records",
        "success_records",
        "error_records",
        "field_mapping",
        "validation_rules",
        "duplicate_handling",
        "created_by_user_id",
        "created_at",
        "started_at",
        "completed_at",
    ):
        assert name in jobs
    logs = columns("crm_import_export_logs")
    assert {"id", "job_id", "record_number", "log_level", "message", "record_data", "created_at"} <= set(logs)
    templates = columns("crm_data_templates")
    assert {
        "id",
        "company_id",
        "template_name",
        "target_model",
        "template_type",
        "field_mapping",
        "validation_rules",
        "is_active",
        "created_at",
    } <= set(templates)
    for index in ("idx_company_job_type", "idx_status_created", "idx_target_model", "idx_job_log_level"):
        assert f"CREATE INDEX {index} " in MIGRATION


def test_required_fields_and_match_keys() -> None:
    assert get_model("lead").required_fields == ("first_name", "last_name")
    assert get_model("contact").match_fields == ("email",)
    assert get_model("account").required_fields == ("name",)
    assert get_model("account").match_fields == ("website", "name")
    with pytest.raises(ValueError, match="lead, contact, account"):
        get_model("opportunity")


def test_date_precision_is_a_system_column_of_every_record_table() -> None:
    """Migration 012: which date fields hold only a year or a month; not a model field, like match_key."""
    sql = (Path(__file__).parents[2] / "schemas" / "migrations" / "012_date_precision.sql").read_text()
    for model in MODELS.values():
        assert f"ALTER TABLE {model.table} ADD COLUMN date_precision jsonb" in sql
        assert "date_precision" not in model.field_names
