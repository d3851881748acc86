"""Storage figures: storing and reading back a large file in the local folder and in S3 (the local S3Proxy of
`crmio stack up --s3`), and what a preview of a large .xlsx costs read by ranges against a spill copy.

    .venv/bin/python -m bench.bench_storage [--mb 100]

Prints one line per operation: seconds and MB/s. Uses a key prefix of its own and removes what it stored.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from services.core import storage
from services.core.settings import Settings
from services.ingest.readers import open_table
from stack import s3proxy

T = TypeVar("T")


def _timed(label: str, mb: float, run: Callable[[], T]) -> T:
    started = time.perf_counter()
    out = run()
    took = time.perf_counter() - started
    print(f"{label:52} {took:7.2f} s  {mb / took:8.1f} MB/s" if mb else f"{label:52} {took:7.2f} s")
    return out


def _read_all(store: storage.Storage, company: str, rel: str) -> None:
    with store.file(company, rel).open() as f:
        while f.read(1024 * 1024):
            pass


def _xlsx(path: Path, rows: int) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Leads")
    ws.append(["email", "first_name", "last_name", "company", "notes"])
    for i in range(rows):
        ws.append([f"p{i}@example.com", f"First{i}", f"Last{i}", f"Company {i % 997}", f"note {i} " * 4])
    wb.save(path)
    return path


def _preview(source: object) -> None:
    with open_table(source, "excel", display_name="leads.xlsx") as reader:  # type: ignore[arg-type]
        for n, _ in enumerate(reader.rows()):
            if n >= 20:
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=100, help="size of the file stored and read back")
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crmio-bench-storage-"))
    cfg = s3proxy.config(Settings())
    base = Settings(storage_dir=work / "storage", scratch_dir=work / "scratch")
    s3 = base.model_copy(
        update={
            "storage_backend": "s3",
            "s3_endpoint_url": cfg.endpoint,
            "s3_bucket": cfg.bucket,
            "s3_access_key_id": cfg.access_key,
            "s3_secret_access_key": SecretStr(cfg.secret),
            "s3_path_style": True,
            "s3_prefix": f"bench-{uuid.uuid4().hex[:8]}/",
        }
    )
    big = work / "big.csv"
    with big.open("wb") as f:
        for _ in range(args.mb):
            f.write(os.urandom(1024 * 1024))
    company = str(uuid.uuid4())
    print(f"{args.mb} MB file; S3 = S3Proxy {s3.s3proxy_version} at {cfg.endpoint} (filesystem backend, same machine)")
    for name, settings in (("local folder", base), ("S3", s3)):
        store = storage.of(settings)
        store.check()
        how = " (multipart, 8 MiB parts)" if settings.storage_backend == "s3" else " (a copy)"
        rel = _timed(f"{name}: store{how}", args.mb, lambda s=store: s.store_file(company, big, suffix=".csv"))
        how = " (ranged GETs)" if settings.storage_backend == "s3" else " (page cache)"
        _timed(f"{name}: read whole, streamed{how}", args.mb, lambda s=store, r=rel: _read_all(s, company, r))
        _timed(f"{name}: download to a local file", args.mb, lambda s=store, r=rel: s.download(company, r, work / "dl"))
        store.remove(company, [rel])

    book = _xlsx(work / "leads.xlsx", args.xlsx_rows)
    mb = book.stat().st_size / 2**20
    print(f"\n.xlsx of {args.xlsx_rows:,} rows, {mb:.1f} MB: a preview (headers and 20 rows)")
    for name, settings in (("local folder", base), ("S3", s3)):
        store = storage.of(settings)
        rel = store.store_file(company, book, suffix=".xlsx")
        stored = store.file(company, rel)
        _timed(f"{name}: preview read by ranges", 0, lambda f=stored: _preview(f))
        if name == "S3":

            def spilled(s: storage.Storage = store, r: str = rel) -> None:
                with s.local_copy(company, r) as local:
                    _preview(local)

            _timed(f"{name}: preview from a spill copy (download first)", 0, spilled)
        store.remove(company, [rel])


if __name__ == "__main__":
    main()
