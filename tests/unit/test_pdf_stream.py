"""Streaming PDF writer: a valid file (pypdf, own xref check, qpdf when installed), literal Unicode text, flat memory."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pypdf
import pytest

from schemas.models import get_model
from services.exports.pdf_writer import MAX_LINES, PdfWriter, _faces, _fallback_face
from services.exports.writers import ExportMeta

CONTACT = get_model("contact")
FIELDS = [CONTACT.field(n) for n in ("first_name", "last_name", "email", "phone", "description")]
META = ExportMeta(
    title="Contacts (q1) \\ <i>",
    filters=('status eq "new"',),
    generated_at=dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC),
)
NAMES = "Zoë Ωmega Łódź Москва 東京"


def rows(n: int, start: int = 0) -> list[tuple[str | None, ...]]:
    """Mostly unique values, like real exports (so the show cache cycles rather than fills)."""
    return [
        (
            f"First{i}",
            f"Last{i}",
            f"p{i}@example.com",
            None if i % 3 else "+14155550123",
            None if i % 5 else f"Note {i}: called, left a message",
        )
        for i in range(start, start + n)
    ]


def write(path: Path, data: list[tuple[str | None, ...]], chunk: int = 1000) -> int:
    w = PdfWriter()
    w.open(path, FIELDS, META)
    for i in range(0, len(data), chunk):
        w.write_rows(data[i : i + chunk])
    return w.close()


def check_xref(raw: bytes) -> int:
    """Every in-use xref entry points at its own "N 0 obj"; returns the object count."""
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", raw).group(1))
    assert raw[start : start + 5] == b"xref\n"
    head, count = re.match(rb"xref\n(\d+) (\d+)\n", raw[start:]).groups()
    assert head == b"0"
    body = raw[start:].split(b"\n", 2)[2]
    for number in range(1, int(count)):
        entry = body[number * 20 : (number + 1) * 20]
        assert entry.endswith(b" 00000 n \n"), entry
        offset = int(entry[:10])
        assert raw[offset:].startswith(b"%d 0 obj\n" % number), number
    return int(count)


def test_valid_file_header_on_every_page_and_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    assert write(path, rows(300)) == 300
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF-1.4\n") and check_xref(raw) > 10
    if shutil.which("qpdf"):
        subprocess.run(["qpdf", "--check", str(path)], check=True, capture_output=True)
    reader = pypdf.PdfReader(path, strict=True)
    assert len(reader.pages) >= 3
    assert reader.metadata.title == META.title and reader.metadata.author == "crmio"
    texts = [p.extract_text() for p in reader.pages]
    assert "Generated 2024-03-01 12:00:00 UTC" in texts[0] and 'Filter: status eq "new"' in texts[0]
    for number, text in enumerate(texts, 1):
        assert "First Name" in text and "Email" in text and f"Page {number}" in text
        assert META.title in text  # title on page 1, repeated as a running head after it
    shown = [n for t in texts for n in re.findall(r"First(\d+)", t)]
    assert shown == [str(i) for i in range(300)]  # every row once, in order, across the pages
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # landscape A4


def test_text_is_literal_and_unicode_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    tricky = "a) Tj /F9 99 Tf (b \\ c \\) <b>x</b> & co"
    write(path, [(NAMES, "O'Brien (Jr)", tricky, "tab\there\x07bell", "line one\nline two")])
    text = pypdf.PdfReader(path).pages[0].extract_text()
    assert "a) Tj /F9 99 Tf (b \\ c \\) <b>x</b> & co" in text.replace("\n", " ")
    assert "O'Brien (Jr)" in text and "tab here bell" in text and "line one\nline two" in text
    face = _faces()[0].face
    covered = "".join(c for c in NAMES if c == " " or ord(c) in face.charToGlyph)
    assert "Zoë Ωmega Łódź Москва" in covered  # DejaVu Sans (or Vera) covers Latin, Greek, Cyrillic
    for word in covered.split():
        assert word in text
    assert "東京" in text  # not in DejaVu: drawn from the CJK face


def _base_fonts(path: Path) -> set[str]:
    page = pypdf.PdfReader(path).pages[0]
    return {str(f.get_object()["/BaseFont"]).split("+", 1)[-1] for f in page["/Resources"]["/Font"].values()}


def test_chinese_japanese_and_korean_names_print_in_a_cjk_face(tmp_path: Path) -> None:
    face = _fallback_face()
    assert face is not None, "no CJK font: install Debian's fonts-wqy-microhei (stack/install.sh does)"
    path = tmp_path / "out.pdf"
    names = [
        ("山田", "太郎", "yamada@example.jp", None, "東京都 渋谷区 (本社)"),
        ("김", "민준", "kim@example.kr", None, "서울특별시 강남구"),
        ("さくら", "Müller-Łódź", "sakura@example.jp", None, "Mixed: Zoë 東京 Москва"),
    ]
    write(path, names)
    text = pypdf.PdfReader(path).pages[0].extract_text()
    for first, last, _, _, note in names:
        assert first in text and last in text and note in text
    for ch in "山田太郎東京都渋谷区本社김민준서울특별시강남구さくら":
        assert ord(ch) not in _faces()[0].face.charToGlyph and ord(ch) in face.face.charToGlyph
    assert any(name.startswith("WenQuanYi") for name in _base_fonts(path))
    pypdf.PdfReader(path, strict=True)


def test_a_document_without_cjk_text_embeds_no_cjk_font(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    write(path, rows(50) + [(NAMES.replace(" 東京", ""), "Łódź", "x@example.com", None, None)])
    assert not any(name.startswith("WenQuanYi") for name in _base_fonts(path))


def test_long_cells_stop_at_max_lines_with_an_ellipsis(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    write(path, [("A", "B", "c@example.com", None, "word " * 200)])
    text = pypdf.PdfReader(path).pages[0].extract_text()
    assert "…" in text and 2 < text.count("word word") and text.count("\nword") <= MAX_LINES


def test_no_rows_still_gives_a_page_with_the_header(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    assert write(path, []) == 0
    reader = pypdf.PdfReader(path, strict=True)
    assert len(reader.pages) == 1 and "First Name" in reader.pages[0].extract_text()


def test_abort_removes_the_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    w = PdfWriter()
    w.open(path, FIELDS, META)
    w.write_rows(rows(2000))  # pages already on disk (past the write buffer)
    assert path.stat().st_size > 0
    w.abort()
    assert not path.exists()


def peak_bytes(path: Path, n: int) -> int:
    tracemalloc.start()
    try:
        w = PdfWriter()
        w.open(path, FIELDS, META)
        for i in range(0, n, 1000):
            w.write_rows(rows(1000, i))
        w.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    write(tmp_path / "warm.pdf", rows(10))  # font parsing happens once per process, outside the measure
    small = peak_bytes(tmp_path / "small.pdf", 4_000)
    large = peak_bytes(tmp_path / "large.pdf", 20_000)
    # reportlab's Canvas kept ~1.6 KB per row (+26 MB here); the stream keeps offsets only (bytes per page).
    assert large < small * 1.3 + 1_000_000, (small, large)
    assert pytest.approx(len(pypdf.PdfReader(tmp_path / "large.pdf").pages), rel=0.01) == 5 * len(
        pypdf.PdfReader(tmp_path / "small.pdf").pages
    )
