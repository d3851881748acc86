"""The file of row numbers a retry reads again: one number a line."""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_row_numbers", "write_row_numbers"]


def write_row_numbers(path: Path, numbers: list[int]) -> None:
    path.write_text("".join(f"{n}\n" for n in numbers), encoding="ascii")


def read_row_numbers(path: Path) -> frozenset[int]:
    with path.open(encoding="ascii") as f:
        return frozenset(int(line) for line in f if line.strip())
