"""Company storage without a database: which paths are a company's stored files, their sizes, removal, the
quota's refusal and its message."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.core import storage
from services.core.errors import StorageQuotaExceeded
from services.core.storage import local
from services.jobs.limits import CompanyLimits
from services.jobs.stored_files import check_room

COMPANY = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


def _file(base: Path, company: str, rel: str, data: bytes = b"x") -> Path:
    path = storage.company_dir(base, company) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_path_is_a_stored_file_only_inside_the_companys_own_folder(tmp_path: Path) -> None:
    mine = _file(tmp_path, COMPANY, "uploads/a.csv")
    theirs = _file(tmp_path, OTHER, "uploads/b.csv")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("x")
    link = storage.company_dir(tmp_path, COMPANY) / "uploads" / "link.csv"
    link.symlink_to(theirs)
    assert storage.relative_path(tmp_path, COMPANY, mine) == "uploads/a.csv"
    assert storage.relative_path(tmp_path, COMPANY, mine.parent / ".." / "uploads" / "a.csv") == "uploads/a.csv"
    assert storage.relative_path(tmp_path, COMPANY, theirs) is None
    assert storage.relative_path(tmp_path, COMPANY, outside) is None
    assert storage.relative_path(tmp_path, COMPANY, link) is None  # resolves into another company's folder
    assert storage.relative_path(tmp_path, COMPANY, mine.parent) is None  # a folder is no stored file


def test_sizes_and_removal_never_reach_outside_the_companys_folder(tmp_path: Path) -> None:
    _file(tmp_path, COMPANY, "uploads/a.csv", b"12345")
    theirs = _file(tmp_path, OTHER, "uploads/b.csv", b"123")
    assert storage.size_of(tmp_path, COMPANY, "uploads/a.csv") == 5
    assert storage.size_of(tmp_path, COMPANY, "uploads/missing.csv") is None
    assert storage.size_of(tmp_path, COMPANY, f"../{OTHER}/uploads/b.csv") is None
    assert storage.size_of(tmp_path, COMPANY, "upload:1234") is None
    assert storage.size_of(tmp_path, COMPANY, "") is None
    removed = storage.remove(tmp_path, COMPANY, ["uploads/a.csv", "uploads/missing.csv", f"../{OTHER}/uploads/b.csv"])
    assert removed == (1, 5)
    assert theirs.exists() and not (storage.company_dir(tmp_path, COMPANY) / "uploads/a.csv").exists()


def test_a_copy_that_fails_half_way_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"x" * 3_000_000)

    def broken(src: object, dst: object, length: int = 0) -> None:
        dst.write(b"partial")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.shutil, "copyfileobj", broken)
    with pytest.raises(OSError, match="No space left"):
        storage.store_file(tmp_path / "storage", COMPANY, source, suffix=".csv")
    assert not any(p.is_file() for p in (tmp_path / "storage").rglob("*"))


def _limits(max_storage_bytes: int) -> CompanyLimits:
    return CompanyLimits(
        max_running_jobs=2,
        max_file_bytes=1_000,
        max_rows=1_000,
        job_retention_days=90,
        file_retention_days=30,
        max_storage_bytes=max_storage_bytes,
    )


def test_the_quota_refuses_what_would_pass_it_and_says_what_frees_space() -> None:
    check_room(_limits(1_000), COMPANY, 600, 400, "storing 'a.csv' (400 bytes)")  # exactly full is allowed
    with pytest.raises(StorageQuotaExceeded) as refused:
        check_room(_limits(1_000), COMPANY, 600, 401, "storing 'a.csv' (401 bytes)")
    message = refused.value.message
    assert refused.value.http_status == 413 and not refused.value.retriable
    assert message.startswith("storing 'a.csv' (401 bytes) would pass this company's storage quota: 600 of 1,000")
    assert "DELETE /api/v1/uploads/ID" in message and "30 days after the job ended" in message
    assert f"crmio limits set --company {COMPANY} --max-storage-bytes BYTES" in message
