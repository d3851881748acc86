"""Every workbook of calamine's own test corpus, read through crmio's readers and python-calamine, cell by cell.

The corpus (MIT licence) lives in ../shared/peer/calamine-tests beside the clone; test.rs there
states what calamine must read. Each file ends in exactly one of three outcomes:

- equal: every sheet's header and rows equal calamine's, in crmio's cell-value convention
  (docs/formats.md); a sheet with no values is refused by both sides alike;
- a listed, reasoned difference where calamine is wrong, stated cell by cell below;
- a typed refusal (InputFileError) whose message is listed below and is true.

Anything else (an untyped exception, an unlisted difference or refusal, a hang, memory past
the bound, a listed outcome that no longer happens) fails the test. The table is printed
whether or not pytest captures output.
"""

from __future__ import annotations

import os
import re
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.core.errors import InputFileError
from services.ingest.readers import ReaderLimits
from tests.calamine_oracle import Table, calamine_table, crmio_table

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "peer" / "calamine-tests"
SECONDS_PER_FILE = 30
# Peak RSS growth over the whole corpus: the largest file is a few MB; readers stream or cap.
MAX_RSS_GROWTH_MB = 400
LIMITS = ReaderLimits()

# Where calamine is wrong: the exact differences (ours vs calamine) and why ours is right.
DIFFERENCES: dict[str, tuple[str, list[str]]] = {
    "sheet_name_parsing.xls": (
        "the BIFF8 strings are UTF-16 (xlrd and Excel read 'Titel'); calamine decodes them as 8-bit "
        "text, leaving a NUL after every letter",
        [
            "Sheet1: calamine header unusable: the column name 'T\\x00i\\x00t\\x00e\\x00l\\x00' holds a NUL "
            "character or invalid Unicode; rename the column (file 'sheet_name_parsing.xls')"
        ],
    ),
}

# Refusals: the file, a pattern its message must match, and why the refusal is right.
_PASSWORD = r"protected with a password: remove the password in Excel \(File > Info > Protect Workbook"
REFUSALS: dict[str, tuple[str, str]] = {
    "OOM_alloc3.xls": (
        r"the \.xls file is damaged and cannot be read .* save it as \.xlsx",
        "its directory points past the end of the file; calamine refuses it too",
    ),
    "issue252.xlsx": (
        r"the workbook part xl/_rels/workbook\.xml\.rels is damaged \(Bad CRC-32",
        "a part's data does not match its checksum; calamine refuses it too",
    ),
    "issue_385.xls": (_PASSWORD, "an encrypted .xls; calamine refuses it too"),
    "pass_protected.xlsx": (_PASSWORD, "an encrypted .xlsx (an OLE2 EncryptedPackage)"),
    "pass_protected.xlsb": (_PASSWORD, "an encrypted .xlsb (an OLE2 EncryptedPackage)"),
    "pass_protected.ods": (
        r"protected with a password: remove the password in LibreOffice",
        "an encrypted .ods (manifest encryption-data)",
    ),
    "issue_594_dos.ods": (
        r"spans [\d,]+ cells from its first to its last value, more than the [\d,]+ this "
        r"format can be read with \(max_held_cells\)",
        "a few KB that repeat cells billions of times: a memory bomb, measured before loading",
    ),
    "too_small.xls": (
        r"the file's content is neither an Excel nor an OpenDocument workbook",
        "68 bytes of text named .xls",
    ),
    "errors.xlsx": (
        r"\(sheet row 1\) shows spreadsheet errors \(#DIV/0!\) instead of column names",
        "every cell of the first sheet is an error value: there is no header row",
    ),
    "picture_richdata.xlsx": (
        r"\(sheet row 2\) shows spreadsheet errors \(#VALUE!\) instead of column names",
        "the first used row holds a picture in a cell, which files store as #VALUE!",
    ),
    "pictures_in_cell_and_over_cell.xlsx": (
        r"\(sheet row 1\) shows spreadsheet errors \(#VALUE!\) instead of column names",
        "the first used row holds a picture in a cell, which files store as #VALUE!",
    ),
}
_EMPTY = re.compile(r"^the (sheet '.*' holds no values; choose|file is empty: its only sheet)")


@contextmanager
def _deadline(seconds: int, file: str) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError(f"{file}: still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _differences(sheet: str, ours: Table, theirs: Table) -> list[str]:
    found = []
    if ours.headers != theirs.headers:
        found.append(f"{sheet}: header {ours.headers!r} vs {theirs.headers!r}")
    mine, other = dict(ours.rows), dict(theirs.rows)
    for number in sorted(set(mine) | set(other)):
        a, b = mine.get(number), other.get(number)
        if a == b:
            continue
        if a is None or b is None:
            found.append(f"{sheet}: row {number} {a!r} vs {b!r}")
            continue
        for col, (x, y) in enumerate(zip(a, b)):
            if x != y:
                found.append(f"{sheet}: row {number} column {col + 1} {x!r} vs {y!r}")
    return found


def _sheet_outcome(path: Path, sheet: str) -> tuple[str, list[str]]:
    """("equal" | "empty" | "differ" | "refused", details) for one sheet."""
    try:
        ours, _ = crmio_table(path, sheet, LIMITS)
    except InputFileError as exc:
        ours = exc  # type: ignore[assignment]
    try:
        theirs = calamine_table(path, sheet, LIMITS)
    except InputFileError as exc:  # calamine's header is not a header crmio could take
        return "differ", [f"{sheet}: calamine header unusable: {exc}"]
    if isinstance(ours, InputFileError):
        if theirs is None and _EMPTY.match(ours.message):
            return "empty", []
        return "differ", [
            f"{sheet}: crmio refused ({ours}) but calamine reads {len(theirs.rows) if theirs else 0} rows"
        ]
    if theirs is None:
        return "differ", [f"{sheet}: calamine finds no values, crmio reads {len(ours.rows)} rows"]
    found = _differences(sheet, ours, theirs)
    return ("differ", found) if found else ("equal", [])


def _file_outcome(path: Path) -> tuple[str, str]:
    """(outcome, detail) for one file; outcome is equal, difference, refusal or FAIL."""
    name = path.name
    try:
        _, sheet_names = crmio_table(path, None, LIMITS)
    except InputFileError as exc:
        if _EMPTY.match(exc.message):
            sheet_names = None
        else:
            pattern, why = REFUSALS.get(name, (None, ""))
            if pattern is None:
                return "FAIL", f"unlisted refusal: {exc}"
            if not re.search(pattern, exc.message):
                return "FAIL", f"refusal message {exc.message!r} does not match {pattern!r}"
            return "refusal", f"{exc.message[:90]}… ({why})"
    if name in REFUSALS:
        return "FAIL", "listed as a refusal but crmio reads it"
    if sheet_names is None:
        # The first sheet is empty; the other sheets come from calamine's list of worksheets.
        import python_calamine as pc

        book = pc.CalamineWorkbook.from_path(os.fspath(path))
        sheet_names = [m.name for m in book.sheets_metadata if m.typ == pc.SheetTypeEnum.WorkSheet]
    found: list[str] = []
    outcomes = []
    for sheet in sheet_names:
        outcome, details = _sheet_outcome(path, sheet)
        outcomes.append(outcome)
        found += details
    if name in DIFFERENCES:
        why, expected = DIFFERENCES[name]
        if found != expected:
            return "FAIL", f"listed differences changed: now {found!r}"
        return "difference", why
    if found:
        return "FAIL", "; ".join(found[:5])
    if "equal" not in outcomes:
        return "refusal", "every sheet is empty; calamine finds no values either"
    return "equal", f"{outcomes.count('equal')} sheet(s) equal, {outcomes.count('empty')} empty on both sides"


def test_every_corpus_workbook_reads_like_calamine(capsys: pytest.CaptureFixture[str]) -> None:
    if not CORPUS.is_dir():
        pytest.fail(
            f"the calamine test corpus is missing: expected the folder {CORPUS} (shared/peer/calamine-tests "
            "beside the clone, read-only in CI); restore it rather than skipping this test"
        )
    files = sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in {".xls", ".xlsx", ".xlsm", ".xlsb", ".ods"})
    assert len(files) >= 130, f"the corpus at {CORPUS} holds only {len(files)} workbooks; it should hold 132"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    table: list[tuple[str, str, str]] = []
    for path in files:
        try:
            with _deadline(SECONDS_PER_FILE, path.name):
                outcome, detail = _file_outcome(path)
        except Exception as exc:  # noqa: BLE001 - an untyped exception is what this test exists to find
            outcome, detail = "FAIL", f"untyped {type(exc).__name__}: {exc}"
        table.append((outcome, path.name, detail))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - before
    counts = {k: sum(1 for o, _, _ in table if o == k) for k in ("equal", "difference", "refusal", "FAIL")}
    lines = [
        f"calamine corpus ({len(files)} workbooks): {counts['equal']} equal, {counts['difference']} reasoned "
        f"differences, {counts['refusal']} typed refusals, {counts['FAIL']} failures; peak RSS grew {grown} MB"
    ]
    lines += [f"  {o:<10} {name:<40} {detail}" for o, name, detail in table]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    failures = [f"{name}: {detail}" for o, name, detail in table if o == "FAIL"]
    assert not failures, "\n".join(failures)
    unused = set(REFUSALS) | set(DIFFERENCES)
    unused -= {name for _, name, _ in table}
    assert not unused, f"listed files not in the corpus: {sorted(unused)}"
    assert grown < MAX_RSS_GROWTH_MB, f"reading the corpus grew peak RSS by {grown} MB"
