"""The storage interface without object storage: company-scoped keys, the local folder backend's contract,
the ranged reader (over a fake GET), and the readers reading a stored file through ranges exactly as they
read a local path."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest
from openpyxl import Workbook

from services.core.errors import InputFileError
from services.core.settings import Settings
from services.core.storage import LocalStorage, of
from services.core.storage.errors import StorageMisconfigured
from services.core.storage.keys import checked_rel, object_key, safe_rel
from services.core.storage.range_reader import MIN_WINDOW, RangeReader, open_ranges
from services.ingest.filetype import check_file
from services.ingest.readers import open_table
from tests.storage_contract import check_contract

COMPANY = str(uuid.uuid4())


def test_keys_stay_under_the_company_prefix() -> None:
    assert object_key("crmio/", COMPANY, "uploads/a.csv") == f"crmio/{COMPANY}/uploads/a.csv"
    for bad in ("../x", "a/../../b", "/abs", "a//b", "./a", "a/.", "", "a\x00"):
        assert safe_rel(bad) is None
        with pytest.raises(InputFileError, match="name a file crmio stored for your company"):
            checked_rel(bad)
    with pytest.raises(ValueError):
        object_key("", "not-a-uuid", "uploads/a.csv")  # a company is a uuid, never a path


def test_the_local_folder_keeps_the_storage_contract(tmp_path: Path) -> None:
    check_contract(LocalStorage(tmp_path / "storage"), tmp_path)


def test_a_scratch_file_is_put_in_by_a_rename_and_stale_ones_are_swept(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "storage")
    scratch = store.new_scratch(".csv")
    assert scratch.parent == tmp_path / "storage" / ".scratch"
    scratch.write_bytes(b"x")
    inode = scratch.stat().st_ino
    store.put(COMPANY, "uploads/a.csv", scratch, move=True)
    assert (tmp_path / "storage" / COMPANY / "uploads" / "a.csv").stat().st_ino == inode  # no copy
    left = store.new_scratch()
    assert store.sweep_scratch(3600) == 0 and left.exists()
    assert store.sweep_scratch(-1) == 1 and not left.exists()


def test_the_backend_comes_from_the_settings(tmp_path: Path) -> None:
    assert isinstance(of(Settings(storage_dir=tmp_path)), LocalStorage)
    assert of(Settings(storage_dir=tmp_path)) is of(Settings(storage_dir=tmp_path))  # one per process
    with pytest.raises(StorageMisconfigured, match="CRMIO_S3_PREFIX"):
        of(Settings(storage_backend="s3", s3_prefix="no-slash"))
    with pytest.raises(StorageMisconfigured, match="CRMIO_S3_BUCKET"):
        of(Settings(storage_backend="s3", s3_bucket=""))


class _Body:
    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._f, self._fail_after = io.BytesIO(data), fail_after

    def read(self, amt: int | None = None) -> bytes:
        if self._fail_after is not None and self._f.tell() >= self._fail_after:
            raise ConnectionResetError("connection reset by peer")
        return self._f.read(amt)

    def close(self) -> None:
        pass


@dataclass
class _Object:
    """An object behind ranged GETs, counting them; ``breaks`` bodies fail part way."""

    data: bytes
    gets: list[tuple[int, int]] = field(default_factory=list)
    breaks: int = 0

    def fetch(self, first: int, last: int) -> _Body:
        self.gets.append((first, last))
        fail = None
        if self.breaks:
            self.breaks -= 1
            fail = min(1000, last - first)
        return _Body(self.data[first : last + 1], fail)

    def reader(self) -> io.BufferedReader:
        return open_ranges(RangeReader(self.fetch, len(self.data)))


def test_sequential_reads_double_their_window_and_a_seek_starts_small() -> None:
    obj = _Object(bytes(range(256)) * 40_000)  # 10 MB
    with obj.reader() as f:
        assert f.read() == obj.data
    sizes = [last - first + 1 for first, last in obj.gets]
    assert sizes[0] == MIN_WINDOW and all(b == 2 * a for a, b in zip(sizes, sizes[1:-1]))
    assert len(obj.gets) <= 7  # 10 MB in windows of 256 KiB, 512 KiB, ... 4 MiB, the rest
    obj.gets.clear()
    with obj.reader() as f:
        f.seek(-22, io.SEEK_END)
        assert f.read() == obj.data[-22:]
        f.seek(5_000_000)
        assert f.read(10) == obj.data[5_000_000:5_000_010]
    assert [first for first, _ in obj.gets] == [len(obj.data) - 22, 5_000_000]


def test_a_body_that_breaks_mid_read_is_asked_for_again_from_where_it_broke() -> None:
    obj = _Object(b"0123456789" * 100_000, breaks=2)
    with obj.reader() as f:
        assert f.read() == obj.data


@dataclass(frozen=True)
class _Stored:
    """A stored file that is no local file: what the S3 backend hands the readers."""

    obj: _Object
    name: str
    path: Path | None = None

    @property
    def size(self) -> int:
        return len(self.obj.data)

    def open(self) -> BinaryIO:
        return self.obj.reader()  # type: ignore[return-value]

    @contextmanager
    def local_path(self) -> Iterator[Path]:
        raise AssertionError("a streamed format is never spilled")
        yield Path()


def _rows(source: object, fmt: str, name: str) -> list[list[str | None]]:
    with open_table(source, fmt, display_name=name) as reader:  # type: ignore[arg-type]
        return [reader.info.headers] + [r.cells for r in reader.rows()]


def test_readers_read_a_stored_object_through_ranges_as_they_read_the_file(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "last_name"])
        w.writerows([f"p{i}@example.com", f"Name {i}"] for i in range(20_000))
    obj = _Object(path.read_bytes())
    assert check_file(_Stored(obj, "leads.csv"), "csv", "leads.csv") == "csv"
    assert _rows(_Stored(obj, "leads.csv"), "csv", "leads.csv") == _rows(path, "csv", "leads.csv")

    book = tmp_path / "leads.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Leads")
    ws.append(["email", "last_name"])
    for i in range(20_000):
        ws.append([f"p{i}@example.com", f"Name {i}"])
    wb.create_sheet("Other").append(["x"])
    wb.save(book)
    obj = _Object(book.read_bytes())
    assert check_file(_Stored(obj, "leads.xlsx"), "excel", "leads.xlsx") == "excel"
    assert _rows(_Stored(obj, "leads.xlsx"), "excel", "leads.xlsx") == _rows(book, "excel", "leads.xlsx")
    fetched = sum(last - first + 1 for first, last in obj.gets)
    assert fetched < 4 * len(obj.data)  # the directory, the sheet and its strings: no whole-file refetching
