"""Content detection and the extension / declared format / content agreement check."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from services.core.errors import UnsupportedFileType
from services.ingest.filetype import check_file, detect_format

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def xlsx(path: Path, *, macros: bool = False) -> Path:
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.save(path)
    if macros:
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("xl/vbaProject.bin", b"\x00macro")
    return path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a,b\n1,2\n", "csv"),
        ("a;b\nJos\xe9;1\n".encode("latin-1"), "csv"),
        ("a,b\n1,2\n".encode("utf-16"), "csv"),
        (b"\xef\xbb\xbfa,b\n", "csv"),
        (b'\xef\xbb\xbf [ {"a": 1}]', "json"),
        (b'{"a": 1}\n{"a": 2}\n', "json"),
        (b"[]", "json"),
        (b"[1, 2]", "csv"),  # not an array of objects: the reader would refuse it as JSON
        (OLE2 + b"\x00" * 504, "excel"),
        (b"", None),
        (b"a,b\x00\x01\n", None),
        (b"<!DOCTYPE html><html><body>x</body></html>", None),
        (b"%PDF-1.7\n", None),
        (b"\x7fELF\x02\x01\x01", None),
        (b"MZ\x90\x00\x03", None),
        (bytes(range(1, 32)) * 10, None),
    ],
)
def test_detect_format_by_content(tmp_path: Path, data: bytes, expected: str | None) -> None:
    path = tmp_path / "upload.bin"  # the name never matters to detection
    path.write_bytes(data)
    assert detect_format(path) == expected


def test_detect_xlsx_and_refuse_other_zips(tmp_path: Path) -> None:
    assert detect_format(xlsx(tmp_path / "a.bin")) == "excel"
    assert detect_format(xlsx(tmp_path / "m.bin", macros=True)) is None
    plain = tmp_path / "z.bin"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    assert detect_format(plain) is None


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("leads.csv", "csv"),
        ("LEADS.TXT", "csv"),
        ("x.tsv", "csv"),
        ("x.json", "json"),
        ("x.ndjson", "json"),
        ("x.jsonl", "json"),
    ],
)
def test_check_file_accepts_agreement(tmp_path: Path, name: str, declared: str) -> None:
    path = tmp_path / "stored"
    path.write_bytes(b'[{"a": 1}]' if declared == "json" else b"a\tb\n1\t2\n")
    assert check_file(path, declared, name) == declared  # type: ignore[arg-type]


def test_check_file_accepts_xlsx_and_xls(tmp_path: Path) -> None:
    assert check_file(xlsx(tmp_path / "s1"), "excel", "Leads.xlsx") == "excel"
    old = tmp_path / "s2"
    old.write_bytes(OLE2 + b"\x00" * 504)
    assert check_file(old, "excel", "old.xls") == "excel"


@pytest.mark.parametrize(
    ("content", "declared", "name", "message"),
    [
        (b"a,b\n", "csv", "leads.exe", "not supported"),
        (b"a,b\n", "csv", "leads", "not supported"),
        (b"a,b\n", "excel", "leads.csv", "file name says csv"),
        (b"a,b\n", "csv", "leads.xlsx", "file name says excel"),
        (b'[{"a": 1}]', "csv", "leads.csv", "content is JSON"),
        (b"a,b\n", "json", "leads.json", "content is text"),
        (b"MZ\x90\x00", "csv", "leads.csv", "Windows program"),
        (b"\x7fELF\x02", "csv", "leads.csv", "ELF"),
        (b"<html><body></body></html>", "csv", "leads.csv", "HTML"),
        (b"%PDF-1.4", "excel", "leads.xlsx", "PDF"),
        (b"a,b\x00\x00\n", "csv", "leads.csv", "binary"),
    ],
)
def test_check_file_refuses_disagreement(
    tmp_path: Path, content: bytes, declared: str, name: str, message: str
) -> None:
    path = tmp_path / "stored"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFileType, match=message) as err:
        check_file(path, declared, name)  # type: ignore[arg-type]
    assert err.value.file == name


def test_check_file_refuses_macro_workbook(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFileType, match="macros"):
        check_file(xlsx(tmp_path / "m", macros=True), "excel", "budget.xlsx")


def test_check_file_refuses_xlsx_content_named_csv(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFileType, match="Excel workbook"):
        check_file(xlsx(tmp_path / "s"), "csv", "leads.csv")
