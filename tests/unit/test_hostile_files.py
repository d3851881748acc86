"""Every generated hostile file (tests/hostile.py) through the code paths of the API upload and of the
worker's split, without broker or database: each ends in the expected typed error or row errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from schemas.models import get_model
from services.cleansing.cleaning import CleanOptions
from services.core.errors import CrmioError, InputFileError
from services.ingest import uploads
from services.ingest.filetype import check_file
from services.ingest.readers import ReaderLimits
from services.ingest.splitter import open_import
from tests.hostile import CASES, LIMITS, Case, mapping_for, message_matches

LEAD = get_model("lead")
READER_LIMITS = ReaderLimits(
    max_rows=5_000_000,
    max_columns=LIMITS["max_columns"],
    max_field_bytes=LIMITS["max_field_bytes"],
    max_uncompressed_bytes=LIMITS["max_uncompressed_bytes"],
)


def upload_path(case: Case, tmp_path: Path) -> dict[str, Any]:
    """What POST /api/v1/uploads and the preview do with the file: the outcome as data."""
    path = tmp_path / "stored"
    path.write_bytes(case.data)
    try:
        fmt = uploads.accept_file(path, case.filename)
        insp = uploads.inspect_file(
            path, fmt, case.filename, limits=READER_LIMITS, preview_rows=20, count_rows_max=100_000
        )
        doc = uploads.preview_records(
            path,
            fmt,
            case.filename,
            model=LEAD,
            mapping=mapping_for(case, insp.headers),
            memory=None,
            rules=None,
            options=CleanOptions(),
            sheet=None,
            rows=100_000,
            limits=READER_LIMITS,
        )
    except CrmioError as exc:
        return {"error": exc}
    errors = {
        r["record_number"]: " | ".join(f"{i['field']}: {i['message']}" for i in r["issues"] if i["level"] == "error")
        for r in doc["rows"]
        if not r["ok"]
    }
    warnings = {
        r["record_number"]: " | ".join(f"{i['field']}: {i['message']}" for i in r["issues"] if i["level"] == "warning")
        for r in doc["rows"]
        if r["ok"] and r["issues"]
    }
    return {
        "imported": doc["valid_rows"],
        "errors": errors,
        "warnings": warnings,
        "values": [r["values"] for r in doc["rows"] if r["ok"]],
    }


def split_path(case: Case, tmp_path: Path) -> CrmioError | int:
    """What submit_import and the worker's split do: check, open, read every row."""
    path = tmp_path / "job-file"
    path.write_bytes(case.data)
    try:
        ext = case.filename.rpartition(".")[2].lower()
        fmt = check_file(path, {"xlsx": "excel", "ndjson": "json"}.get(ext, ext), case.filename)  # type: ignore[arg-type]
        plan = open_import(path, fmt, LEAD, display_name=case.filename, mapping=None, options={}, limits=READER_LIMITS)
        try:
            return sum(1 for _ in plan.reader.rows())
        finally:
            plan.close()
    except CrmioError as exc:
        return exc


def assert_refusal(case: Case, exc: BaseException) -> None:
    want = case.expect
    assert (type(exc).__name__, getattr(exc, "http_status", None)) == (want.error, want.status), (case.name, exc)
    assert message_matches(want.message, str(exc)), (case.name, str(exc))
    if isinstance(exc, InputFileError):
        assert exc.file == case.filename, (case.name, exc.file)


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert sum(c.expect.kind != "rows" or bool(c.expect.row_errors or c.expect.row_warnings) for c in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upload_and_preview(case: Case, tmp_path: Path) -> None:
    got = upload_path(case, tmp_path)
    want = case.expect
    if want.kind in ("refused", "job_refused"):
        assert "error" in got, (case.name, got)
        assert_refusal(case, got["error"])
        return
    assert "error" not in got, (case.name, str(got.get("error")))
    assert got["imported"] == want.imported, (case.name, got)
    assert set(got["errors"]) == set(want.row_errors), (case.name, got["errors"])
    for number, excerpt in want.row_errors.items():
        assert excerpt.casefold() in got["errors"][number].casefold(), (case.name, number, got["errors"][number])
    for number, excerpt in want.row_warnings.items():
        assert excerpt.casefold() in got["warnings"].get(number, "").casefold(), (case.name, number, got["warnings"])
    if want.stored:
        assert any(all(v.get(f) == x for f, x in want.stored.items()) for v in got["values"]), (
            case.name,
            got["values"],
        )


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expect.kind == "refused"], ids=[c.name for c in CASES if c.expect.kind == "refused"]
)
def test_the_import_path_refuses_the_same_way(case: Case, tmp_path: Path) -> None:
    got = split_path(case, tmp_path)
    assert isinstance(got, CrmioError), (case.name, got)
    assert_refusal(case, got)


def test_defusedxml_is_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.core.errors import ConfigurationError
    from services.ingest.readers import check_xml_safety

    check_xml_safety()
    monkeypatch.setitem(sys.modules, "defusedxml.ElementTree", None)
    with pytest.raises(ConfigurationError, match="defusedxml"):
        check_xml_safety()
