"""The remote CLI (issue 19, item 1): the installed `crmio` console script, run from another working directory with
only CRMIO_API_URL, CRMIO_API_KEY, PATH and HOME in its environment (no database, Kafka or storage settings),
against `crmio api` in its own process and the session's worker.

Every company command goes through the HTTP API with the local CLI's options, output and exit codes; operator
commands are refused in one line saying they need the local settings; a refused key or an unreachable URL is one
line and exit code 2.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from openpyxl import load_workbook

from bench.bench_isolation import Tenant, new_tenant
from bench.load import api_process
from services.core.settings import Settings
from services.jobs import keys
from tests.datagen import make_leads, write_csv
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CRMIO = Path(sys.executable).parent / "crmio"  # the console script `pip install` made, not `python -m`

CONTACTS = (
    "Given Name,Surname,Email Address,Mobile,Account Name,Birthday\n"
    "Ada,Lovelace,ADA@example.com,+44 20 7946 0958,Analytical,1815-12-10\n"
    "Grace,,grace@example.com,,Navy,1906-12-09\n"
    "Alan,Turing, ada@EXAMPLE.com ,,Bletchley,23/06/1912\n"
)
MAPPING = (
    '{"Given Name": "first_name", "Surname": "last_name", "Email Address": "email", '
    '"Mobile": "mobile_phone", "Account Name": "account", "Birthday": "birthdate"}'
)
SUMMARY = re.compile(
    r"^job (?P<id>[0-9a-f-]{36}): completed - 3 rows, 2 ok \(1 created, 1 updated, 0 skipped\), 1 errors$"
)


@pytest.fixture(scope="module")
def api_url(
    settings: Settings, pool: asyncpg.Pool, worker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    proc, url = api_process(settings, tmp_path_factory.mktemp("api") / "api.log")
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.fixture
async def tenant(pool: asyncpg.Pool) -> Tenant:
    return await new_tenant(pool, "remote-cli")


class Cli:
    """`crmio` as a user on another machine runs it: its own working directory and only the remote settings."""

    def __init__(self, url: str, key: str, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {
            "CRMIO_API_URL": url,
            "CRMIO_API_KEY": key,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
        }

    def __call__(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CRMIO), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"crmio {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args, "--json"))  # stdout is exactly one JSON document


@pytest.fixture
def cli(api_url: str, tenant: Tenant, tmp_path: Path) -> Cli:
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    return Cli(api_url, tenant.key, work)


def _import_contacts(cli: Cli) -> dict[str, Any]:
    args = ("import", "contacts.csv", "--model", "contact", "--mapping", MAPPING, "--duplicates", "update")
    job: dict[str, Any] = cli.json(*args, "--date-order", "DMY", "--wait")
    return job


def test_import_wait_shows_progress_and_prints_the_summary(cli: Cli) -> None:
    done = cli(
        "import", "contacts.csv", "--model", "contact", "--mapping", MAPPING, "--duplicates", "update",
        "--date-order", "DMY", "--wait",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SUMMARY.match(done.stdout.strip()), done.stdout
    assert "completed" in done.stderr and "3/3" in done.stderr and "errors 1" in done.stderr  # the progress bar

    quiet = cli("status", SUMMARY.match(done.stdout.strip())["id"], "--wait", "--quiet")  # type: ignore[index]
    assert quiet.returncode == 0 and quiet.stderr == "" and SUMMARY.match(quiet.stdout.strip())


def test_import_status_logs_and_the_error_report(cli: Cli) -> None:
    job = _import_contacts(cli)
    assert job["job_status"] == "completed" and job["original_filename"] == "contacts.csv"
    assert (job["total_records"], job["processed_records"], job["success_records"], job["error_records"]) == (
        3,
        3,
        2,
        1,
    )
    assert (job["created_records"], job["updated_records"], job["skipped_records"]) == (1, 1, 0)

    assert SUMMARY.match(cli.ok("status", job["id"]).strip())
    status = cli.json("status", job["id"])
    assert status["id"] == job["id"] and status["success_records"] == 2

    (entry,) = cli.json("logs", job["id"], "--level", "error")
    assert entry["record_number"] == 2 and entry["field"] == "last_name" and "row 2" in entry["message"]
    assert cli.ok("logs", job["id"], "--level", "error").startswith("error   row 2")

    # The error report lands in the working directory under the API's name for it.
    assert cli.ok("results", job["id"], "--kind", "errors").strip() == str(cli.cwd / "contacts-errors.csv")
    with (cli.cwd / "contacts-errors.csv").open(encoding="utf-8-sig", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["crmio_row"], row["crmio_level"], row["crmio_field"]) == ("2", "error", "last_name")
    assert (row["Given Name"], row["Email Address"], row["Surname"]) == ("Grace", "grace@example.com", "")

    doc = cli.json("results", job["id"], "--kind", "errors", "--format", "excel", "--output", "report.xlsx")
    assert doc == {
        "job_id": job["id"],
        "kind": "errors",
        "format": "excel",
        "path": "report.xlsx",  # as given, like the local CLI
        "rows": 1,
    }
    sheet = load_workbook(cli.cwd / "report.xlsx", read_only=True).worksheets[0]
    assert [r[:3] for r in sheet.iter_rows(min_row=2, values_only=True)] == [("2", "error", "last_name")]

    success = cli.json("results", job["id"], "--kind", "success")
    assert success["rows"] == 2 and Path(success["path"]).name == "contacts-success.csv"
    assert not list(cli.cwd.glob(".*.partial"))


def test_export_downloads_the_file_and_download_fetches_it_again(cli: Cli) -> None:
    _import_contacts(cli)
    path = cli.ok("export", "--model", "contact", "--format", "csv", "--fields", "email,first_name", "--wait")
    out = Path(path.strip())
    assert out.parent == cli.cwd and out.suffix == ".csv"
    with out.open(encoding="utf-8-sig", newline="") as f:
        assert list(csv.reader(f)) == [["email", "first_name"], ["ada@example.com", "Alan"]]

    job_id = cli.ok("export", "--model", "contact", "--format", "json").strip()  # no --wait: the id at once
    uuid.UUID(job_id)
    assert cli.json("status", job_id, "--wait", "--quiet")["job_status"] == "completed"
    got = cli.json("download", job_id, "--output", "contacts.json")
    assert got["path"] == str(cli.cwd / "contacts.json") and got["bytes"] > 0
    (record,) = orjson.loads((cli.cwd / "contacts.json").read_bytes())
    assert record["email"] == "ada@example.com" and record["last_name"] == "Turing"

    refused = cli("download", cli.json("jobs", "--type", "import")["jobs"][0]["id"])
    assert refused.returncode == 2 and "only a completed export has one" in refused.stderr


def test_jobs_lists_the_company_jobs_newest_first(cli: Cli) -> None:
    first = _import_contacts(cli)
    export = cli.json("export", "--model", "contact", "--format", "csv", "--wait", "--quiet")
    listed = cli.json("jobs")
    assert listed["total"] == 2 and [j["id"] for j in listed["jobs"]] == [export["id"], first["id"]]
    assert [j["id"] for j in cli.json("jobs", "--type", "import")["jobs"]] == [first["id"]]
    lines = cli.ok("jobs", "--model", "contact").splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{first['id']}  import contact completed 3/3  ")


async def test_cancel_a_running_import(cli: Cli, tenant: Tenant, pool: asyncpg.Pool, run_import: Any) -> None:
    path = write_csv(make_leads(200_000, seed=19), cli.cwd / "big.csv")
    job = await run_import(path, company=tenant.id, duplicates="update", wait=False)

    async def some_applied() -> bool:
        async with pool.acquire() as conn:
            n = await conn.fetchval("SELECT count(*) FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job["id"]))
        return bool(n)

    await eventually(some_applied, 120, "the import applying its first rows", interval_s=0.05)
    done = await asyncio.to_thread(cli, "jobs", "cancel", job["id"])
    assert done.returncode == 0, done.stderr
    assert re.match(rf"^job {job['id']}: cancelled - \d+ rows, \d+ ok", done.stdout), done.stdout
    status = await asyncio.to_thread(cli, "status", job["id"], "--json")
    assert status.returncode == 1 and orjson.loads(status.stdout)["job_status"] == "cancelled"  # exit 1: cancelled

    finished = await asyncio.to_thread(_import_contacts, cli)
    again = await asyncio.to_thread(cli, "jobs", "cancel", finished["id"])
    assert again.returncode == 2 and again.stdout == "" and len(again.stderr.splitlines()) == 1
    assert again.stderr.startswith("crmio: ") and "is already completed" in again.stderr


async def test_rollback_removes_what_the_import_created(cli: Cli, tenant: Tenant, pool: asyncpg.Pool) -> None:
    (cli.cwd / "leads.csv").write_text(
        "first_name,last_name,email\nAda,Lovelace,ada@example.com\nGrace,Hopper,grace@example.com\n", encoding="utf-8"
    )
    job = await asyncio.to_thread(cli.json, "import", "leads.csv", "--model", "lead", "--wait")
    assert (job["job_status"], job["created_records"]) == ("completed", 2)
    async with pool.acquire() as conn:
        count = "SELECT count(*) FROM crm_leads WHERE company_id = $1"
        assert await conn.fetchval(count, tenant.id) == 2
        rolled = await asyncio.to_thread(cli.json, "rollback", job["id"], "--wait")
        assert rolled["job_type"] == "rollback" and rolled["job_status"] == "completed", rolled
        assert await conn.fetchval(count, tenant.id) == 0


def test_retry_imports_the_corrected_error_report(cli: Cli) -> None:
    job = _import_contacts(cli)
    report = cli.cwd / cli.json("results", job["id"], "--kind", "errors", "--output", "fix.csv")["path"]
    with open(report, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    rows[1][rows[0].index("Surname")] = "Hopper"
    with open(report, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)

    retried = cli.json("retry", job["id"], "--file", "fix.csv", "--wait")
    assert retried["job_status"] == "completed" and retried["id"] != job["id"]
    assert (retried["total_records"], retried["created_records"], retried["error_records"]) == (1, 1, 0)
    assert cli.json("results", retried["id"], "--kind", "success", "--output", "ok.csv")["rows"] == 1
    with (cli.cwd / "ok.csv").open(encoding="utf-8-sig", newline="") as f:
        (line,) = list(csv.DictReader(f))
    assert (line["row"], line["outcome"], line["email"]) == ("2", "created", "grace@example.com")


def test_templates_list_create_show_deactivate(cli: Cli) -> None:
    assert cli.json("templates", "list") == {"total": 0, "templates": []}
    made = cli.json(
        "templates", "create", "--name", "Contacts from the fair", "--model", "contact", "--type", "import",
        "--mapping", MAPPING,
    )  # fmt: skip
    assert made["template_name"] == "Contacts from the fair" and made["field_mapping"]["Surname"] == "last_name"
    listed = cli.json("templates", "list")
    assert listed["total"] == 1 and listed["templates"][0]["id"] == made["id"]
    assert cli.ok("templates", "list").strip() == f"{made['id']}  import contact active   Contacts from the fair"
    assert cli.json("templates", "show", made["id"])["id"] == made["id"]

    # The template's mapping over the API: no --mapping on the command line.
    args = ("import", "contacts.csv", "--model", "contact", "--template", made["id"], "--date-order", "DMY")
    job = cli.json(*args, "--wait")
    counts = ("total_records", "created_records", "skipped_records", "error_records")
    assert tuple(job[c] for c in counts) == (3, 1, 1, 1)  # skip: the default duplicate handling

    assert cli.json("templates", "deactivate", made["id"])["is_active"] is False
    _one_line_refusal(cli(*args), "is inactive; activate it or choose another")


def test_schedules_list_create_pause_delete(cli: Cli) -> None:
    assert cli.json("schedules", "list") == []
    job = '{"job_type": "export", "target_model": "lead", "file_format": "csv"}'
    made = cli.json(
        "schedules", "create", "--name", "weekday leads", "--cron", "0 6 * * 1-5", "--tz", "Europe/Berlin", "--job", job
    )
    assert (made["name"], made["cron"], made["timezone"], made["is_active"]) == (
        "weekday leads",
        "0 6 * * 1-5",
        "Europe/Berlin",
        True,
    )
    (listed,) = cli.json("schedules", "list")
    assert listed["id"] == made["id"] and listed["next_run_at"]
    line = cli.ok("schedules", "list").strip()
    assert line.startswith(f"{made['id']}  active") and line.endswith("weekday leads")
    assert cli.json("schedules", "pause", made["id"])["is_active"] is False
    assert cli.json("schedules", "delete", made["id"]) == {"deleted": made["id"]}
    assert cli.json("schedules", "list") == []


def test_picklists_list_add_retire(cli: Cli) -> None:
    (sources,) = cli.json("picklists", "list", "lead_source")
    assert sources["name"] == "lead_source" and "podcast" not in [v["value"] for v in sources["values"]]
    added = cli.ok("picklists", "add", "lead_source", "podcast", "--label", "Podcast", "--synonyms", "Podcasts,Pod")
    assert added.strip() == "lead_source: podcast (Podcast)"
    assert cli.json("picklists", "retire", "lead_source", "podcast")["active"] is False
    assert (
        "  podcast                  Podcast  (retired)  synonyms: Podcasts, Pod"
        in cli.ok("picklists", "list").splitlines()
    )
    _one_line_refusal(cli("picklists", "list", "colour"), "no picklist 'colour'")


def _one_line_refusal(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr)
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("crmio: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def test_a_wrong_key_is_one_line(api_url: str, tmp_path: Path) -> None:
    cli = Cli(api_url, "crmio_not-a-key", tmp_path)
    _one_line_refusal(cli("jobs"), f"the API at {api_url} refused CRMIO_API_KEY", "unknown or revoked")


async def test_a_revoked_key_is_one_line(api_url: str, tenant: Tenant, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        spare, record = await keys.create_key(conn, tenant.id, "member", "spare")
    cli = Cli(api_url, tenant.key, tmp_path)
    assert (await asyncio.to_thread(cli.ok, "keys", "revoke", record.id)).strip() == record.id
    _one_line_refusal(await asyncio.to_thread(Cli(api_url, spare, tmp_path), "status", str(uuid.uuid4())), "refused")


def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    _one_line_refusal(Cli(url, "crmio_any", tmp_path)("jobs"), f"cannot reach the API at {url}", "CRMIO_API_URL")


def test_half_the_remote_settings_is_refused(api_url: str, tmp_path: Path) -> None:
    cli = Cli(api_url, "", tmp_path)
    del cli.env["CRMIO_API_KEY"]
    _one_line_refusal(cli("jobs"), "CRMIO_API_URL is set but CRMIO_API_KEY is not")


@pytest.mark.parametrize(
    "command",
    [
        ("migrate",),
        ("worker",),
        ("purge",),
        ("stack", "up"),
        ("api",),
        ("keys", "create", "--company", str(uuid.uuid4()), "--role", "admin"),
        ("limits", "set", "--max-rows", "5"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_operator_commands_say_they_need_the_local_settings(cli: Cli, command: tuple[str, ...]) -> None:
    _one_line_refusal(cli(*command, timeout=60), "is an operator command", "CRMIO_DATABASE_URL")


def test_the_company_is_the_key_s(cli: Cli, tenant: Tenant) -> None:
    other = str(uuid.uuid4())
    _one_line_refusal(cli("jobs", "--company", other), f"CRMIO_API_KEY belongs to company {tenant.id}, not {other}")
    assert cli.json("jobs", "--company", tenant.id) == {"total": 0, "jobs": []}
    assert cli.json("limits")["company_id"] == tenant.id


def test_api_refusals_keep_their_message_and_exit_code(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    _one_line_refusal(cli("status", missing), f"no job {missing}")
    (cli.cwd / "leads.csv").write_text("Name,E-mail\nAda Lovelace,ada@example.com\n", encoding="utf-8")
    _one_line_refusal(cli("import", "leads.csv", "--model", "lead"), "first_name", "last_name")
    _one_line_refusal(cli("import", "absent.csv", "--model", "lead"), "no such file", "absent.csv")
    _one_line_refusal(cli("import", "contacts.csv", "--model", "contact", "--format", "json"), "not json (--format)")


async def test_a_member_key_may_not_roll_back(api_url: str, tenant: Tenant, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        member, _ = await keys.create_key(conn, tenant.id, "member", "member")
    cli = Cli(api_url, member, tmp_path)
    (tmp_path / "leads.csv").write_text("first_name,last_name,email\nAda,Lovelace,ada@example.com\n", encoding="utf-8")
    job = await asyncio.to_thread(cli.json, "import", "leads.csv", "--model", "lead", "--wait")
    assert job["created_records"] == 1
    _one_line_refusal(await asyncio.to_thread(cli, "rollback", job["id"]), "only an admin key may roll back imports")
