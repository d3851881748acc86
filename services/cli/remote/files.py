"""Files the remote CLI writes: a download's name and place, written whole or not at all, and its rows counted."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["attachment_name", "target_path", "write_whole", "count_rows"]

_FILENAME = re.compile(r'filename="?([^";]+)"?', re.IGNORECASE)


def attachment_name(disposition: str | None, fallback: str) -> str:
    """The file name a Content-Disposition header proposes, reduced to a bare name (never a path)."""
    match = _FILENAME.search(disposition or "")
    name = PureWindowsPath(PurePosixPath(match.group(1).strip()).name).name if match else ""
    return name if name and name not in (".", "..") and not name.startswith(".") else fallback


def target_path(output: str | None, name: str) -> Path:
    """--output (a file, or a folder to put ``name`` in), or ``name`` in the working directory."""
    if output is None:
        return Path.cwd() / name
    path = Path(output)
    return path / name if path.is_dir() else path


def write_whole(path: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` beside ``path`` and rename: an interrupted run never leaves half a file under the name."""
    partial = path.with_name(f".{path.name}.partial")
    size = 0
    try:
        with partial.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return size


def count_rows(path: Path, fmt: str) -> int:
    """Lines under the header of a result file (CSV, or the first sheet of an .xlsx)."""
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return max(sum(1 for _ in csv.reader(f)) - 1, 0)
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    try:
        sheet = book.worksheets[0]
        return max(sum(1 for _ in sheet.iter_rows(values_only=True)) - 1, 0)
    finally:
        book.close()
