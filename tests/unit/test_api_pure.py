"""The API's pure parts: errors.csv rows, progress figures, SSE framing, key hashing, upload inspection."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import orjson
import pytest

from schemas.models import LEAD
from services.api.errors_csv import csv_lines, error_columns, error_row, neutralize
from services.api.sse import format_event
from services.core.errors import UnsupportedFileType
from services.core.storage import generated_name
from services.ingest.readers import ReaderLimits
from services.ingest.uploads import accept_file, inspect_file, suggestions
from services.jobs import keys
from services.jobs.queries import progress_document

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("cell", "out"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd", "'-2+3+cmd"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("-12.50", "-12.50"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_neutralize_formula_cells_but_not_phones_or_numbers(cell: str, out: str) -> None:
    assert neutralize(cell) == out


def test_error_rows_follow_the_models_field_order() -> None:
    columns = error_columns({"Mail": "email", "Vorname": "first_name", "Skip": None}, LEAD.field_names)
    assert columns == ["first_name", "email", "error"]
    row = error_row(columns, {"values": {"email": "a@@b", "first_name": "=1+1"}}, "row 3: email: bad")
    assert row == ["'=1+1", "a@@b", "row 3: email: bad"]
    assert error_row(columns, None, "row 4: broken") == ["", "", "row 4: broken"]
    assert csv_lines([["a,b", 'say "hi"']]) == '"a,b","say ""hi"""\r\n'


def _job(
    status: str, total: int, processed: int, started: dt.datetime | None, completed: dt.datetime | None = None
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "job_status": status,
        "total_records": total,
        "processed_records": processed,
        "started_at": started,
        "completed_at": completed,
    }


def test_progress_rate_and_eta() -> None:
    running = progress_document(_job("running", 1000, 250, T0), now=T0 + dt.timedelta(seconds=5))
    assert (running["percent"], running["records_per_second"], running["eta_seconds"]) == (25.0, 50.0, 15.0)
    pending = progress_document(_job("pending", 0, 0, None), now=T0)
    assert (pending["percent"], pending["records_per_second"], pending["eta_seconds"]) == (0.0, 0.0, None)
    done = progress_document(
        _job("completed", 10, 10, T0, T0 + dt.timedelta(seconds=2)), now=T0 + dt.timedelta(hours=1)
    )
    assert (done["records_per_second"], done["eta_seconds"], done["elapsed_seconds"]) == (5.0, 0.0, 2.0)


def test_sse_framing() -> None:
    raw = format_event("progress", {"id": "j", "n": 1}, "7")
    assert raw.startswith(b"id: 7\nevent: progress\ndata: ") and raw.endswith(b"\n\n")
    assert orjson.loads(raw.split(b"data: ", 1)[1]) == {"id": "j", "n": 1}


def test_keys_are_random_and_hashed() -> None:
    a, b = keys.generate_key(), keys.generate_key()
    assert a != b and a.startswith(keys.KEY_PREFIX) and len(a) >= 40
    assert keys.hash_key(a) == keys.hash_key(a) and len(keys.hash_key(a)) == 64 and keys.hash_key(a) != keys.hash_key(b)


def test_upload_names_are_generated() -> None:
    rel = generated_name("uploads", "../../etc/passwd.csv")
    assert rel.startswith("uploads/") and rel.endswith(".csv") and rel.count("/") == 1
    rel2 = generated_name("uploads", "weird.c$v")
    assert "." not in rel2.removeprefix("uploads/")


def test_accept_file_judges_content(tmp_path: Path) -> None:
    csv_file = tmp_path / "x.xlsx"
    csv_file.write_text("a,b\n1,2\n")
    with pytest.raises(UnsupportedFileType):
        accept_file(csv_file, "leads.xlsx")
    with pytest.raises(UnsupportedFileType):
        accept_file(csv_file, "leads.exe")
    assert accept_file(csv_file, "leads.csv") == "csv"


def test_inspect_counts_exactly_then_estimates(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("First Name,Surname,E-mail\n" + "".join(f"A{i},B{i},a{i}@x.com\n" for i in range(50)))
    exact = inspect_file(path, "csv", "l.csv", limits=ReaderLimits(), preview_rows=3, count_rows_max=100)
    assert exact.headers == ["First Name", "Surname", "E-mail"] and exact.delimiter == ","
    assert exact.rows == [["A0", "B0", "a0@x.com"], ["A1", "B1", "a1@x.com"], ["A2", "B2", "a2@x.com"]]
    assert (exact.row_estimate, exact.row_estimate_exact) == (50, True)
    capped = inspect_file(path, "csv", "l.csv", limits=ReaderLimits(), preview_rows=3, count_rows_max=10)
    assert (capped.row_estimate, capped.row_estimate_exact) == (50, False)


def test_suggestions_prefer_memory() -> None:
    plain = suggestions(["Given", "Mail"], {}, ["lead"])["lead"]
    assert plain[0]["field"] is None and plain[1] == {"column": "Mail", "field": "email", "confidence": 0.9}
    remembered = suggestions(["Given"], {"lead": {"given": "first_name"}}, ["lead"])["lead"]
    assert remembered == [{"column": "Given", "field": "first_name", "confidence": 1.0}]
