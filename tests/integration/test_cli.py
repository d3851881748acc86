"""The `crmio` command as a user runs it: one JSON document on stdout, clear refusals, exit codes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.core.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration


def crmio(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=PROJECT_ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_wait_json_status_and_logs(settings: Settings, worker: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Given Name,Surname,Email Address,Mobile,Account Name,Birthday\n"
        "Ada,Lovelace,ADA@example.com,+44 20 7946 0958,Analytical,1815-12-10\n"
        "Grace,,grace@example.com,,Navy,1906-12-09\n"
        "Alan,Turing, ada@EXAMPLE.com ,,Bletchley,23/06/1912\n",
        encoding="utf-8",
    )
    done = crmio(
        settings,
        "import",
        str(path),
        "--company",
        company,
        "--model",
        "contact",
        "--mapping",
        '{"Given Name": "first_name", "Surname": "last_name", "Email Address": "email", '
        '"Mobile": "mobile_phone", "Account Name": "account", "Birthday": "birthdate"}',
        "--duplicates",
        "update",
        "--date-order",
        "DMY",
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    job = orjson.loads(done.stdout)  # stdout is exactly one JSON document
    assert job["job_status"] == "completed"
    assert (job["total_records"], job["processed_records"], job["success_records"], job["error_records"]) == (
        3,
        3,
        2,
        1,
    )
    assert (job["created_records"], job["updated_records"]) == (1, 1)
    assert job["file_path"].startswith("uploads/") and job["original_filename"] == "contacts.csv"

    status = crmio(settings, "status", job["id"], "--company", company, "--json")
    assert status.returncode == 0 and orjson.loads(status.stdout)["id"] == job["id"]

    logs = crmio(settings, "logs", job["id"], "--company", company, "--level", "error", "--json")
    (entry,) = orjson.loads(logs.stdout)
    assert entry["record_number"] == 2 and entry["field"] == "last_name" and "row 2" in entry["message"]

    other = crmio(settings, "status", job["id"], "--company", str(uuid.uuid4()), "--json")
    assert other.returncode == 2 and "no job" in other.stderr and other.stdout == ""


def test_unmapped_required_field_is_refused_before_a_job_exists(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Name,E-mail\nAda Lovelace,ada@example.com\n", encoding="utf-8")
    done = crmio(settings, "import", str(path), "--company", str(uuid.uuid4()), "--model", "lead", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "first_name" in done.stderr and "last_name" in done.stderr


def test_content_that_does_not_match_the_name_is_refused(settings: Settings, worker: Any, tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    path.write_text("first_name,last_name\nAda,Lovelace\n", encoding="utf-8")
    done = crmio(settings, "import", str(path), "--company", str(uuid.uuid4()), "--model", "lead")
    assert done.returncode == 2 and "leads.xlsx" in done.stderr


def test_stack_env_prints_lines_a_shell_can_eval(settings: Settings) -> None:
    done = crmio(settings, "stack", "env")
    lines = done.stdout.splitlines()
    assert done.returncode == 0
    assert any(line.startswith("CRMIO_KAFKA_BOOTSTRAP=") for line in lines)
    assert any(line.startswith("CRMIO_DATABASE_URL=") for line in lines)


def test_export_wait_json_names_the_output_file(settings: Settings, worker: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    path = tmp_path / "leads.csv"
    path.write_text(
        "First Name,Last Name,Email,Status\nAda,Lovelace,ada@example.com,New\n"
        "Grace,Hopper,grace@example.com,Qualified\nAlan,Turing,alan@example.com,New\n",
        encoding="utf-8",
    )
    assert crmio(settings, "import", str(path), "--company", company, "--model", "lead", "--wait").returncode == 0
    done = crmio(
        settings,
        "export",
        "--company",
        company,
        "--model",
        "lead",
        "--format",
        "csv",
        "--fields",
        "email,first_name",
        "--filter",
        "status eq new",
        "--sort=-email",
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    job = orjson.loads(done.stdout)
    assert job["job_status"] == "completed" and job["job_type"] == "export"
    lines = Path(job["file_path"]).read_text(encoding="utf-8").splitlines()
    assert lines == ["email,first_name", "alan@example.com,Alan", "ada@example.com,Ada"]

    bad = crmio(
        settings, "export", "--company", company, "--model", "lead", "--format", "csv", "--filter", "colour eq red"
    )
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_templates_and_jobs_commands(settings: Settings, worker: Any, tmp_path: Path) -> None:
    company, other = str(uuid.uuid4()), str(uuid.uuid4())
    created = crmio(
        settings,
        "templates",
        "create",
        "--company",
        company,
        "--name",
        "Trade show",
        "--model",
        "lead",
        "--type",
        "import",
        "--mapping",
        '{"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"}',
        "--rules",
        '{"email": {"required": true}}',
    )
    assert created.returncode == 0, created.stderr
    template = orjson.loads(created.stdout)
    listed = orjson.loads(crmio(settings, "templates", "list", "--company", company, "--json").stdout)
    assert [t["id"] for t in listed["templates"]] == [template["id"]]

    path = tmp_path / "messe.csv"
    path.write_text("Vorname,Nachname,Mail\nAda,Lovelace,ada@example.com\nAlan,Turing,\n", encoding="utf-8")
    done = crmio(
        settings,
        "import",
        str(path),
        "--company",
        company,
        "--model",
        "lead",
        "--template",
        template["id"],
        "--wait",
        "--json",
    )
    job = orjson.loads(done.stdout)
    assert (job["job_status"], job["success_records"], job["error_records"]) == (
        "completed",
        1,
        1,
    )  # rule: email required
    assert job["field_mapping"] == {"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"}

    jobs = orjson.loads(crmio(settings, "jobs", "--company", company, "--type", "import", "--json").stdout)
    assert jobs["total"] == 1 and jobs["jobs"][0]["id"] == job["id"]
    assert orjson.loads(crmio(settings, "jobs", "--company", other, "--json").stdout) == {"total": 0, "jobs": []}

    off = orjson.loads(crmio(settings, "templates", "deactivate", template["id"], "--company", company).stdout)
    assert off["is_active"] is False
    foreign = crmio(settings, "templates", "show", template["id"], "--company", other)
    assert foreign.returncode == 2 and foreign.stdout == ""
    foreign_import = crmio(
        settings, "import", str(path), "--company", other, "--model", "lead", "--template", template["id"]
    )
    assert foreign_import.returncode == 2 and "no import template" in foreign_import.stderr
