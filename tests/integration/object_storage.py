"""Settings for S3 storage on the local S3Proxy (`crmio stack up --s3`, which `make test` runs), a key prefix
per test so tests never see each other's objects, and a plain client to look into the bucket."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from services.core import storage
from services.core.settings import Settings
from stack import s3proxy


def s3_settings(settings: Settings, **update: Any) -> Settings:
    """``settings`` with the s3 backend on the local S3Proxy; fails (never skips) when it is not running."""
    cfg = s3proxy.config(Settings())
    s3 = settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_endpoint_url": cfg.endpoint,
            "s3_bucket": cfg.bucket,
            "s3_access_key_id": cfg.access_key,
            "s3_secret_access_key": SecretStr(cfg.secret),
            "s3_path_style": True,
            "s3_prefix": f"test-{uuid.uuid4().hex[:10]}/",
            **update,
        }
    )
    try:
        storage.of(s3).check()
    except storage.StorageUnavailable as exc:
        pytest.fail(f"{exc}. Start S3Proxy with `.venv/bin/crmio stack up --s3` (make test does).", pytrace=False)
    return s3


def client(settings: Settings) -> Any:
    """The S3 client of the settings' store (to look at objects as they are in the bucket)."""
    store = storage.of(settings)
    assert isinstance(store, storage.Storage) and store.backend == "s3"
    return store.client  # type: ignore[attr-defined]


def keys(settings: Settings, prefix: str = "") -> list[str]:
    """Every object key under the settings' prefix (and ``prefix`` after it)."""
    pages = (
        client(settings)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings.s3_bucket, Prefix=settings.s3_prefix + prefix)
    )
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
