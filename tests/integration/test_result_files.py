"""Result files on the running system (real broker, database, worker, HTTP API and CLI): the success
file equals the ledger, the error file holds every original column of the failed and warned rows
with what is wrong, the .xlsx highlights exactly the offending cells, and a corrected error file
(CSV or .xlsx) retries its rows under their original row numbers."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from openpyxl import load_workbook

from services.core.settings import Settings
from services.result_files import open_result
from services.result_files.issues import ISSUE_COLUMNS
from services.result_files.writers import ERROR_FILL, WARNING_FILL
from tests.integration.test_api import api_settings, base_url, client, new_company, wait_final  # noqa: F401 - fixtures
from tests.integration.test_cli import crmio

pytestmark = pytest.mark.integration

HEADER = ["First Name", "Last Name", "E-mail", "Title", "Annual Revenue", "Internal Notes", "Code"]
# "Internal Notes" and "Code" are not mapped: the error file must still carry them.
MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "E-mail": "email",
    "Title": "title",
    "Annual Revenue": "annual_revenue",
}
ROWS = [
    ["Ada", "Lovelace", "ada@example.com", "CTO", "1000", '=HYPERLINK("http://x")', "C1"],  # 1 created
    ["Bob", "Builder", "bob@", "Dev", "2000", "note 2", "C2"],  # 2 failed: email
    ["Cy", "Seen", "seen@example.com", "Ops", "3000", "note 3", "C3"],  # 3 skipped (stored)
    ["Dee", "Dot", "dee@example.com", "QA", "lots", "=1+1", "C4"],  # 4 created, warning
    ["Eve", "", "eve@", "", "", "note 5", "C5"],  # 5 failed: last name, email
    ["Fay", "Fox", "fay@example.com", "PM", "6000", "note 6", "C6"],  # 6 created
    ["Gus", "Gray", "=cmd|' /C calc'!A0", "CEO", "7000", "note 7", "C7"],  # 7 failed: email (a formula)
]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def read_csv(data: bytes | str) -> list[list[str]]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def neutral(text: str) -> str:
    return "'" + text if text.startswith(("=", "@")) else text


async def ledger(pool: asyncpg.Pool, job_id: str) -> dict[int, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT record_number, outcome, record_id FROM crm_import_ledger WHERE job_id = $1", uuid.UUID(job_id)
        )
    return {r["record_number"]: r for r in rows}


async def issue_logs(pool: asyncpg.Pool, job_id: str) -> dict[int, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT record_number, log_level, message, record_data FROM crm_import_export_logs "
            "WHERE job_id = $1 AND log_level IN ('error', 'warning') AND record_number IS NOT NULL",
            uuid.UUID(job_id),
        )
    return {r["record_number"]: r for r in rows}


async def records(pool: asyncpg.Pool, company: str) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, email, match_key, first_name, last_name FROM crm_leads WHERE company_id = $1", company
        )
    return {r["email"]: r for r in rows}


def success_expected(led: dict[int, asyncpg.Record], recs: dict[str, asyncpg.Record]) -> list[list[str]]:
    by_id = {r["id"]: r for r in recs.values()}
    out = []
    for n in sorted(led):
        row = led[n]
        if row["outcome"] == "failed":
            continue
        rec = by_id[row["record_id"]]
        out.append(
            [
                str(n),
                row["outcome"],
                str(row["record_id"]),
                rec["match_key"],
                rec["email"],
                rec["first_name"],
                rec["last_name"],
                "",
            ]
        )
    return out


def highlighted(path: Path) -> dict[tuple[int, int], tuple[str, str]]:
    """(sheet row, column index) -> (fill colour, comment) of every filled cell of the first sheet."""
    ws = load_workbook(path).worksheets[0]
    out = {}
    for r, row in enumerate(ws.iter_rows(), 1):
        for c, cell in enumerate(row):
            if cell.fill is not None and cell.fill.fill_type == "solid":
                out[(r, c)] = (cell.fill.fgColor.rgb, cell.comment.text if cell.comment else "")
    return out


def sheet_values(path: Path) -> list[list[str]]:
    ws = load_workbook(path).worksheets[0]
    return [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]


def expected_marks(
    header: list[str], logs: dict[int, asyncpg.Record], line_of: dict[int, int]
) -> dict[tuple[int, int], str]:
    """From the logs alone: (sheet row, column) -> colour of every cell holding an offending value."""
    column_of_field = {field: header.index(col) for col, field in MAPPING.items()}
    out: dict[tuple[int, int], str] = {}
    for n, log in logs.items():
        for issue in log["record_data"]["issues"]:
            if issue["field"] in column_of_field:
                key = (line_of[n], column_of_field[issue["field"]])
                colour = ERROR_FILL if issue["level"] == "error" else WARNING_FILL
                out[key] = ERROR_FILL if out.get(key) == ERROR_FILL else colour
    return out


async def _seeded_import(pool: asyncpg.Pool, run_import: Any, tmp_path: Path, company: str) -> dict[str, Any]:
    seed = await run_import(
        write_csv(tmp_path / "seed.csv", [["Cy", "Seen", "seen@example.com", "Old", "", "", ""]]),
        company=company,
        mapping=MAPPING,
    )
    assert seed["created_records"] == 1
    job = await run_import(write_csv(tmp_path / "leads.csv", ROWS), company=company, mapping=MAPPING)
    assert (job["created_records"], job["skipped_records"], job["error_records"]) == (3, 1, 3), job
    return job


async def test_success_and_error_files_over_the_api(
    pool: asyncpg.Pool,
    run_import: Any,
    client: httpx.AsyncClient,
    tmp_path: Path,  # noqa: F811
) -> None:
    acme, globex = await new_company(pool), await new_company(pool)
    job = await _seeded_import(pool, run_import, tmp_path, acme.id)
    led, logs, recs = await ledger(pool, job["id"]), await issue_logs(pool, job["id"]), await records(pool, acme.id)
    assert {n: r["outcome"] for n, r in led.items()} == {
        1: "created",
        2: "failed",
        3: "skipped",
        4: "created",
        5: "failed",
        6: "created",
        7: "failed",
    }
    assert {n: log["log_level"] for n, log in logs.items()} == {2: "error", 4: "warning", 5: "error", 7: "error"}
    url = f"/api/v1/jobs/{job['id']}/results"

    # Success file: exactly the ledger's rows that landed, with the record's id, match key and main fields.
    got = await client.get(url, params={"kind": "success", "format": "csv"}, headers=acme.auth())
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert 'filename="leads-success.csv"' in got.headers["content-disposition"]
    success = read_csv(got.content)
    assert success[0] == ["row", "outcome", "record_id", "match_key", "email", "first_name", "last_name", "company"]
    assert success[1:] == success_expected(led, recs)
    assert [r[:2] for r in success[1:]] == [["1", "created"], ["3", "skipped"], ["4", "created"], ["6", "created"]]
    assert success[2][2] == str(recs["seen@example.com"]["id"])  # the skipped row names the stored record

    # Error file: every original column (mapped or not) of the failed and warned rows, as uploaded.
    got = await client.get(url, params={"kind": "errors", "format": "csv"}, headers=acme.auth())
    assert got.status_code == 200, got.text
    errors = read_csv(got.content)
    assert errors[0] == [*ISSUE_COLUMNS, *HEADER]
    lines = {int(r[0]): r for r in errors[1:]}
    assert list(lines) == [2, 4, 5, 7]
    for n, line in lines.items():
        assert line[len(ISSUE_COLUMNS) :] == [neutral(c) for c in ROWS[n - 1]]  # formulas neutralized
        assert line[1] == logs[n]["log_level"]
        for issue in logs[n]["record_data"]["issues"]:
            assert issue["field"] in line[2].split("; ") and issue["message"] in line[4] and issue["hint"] in line[5]
    assert lines[2][2:4] == ["email", "bob@"]
    assert lines[4][1:4] == ["warning", "annual_revenue", "lots"]
    assert lines[4][len(ISSUE_COLUMNS) + 5] == "'=1+1"
    assert set(lines[5][2].split("; ")) == {"last_name", "email"}
    assert lines[7][len(ISSUE_COLUMNS) + 2] == "'=cmd|' /C calc'!A0"

    # The same files as .xlsx: same cells; the offending cells, and only they, are filled, with a comment.
    for kind, expected in (("success", success), ("errors", errors)):
        got = await client.get(url, params={"kind": kind, "format": "excel"}, headers=acme.auth())
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        path = tmp_path / f"{kind}.xlsx"
        path.write_bytes(got.content)
        assert sheet_values(path) == expected
        marks = highlighted(path)
        if kind == "success":
            assert marks == {}
            continue
        header = [*ISSUE_COLUMNS, *HEADER]
        line_of = {n: i + 2 for i, n in enumerate(lines)}  # sheet row of each import row (header is row 1)
        assert {k: colour for k, (colour, _) in marks.items()} == expected_marks(header, logs, line_of)
        assert marks[(line_of[2], header.index("E-mail"))][0] == ERROR_FILL
        assert marks[(line_of[4], header.index("Annual Revenue"))][0] == WARNING_FILL
        assert {(line_of[5], header.index("Last Name")), (line_of[5], header.index("E-mail"))} <= set(marks)
        for (r, _), (_, comment) in marks.items():
            n = next(k for k, v in line_of.items() if v == r)
            assert any(i["message"] in comment for i in logs[n]["record_data"]["issues"])

    # Today's errors.csv keeps working beside them.
    got = await client.get(f"/api/v1/jobs/{job['id']}/errors.csv", headers=acme.auth())
    assert got.status_code == 200 and len(read_csv(got.content)) == 1 + 3

    # The API's retry takes the corrected .xlsx (uploaded like any file): rows 2 and 5 land under their numbers.
    header = [*ISSUE_COLUMNS, *HEADER]
    wb = load_workbook(tmp_path / "errors.xlsx")
    ws = wb.worksheets[0]
    ws.cell(row=2, column=header.index("E-mail") + 1).value = "bob@example.com"
    ws.cell(row=4, column=header.index("E-mail") + 1).value = "eve@example.com"
    ws.cell(row=4, column=header.index("Last Name") + 1).value = "Evans"
    wb.save(tmp_path / "fixed.xlsx")
    up = await client.post(
        "/api/v1/uploads",
        headers=acme.auth(),
        files={
            "file": (
                "fixed.xlsx",
                (tmp_path / "fixed.xlsx").read_bytes(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
    )
    assert up.status_code == 201, up.text
    retry = await client.post(
        f"/api/v1/jobs/{job['id']}/retry", headers=acme.auth(), json={"upload_id": up.json()["id"]}
    )
    assert retry.status_code == 201, retry.text
    retried = await wait_final(client, acme, retry.json()["id"])
    assert (retried["created_records"], retried["error_records"]) == (2, 1), retried
    assert {n: r["outcome"] for n, r in (await ledger(pool, retried["id"])).items()} == {
        2: "created",
        5: "created",
        7: "failed",
    }
    # Another company cannot retry it either.
    assert (
        await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=globex.auth(), json={"upload_id": up.json()["id"]})
    ).status_code == 404

    # Another company's job is not there; nor is an unknown kind.
    for params in ({"kind": "success", "format": "csv"}, {"kind": "errors", "format": "excel"}):
        got = await client.get(url, params=params, headers=globex.auth())
        assert got.status_code == 404, got.text
    assert (await client.get(url, params={"kind": "everything"}, headers=acme.auth())).status_code == 422
    assert (await client.get(url, params={"kind": "errors"})).status_code == 401


async def test_cli_writes_both_kinds_in_both_formats_and_refuses_another_company(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    await run_import(write_csv(tmp_path / "first.csv", ROWS[:1] + ROWS[5:6]), company=company, mapping=MAPPING)
    # Update mode: rows 1 and 2 match stored records, row 3 is new, row 4 fails.
    rows = [
        ["Ada", "King", "ada@example.com", "CEO", "1", "n", "c"],
        ["Fay", "Fox", "FAY@example.com", "", "", "", ""],
        ["Hal", "Hill", "hal@example.com", "", "", "", ""],
        ["Ivy", "", "", "", "", "x", "y"],
    ]
    job = await run_import(
        write_csv(tmp_path / "second.csv", rows), company=company, mapping=MAPPING, duplicates="update"
    )
    assert (job["updated_records"], job["created_records"], job["error_records"]) == (2, 1, 1), job
    led, recs = await ledger(pool, job["id"]), await records(pool, company)
    files = {}
    for kind in ("success", "errors"):
        for fmt, ext in (("csv", "csv"), ("excel", "xlsx")):
            out = tmp_path / f"{kind}.{ext}"
            done = crmio(
                settings,
                "results",
                job["id"],
                "--company",
                company,
                "--kind",
                kind,
                "--format",
                fmt,
                "--output",
                str(out),
                "--json",
            )
            assert done.returncode == 0, done.stderr
            doc = orjson.loads(done.stdout)
            assert doc["path"] == str(out) and doc["rows"] == (3 if kind == "success" else 1)
            files[kind, fmt] = read_csv(out.read_text(encoding="utf-8")) if fmt == "csv" else sheet_values(out)
    assert files["success", "csv"][1:] == success_expected(led, recs)
    assert [r[1] for r in files["success", "csv"][1:]] == ["updated", "updated", "created"]
    assert files["errors", "csv"][1:] == [
        [
            "4",
            "error",
            "last_name",
            "",
            files["errors", "csv"][1][4],
            files["errors", "csv"][1][5],
            "Ivy",
            "",
            "",
            "",
            "",
            "x",
            "y",
        ]
    ]
    assert files["success", "excel"] == files["success", "csv"]
    assert files["errors", "excel"] == files["errors", "csv"]
    # Paged one row at a time (every keyset page boundary), the files are the same.
    for kind in ("success", "errors"):
        result = await open_result(settings, pool, company, job["id"], kind, "csv")
        result.page_rows = 1
        streamed = b"".join([chunk async for chunk in result.csv_chunks()])
        assert read_csv(streamed) == files[kind, "csv"]
    # Another company's job is not there.
    done = crmio(settings, "results", job["id"], "--company", str(uuid.uuid4()), "--kind", "errors")
    assert done.returncode == 2 and "no job" in done.stderr


async def test_retry_with_the_corrected_error_file_keeps_the_original_row_numbers(
    settings: Settings, pool: asyncpg.Pool, run_import: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    job = await _seeded_import(pool, run_import, tmp_path, company)
    out = tmp_path / "errors.csv"
    assert (
        crmio(settings, "results", job["id"], "--company", company, "--kind", "errors", "--output", str(out)).returncode
        == 0
    )
    fixed = read_csv(out.read_text(encoding="utf-8"))
    email = len(ISSUE_COLUMNS) + HEADER.index("E-mail")
    last = len(ISSUE_COLUMNS) + HEADER.index("Last Name")
    for line in fixed[1:]:
        if line[0] == "2":
            line[email] = "bob@example.com"
        if line[0] == "5":
            line[email], line[last] = "eve@example.com", "Evans"
    # Row 7 stays broken; row 4 (a warning) stays in the file and is not imported again.
    fixed_path = tmp_path / "fixed-errors.csv"
    with fixed_path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(fixed)
    done = crmio(settings, "retry", job["id"], "--company", company, "--file", str(fixed_path), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    retry = orjson.loads(done.stdout)
    assert (retry["created_records"], retry["error_records"], retry["total_records"]) == (2, 1, 3), retry
    led = await ledger(pool, retry["id"])
    assert {n: r["outcome"] for n, r in led.items()} == {2: "created", 5: "created", 7: "failed"}
    recs = await records(pool, company)
    assert recs["bob@example.com"]["first_name"] == "Bob" and recs["eve@example.com"]["last_name"] == "Evans"
    assert {n: log["log_level"] for n, log in (await issue_logs(pool, retry["id"])).items()} == {7: "error"}

    # The retry's own error file: row 7 again, under its number, with every original column.
    out = tmp_path / "retry-errors.xlsx"
    assert (
        crmio(
            settings,
            "results",
            retry["id"],
            "--company",
            company,
            "--kind",
            "errors",
            "--format",
            "excel",
            "--output",
            str(out),
        ).returncode
        == 0
    )
    values = sheet_values(out)
    assert values[0] == [*ISSUE_COLUMNS, *HEADER]
    assert [r[0] for r in values[1:]] == ["7"] and values[1][len(ISSUE_COLUMNS) :] == [neutral(c) for c in ROWS[6]]

    # Corrected in the .xlsx, as a spreadsheet user would, and retried from it.
    wb = load_workbook(out)
    wb.worksheets[0].cell(row=2, column=email + 1).value = "gus@example.com"
    wb.save(out)
    done = crmio(settings, "retry", retry["id"], "--company", company, "--file", str(out), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    again = orjson.loads(done.stdout)
    assert (again["created_records"], again["error_records"]) == (1, 0), again
    assert {n: r["outcome"] for n, r in (await ledger(pool, again["id"])).items()} == {7: "created"}
    assert (await records(pool, company))["gus@example.com"]["first_name"] == "Gus"

    # A row number that did not fail is refused, naming the row.
    bad = tmp_path / "bad.csv"
    write_csv(bad, [["3", "error", "", "", "", "", *ROWS[2]]], [*ISSUE_COLUMNS, *HEADER])
    done = crmio(settings, "retry", job["id"], "--company", company, "--file", str(bad))
    assert done.returncode == 2 and "row 3 did not fail" in done.stderr
