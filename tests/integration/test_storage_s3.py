"""The S3 backend on a real S3 API server (S3Proxy, filesystem backend, started by `crmio stack up --s3`): the
storage contract, multipart uploads, ranged reads by the readers, and one clear message per misconfiguration."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook
from pydantic import SecretStr

from services.core import storage
from services.core.settings import Settings
from services.core.storage.errors import StorageMisconfigured, StorageUnavailable
from services.ingest.readers import open_table
from tests.integration.object_storage import client, keys, s3_settings
from tests.storage_contract import check_contract

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MIB = 1024 * 1024


def test_s3_keeps_the_storage_contract(tmp_path: Path) -> None:
    s3 = s3_settings(Settings(), scratch_dir=tmp_path / "scratch")
    check_contract(storage.of(s3), tmp_path)
    assert keys(s3) == []  # everything the contract stored, it removed


def test_a_large_file_goes_up_in_parts_and_reads_back_whole(tmp_path: Path) -> None:
    s3 = s3_settings(
        Settings(), s3_multipart_threshold_bytes=5 * MIB, s3_multipart_part_bytes=5 * MIB, scratch_dir=tmp_path
    )
    store, company = storage.of(s3), str(uuid.uuid4())
    big = tmp_path / "big.csv"
    big.write_bytes(os.urandom(12 * MIB + 123))
    rel = store.store_file(company, big, suffix=".csv")
    head = client(s3).head_object(Bucket=s3.s3_bucket, Key=keys(s3, company)[0])
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload's ETag counts its parts
    with store.file(company, rel).open() as f:
        assert f.read() == big.read_bytes()
    assert store.remove(company, [rel]) == (1, big.stat().st_size)


def test_the_xlsx_reader_reads_an_object_by_ranges_not_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = s3_settings(Settings(), scratch_dir=tmp_path)
    store, company = storage.of(s3), str(uuid.uuid4())
    book = tmp_path / "leads.xlsx"
    wb = Workbook(write_only=True)
    wb.create_sheet("Big").append(["email", "note"])
    big = wb["Big"]
    for i in range(60_000):
        big.append([f"p{i}@example.com", f"note {i} " * 3])
    small = wb.create_sheet("Small")
    small.append(["email"])
    small.append(["only@example.com"])
    wb.save(book)
    stored = store.file(company, store.store_file(company, book, suffix=".xlsx"))
    opened: list[object] = []
    original = stored.storage.open

    def counting(company_id: str, rel: str, size: int | None = None):  # type: ignore[no-untyped-def]
        f = original(company_id, rel, size=size)
        opened.append(f.raw)  # type: ignore[attr-defined]
        return f

    monkeypatch.setattr(stored.storage, "open", counting)
    with open_table(stored, "excel", display_name="leads.xlsx", sheet="Small") as reader:
        rows = [r.cells for r in reader.rows()]
    assert rows == [["only@example.com"]]
    requests = sum(r.requests for r in opened)  # type: ignore[attr-defined]
    fetched = sum(r.fetched for r in opened)  # type: ignore[attr-defined]
    print(f"{requests} ranged GETs, {fetched:,} of {stored.size:,} bytes")
    # The zip directory, the workbook parts and the small sheet; the big sheet's part is never fetched.
    assert fetched < stored.size / 2, (requests, fetched, stored.size)
    store.remove(company, [stored.rel])


def test_each_misconfiguration_says_which_setting_to_fix() -> None:
    s3 = s3_settings(Settings())
    for update, kind, setting in (
        ({"s3_bucket": f"missing-{uuid.uuid4().hex[:8]}"}, StorageMisconfigured, "CRMIO_S3_BUCKET"),
        ({"s3_secret_access_key": SecretStr("wrong")}, StorageMisconfigured, "CRMIO_S3_SECRET_ACCESS_KEY"),
        ({"s3_endpoint_url": "http://127.0.0.1:1", "s3_max_attempts": 1}, StorageUnavailable, "CRMIO_S3_ENDPOINT_URL"),
        ({"s3_endpoint_url": "not a url"}, StorageMisconfigured, "CRMIO_S3_ENDPOINT_URL"),
    ):
        with pytest.raises(kind) as refused:
            storage.prepare(s3.model_copy(update=update))
        assert setting in refused.value.message, refused.value.message
