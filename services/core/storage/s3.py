"""The S3-compatible backend (AWS S3, MinIO, Ceph, GCS interoperability, S3Proxy), on boto3.

Objects are ``<s3_prefix><company uuid>/<relative path>`` in one bucket. Large files go up in parts
(multipart upload above ``s3_multipart_threshold_bytes``, an aborted upload leaves no object); reads are
ranged GETs (``range_reader``), so a preview reads a file's first rows and the .xlsx reader its zip
directory and sheet, never the whole object. The client is made on first use in each process (the split's
child process makes its own) and is thread-safe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3  # only an S3 deployment imports this module (services.core.storage.of)
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from services.core.errors import NotFound
from services.core.settings import Settings
from services.core.storage.base import ObjectInfo, Storage
from services.core.storage.keys import company_part, folder_prefix, object_key, safe_rel
from services.core.storage.range_reader import RangeReader, open_ranges
from services.core.storage.s3_errors import BROKEN_BODY, S3Errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Storage"]

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class S3Storage(Storage):
    backend = "s3"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.errors = S3Errors(settings)
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, tuple[Settings]]:
        """Pickled (into the split process) as its settings: the other process uses its own store and client."""
        from services.core.storage import of

        return of, (self.settings,)

    def describe(self) -> str:
        return f"bucket {self.bucket!r} at {self.errors.endpoint}" + (
            f", prefix {self.prefix!r}" if self.prefix else ""
        )

    @property
    def scratch_dir(self) -> Path:
        return self.settings.scratch_dir

    @property
    def client(self) -> S3Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> S3Client:
        s = self.settings
        config = Config(
            region_name=s.s3_region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if s.s3_path_style else "auto"},
            retries={"max_attempts": s.s3_max_attempts, "mode": "standard"},
            connect_timeout=s.s3_connect_timeout_s,
            read_timeout=s.s3_read_timeout_s,
            max_pool_connections=16,
            # Checksums only where the API requires them: S3-compatible servers (MinIO, Ceph, GCS
            # interoperability, S3Proxy) do not all take the newer CRC headers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        secret = s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
        with self.errors.translate("connecting"):
            return boto3.session.Session().client(
                "s3",
                endpoint_url=s.s3_endpoint_url or None,
                aws_access_key_id=s.s3_access_key_id or None,
                aws_secret_access_key=secret,
                config=config,
            )

    def _transfer(self) -> TransferConfig:
        s = self.settings
        return TransferConfig(
            multipart_threshold=s.s3_multipart_threshold_bytes,
            multipart_chunksize=s.s3_multipart_part_bytes,
            max_concurrency=4,
        )

    def _key(self, company_id: str, rel: str) -> str:
        return object_key(self.prefix, company_id, rel)

    def check(self) -> None:
        with self.errors.translate("checking the bucket"):
            self.client.head_bucket(Bucket=self.bucket)

    def size(self, company_id: str, rel: str) -> int | None:
        if safe_rel(rel) is None:
            return None
        try:
            with self.errors.translate(f"measuring {rel!r}"):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(company_id, rel))
        except NotFound:
            return None
        return int(head["ContentLength"])

    def open(self, company_id: str, rel: str, *, size: int | None = None) -> BinaryIO:
        size = self.size(company_id, rel) if size is None else size
        if size is None:
            raise NotFound(f"no stored file {rel!r} for this company")
        key = self._key(company_id, rel)

        def fetch(first: int, last: int) -> Any:
            with self.errors.translate(f"reading {rel!r}"):
                return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{last}")["Body"]

        raw = RangeReader(
            fetch, size, broken=BROKEN_BODY, fail=lambda exc: self.errors.unavailable(f"reading {rel!r}", exc)
        )
        return open_ranges(raw)

    def put(self, company_id: str, rel: str, source: Path, *, move: bool = False) -> int:
        key, size = self._key(company_id, rel), source.stat().st_size
        with self.errors.translate(f"storing {rel!r}"):
            self.client.upload_file(str(source), self.bucket, key, Config=self._transfer())
        if move:
            source.unlink(missing_ok=True)
        return size

    def remove(self, company_id: str, rels: Iterable[str]) -> tuple[int, int]:
        found = [
            (rel, n) for rel in rels if safe_rel(rel) is not None and (n := self.size(company_id, rel)) is not None
        ]
        for start in range(0, len(found), _DELETE_BATCH):
            batch = found[start : start + _DELETE_BATCH]
            with self.errors.translate("deleting stored files"):
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._key(company_id, rel)} for rel, _ in batch], "Quiet": True},
                )
        return len(found), sum(n for _, n in found)

    def list(self, company_id: str, folder: str) -> list[ObjectInfo]:
        base = f"{self.prefix}{company_part(company_id)}/"
        prefix = base + folder_prefix(folder)
        found = []
        with self.errors.translate(f"listing {folder!r}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    modified: dt.datetime = item["LastModified"]
                    found.append(ObjectInfo(item["Key"][len(base) :], int(item["Size"]), modified.timestamp()))
        return found

    def move(self, company_id: str, source_rel: str, target_rel: str) -> None:
        source, target = self._key(company_id, source_rel), self._key(company_id, target_rel)
        with self.errors.translate(f"moving {source_rel!r}"):
            self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target, Config=self._transfer())
            self.client.delete_object(Bucket=self.bucket, Key=source)

    def download(self, company_id: str, rel: str, target: Path) -> None:
        if self.size(company_id, rel) is None:
            raise NotFound(f"no stored file {rel!r} for this company")
        with self.errors.translate(f"reading {rel!r}"):
            self.client.download_file(self.bucket, self._key(company_id, rel), str(target), Config=self._transfer())

    @contextlib.contextmanager
    def local_copy(self, company_id: str, rel: str) -> Iterator[Path]:
        with self.scratch(Path(rel).suffix) as path:
            self.download(company_id, rel, path)
            yield path
