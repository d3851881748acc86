"""Reader benchmark: generates 100k- and 1M-row lead files, prints rows/s and peak RSS per format/reader.

Each reader runs in a fresh child process; its RSS is sampled every 5,000 rows (ru_maxrss would
carry the generating parent's peak over fork and exec). Usage:
    .venv/bin/python bench/bench_readers.py [--rows 100000 1000000] [--only csv xlsx json ods]
The XLSX file is written the way Excel writes one (shared strings, styled date cells); a second
XLSX with inline strings is what openpyxl's write-only mode produces.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["lead_values", "write_csv", "write_xlsx", "write_ods", "write_json", "write_ndjson", "main"]

HEADERS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "title",
    "city",
    "country",
    "status",
    "source",
    "annual_revenue",
    "created_at",
]


def lead_values(i: int) -> list[str | float | int]:
    """One lead row: a mix of repeated and unique strings, a decimal and a date serial."""
    return [
        f"Anna{i % 500}",
        f"Smith{i % 900}",
        f"anna.smith{i}@example.com",
        f"+1 555 {i % 10000:04d}",
        f"Acme, Inc. {i % 3000}",
        "Manager",
        "Berlin",
        "DE",
        "new",
        "web",
        i * 13 % 1_000_000 + 0.5,
        45352 + i % 28,
    ]


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADERS) + "\r\n")
        for i in range(rows):
            v = lead_values(i)
            f.write(
                f'{v[0]},{v[1]},{v[2]},{v[3]},"{v[4]}",{v[5]},{v[6]},{v[7]},{v[8]},{v[9]},'
                f"{v[10]},2024-03-{i % 28 + 1:02d}\r\n"
            )


def write_json(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i in range(rows):
            v = lead_values(i)
            record = dict(zip(HEADERS, v[:11] + [f"2024-03-{i % 28 + 1:02d}"]))
            f.write(("," if i else "") + json.dumps(record) + "\n")
        f.write("]\n")


def write_ndjson(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            v = lead_values(i)
            f.write(json.dumps(dict(zip(HEADERS, v[:11] + [f"2024-03-{i % 28 + 1:02d}"]))) + "\n")


_CT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WB = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _column(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def write_xlsx(path: Path, rows: int, *, inline: bool = False) -> None:
    """An Excel-like workbook (shared strings) or, with ``inline``, openpyxl-like inline strings."""
    strings: dict[str, int] = {}
    cols = [_column(i) for i in range(len(HEADERS))]

    def cell(ref: str, value: str | float | int, style: int = 0) -> str:
        if isinstance(value, str):
            if inline:
                return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
            index = strings.setdefault(value, len(strings))
            return f'<c r="{ref}" t="s"><v>{index}</v></c>'
        s = f' s="{style}"' if style else ""
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WB)
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        zf.writestr("xl/styles.xml", _STYLES)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as raw:
            out: list[str] = [f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{_NS}"><sheetData>']
            out.append('<row r="1">' + "".join(cell(f"{c}1", h) for c, h in zip(cols, HEADERS)) + "</row>")
            for i in range(rows):
                n = i + 2
                values = lead_values(i)
                out.append(
                    f'<row r="{n}">'
                    + "".join(cell(f"{c}{n}", v, 1 if k == 11 else 0) for k, (c, v) in enumerate(zip(cols, values)))
                    + "</row>"
                )
                if len(out) >= 2000:
                    raw.write("".join(out).encode())
                    out.clear()
            out.append("</sheetData></worksheet>")
            raw.write("".join(out).encode())
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as raw:
            raw.write(
                f'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="{_NS}" count="{len(strings)}" '
                f'uniqueCount="{len(strings)}">'.encode()
            )
            chunk: list[str] = []
            for s in strings:
                chunk.append(f"<si><t>{escape(s)}</t></si>")
                if len(chunk) >= 5000:
                    raw.write("".join(chunk).encode())
                    chunk.clear()
            raw.write(("".join(chunk) + "</sst>").encode())


_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def write_ods(path: Path, rows: int) -> None:
    """An OpenDocument spreadsheet as LibreOffice writes one: typed cells, the created_at column a date."""

    def cell(value: str | float | int, date: bool = False) -> str:
        if isinstance(value, str):
            return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'
        if date:
            day = (datetime.date(1899, 12, 30) + datetime.timedelta(days=int(value))).isoformat()
            return (
                f'<table:table-cell office:value-type="date" office:date-value="{day}"><text:p>{day}</text:p>'
                "</table:table-cell>"
            )
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}"><text:p>{value!r}</text:p>'
            "</table:table-cell>"
        )

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        zf.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
        )
        with zf.open("content.xml", "w", force_zip64=True) as raw:
            out = [
                f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_ODS_NS}><office:body>'
                '<office:spreadsheet><table:table table:name="Leads">',
                "<table:table-row>" + "".join(cell(h) for h in HEADERS) + "</table:table-row>",
            ]
            for i in range(rows):
                out.append(
                    "<table:table-row>"
                    + "".join(cell(v, k == 11) for k, v in enumerate(lead_values(i)))
                    + "</table:table-row>"
                )
                if len(out) >= 2000:
                    raw.write("".join(out).encode())
                    out.clear()
            out.append("</table:table></office:spreadsheet></office:body></office:document-content>")
            raw.write("".join(out).encode())


class _Rss:
    """Peak resident set size of this process, sampled."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0

    def sample(self) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)

    def count(self, rows: Iterable[object]) -> int:
        n = 0
        for n, _ in enumerate(rows, 1):
            if n % 5000 == 0:
                self.sample()
        self.sample()
        return n


def _run_ours(path: str, fmt: str, rss: _Rss) -> int:
    from services.ingest.readers import open_table

    with open_table(path, fmt) as reader:  # type: ignore[arg-type]
        return rss.count(reader.rows())


def _run_openpyxl(path: str, fmt: str, rss: _Rss) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    n = rss.count(wb.worksheets[0].iter_rows(values_only=True)) - 1
    wb.close()
    return n


def _run_calamine(path: str, fmt: str, rss: _Rss) -> int:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(path)
    n = rss.count(wb.get_sheet_by_index(0).iter_rows()) - 1
    wb.close()
    return n


def _child(fn: Callable[[str, str, _Rss], int], path: str, fmt: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import warnings

    warnings.simplefilter("ignore")  # openpyxl warns that a generated workbook has no default style
    rss = _Rss()
    start = time.perf_counter()
    n = fn(path, fmt, rss)
    out.put((n, time.perf_counter() - start, rss.peak / 2**20))


def _measure(fn: Callable[[str, str, _Rss], int], path: Path, fmt: str) -> tuple[int, float, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, str(path), fmt, q))
    p.start()
    result = q.get()
    p.join()
    return result  # type: ignore[no-any-return]


def _cases(folder: Path, rows: int, only: set[str]) -> Iterator[tuple[str, Path, str, Callable[[str, str, _Rss], int]]]:
    if "csv" in only:
        p = folder / f"leads_{rows}.csv"
        write_csv(p, rows)
        yield "csv / crmio", p, "csv", _run_ours
    if "json" in only:
        p = folder / f"leads_{rows}.json"
        write_json(p, rows)
        yield "json array / crmio (ijson)", p, "json", _run_ours
        p = folder / f"leads_{rows}.ndjson"
        write_ndjson(p, rows)
        yield "ndjson / crmio", p, "json", _run_ours
    if "xlsx" in only:
        for inline in (False, True):
            p = folder / f"leads_{rows}{'_inline' if inline else ''}.xlsx"
            write_xlsx(p, rows, inline=inline)
            label = "xlsx inline strings" if inline else "xlsx shared strings"
            yield f"{label} / crmio (streaming expat)", p, "excel", _run_ours
            yield f"{label} / python-calamine", p, "excel", _run_calamine
            if rows <= 100_000:
                yield f"{label} / openpyxl read-only", p, "excel", _run_openpyxl
    if "ods" in only:
        p = folder / f"leads_{rows}.ods"
        write_ods(p, rows)
        yield "ods / crmio (python-calamine, held)", p, "excel", _run_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--only", nargs="+", default=["csv", "xlsx", "json"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmio-bench-") as tmp:
        for rows in args.rows:
            for label, path, fmt, fn in _cases(Path(tmp), rows, set(args.only)):
                n, seconds, rss = _measure(fn, path, fmt)
                size = os.path.getsize(path) / 1e6
                print(
                    f"{rows:>9,} rows  {label:<48} {n / seconds:>10,.0f} rows/s  "
                    f"peak RSS {rss:6.0f} MB  ({size:.0f} MB file)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
