"""The streaming measure of an .ods sheet's error cells stays linear (issue 14 item 5)."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

from services.ingest.readers.held_extent import MAX_ERROR_CELLS, Scan, ods_cells
from services.ingest.readers.zipguard import GuardedZip

_CALC = 'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'


def _ods(path: Path, rows_xml: str) -> Path:
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Leads">{rows_xml}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
    return path


def _error_rows(repeated: int) -> str:
    return (
        f'<table:table-row table:number-rows-repeated="{repeated}"><table:table-cell {_CALC} '
        'office:value-type="float" calcext:value-type="error"><text:p>#N/A</text:p></table:table-cell>'
        "</table:table-row>"
    )


def test_repeated_error_rows_are_counted_in_linear_time(tmp_path: Path) -> None:
    # A few hundred bytes: one error cell repeated down 150,000 rows. Counting the recorded errors
    # again for every cell made this quadratic (20,000 rows took 8 s, these about 10 minutes).
    path = _ods(tmp_path / "errors.ods", _error_rows(150_000) + _error_rows(150_000))
    started = time.perf_counter()
    archive = GuardedZip(path, name="errors.ods", max_uncompressed_bytes=10**8)
    try:
        scan = ods_cells(archive, "errors.ods")
    finally:
        archive.close()
    assert time.perf_counter() - started < 10
    assert scan.cells == 300_000
    assert sum(len(cells) for cells in scan.errors["Leads"].values()) == MAX_ERROR_CELLS
    assert scan.too_many_errors


def test_scan_caps_error_cells_per_sheet() -> None:
    scan = Scan()
    for row in range(MAX_ERROR_CELLS):
        scan.error("a", row, 0, "#N/A")
    assert not scan.too_many_errors
    scan.error("b", 0, 0, "#REF!")  # another sheet has its own allowance
    assert not scan.too_many_errors
    scan.error("a", MAX_ERROR_CELLS, 0, "#N/A")
    assert scan.too_many_errors
    assert len(scan.errors["a"]) == MAX_ERROR_CELLS
    assert scan.errors["b"] == {0: [(0, "#REF!")]}
