"""Company-scoped file storage behind one interface (``Storage``): the local folder (the default) or
S3-compatible object storage (``storage_backend = "s3"``). ``of(settings)`` is the process's store.

Uploads, job files and exports live under the company's folder or key prefix, named by crmio, never by
users; which files a company keeps, their sizes and who names them are recorded in the database
(services.jobs.stored_files). The local folder's plain functions (``company_dir``, ``resolve``, ...) stay
exported for tests that look into a company's folder; the product goes through ``of(settings)``.
"""

from __future__ import annotations

import threading

from services.core.settings import Settings
from services.core.storage.base import ObjectInfo, Storage, StoredFile, generated_name
from services.core.storage.errors import StorageMisconfigured, StorageUnavailable
from services.core.storage.local import (
    LocalStorage,
    company_dir,
    relative_path,
    remove,
    resolve,
    size_of,
    store_file,
)

__all__ = [
    "of",
    "prepare",
    "Storage",
    "StoredFile",
    "ObjectInfo",
    "LocalStorage",
    "StorageMisconfigured",
    "StorageUnavailable",
    "generated_name",
    "company_dir",
    "relative_path",
    "remove",
    "resolve",
    "size_of",
    "store_file",
]

_stores: dict[tuple[object, ...], Storage] = {}
_lock = threading.Lock()


def _identity(settings: Settings) -> tuple[object, ...]:
    return tuple(
        getattr(settings, name)
        for name in sorted(Settings.model_fields)
        if name.startswith("s3_") or name in ("storage_backend", "storage_dir", "scratch_dir")
    )


def _make(settings: Settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(settings.storage_dir)
    prefix = settings.s3_prefix
    if prefix and (not prefix.endswith("/") or prefix.startswith("/") or "//" in prefix):
        raise StorageMisconfigured(f"CRMIO_S3_PREFIX={prefix!r} must be empty or a path ending in '/' (e.g. 'crmio/')")
    if not settings.s3_bucket:
        raise StorageMisconfigured("CRMIO_STORAGE_BACKEND=s3 needs a bucket: set CRMIO_S3_BUCKET")
    from services.core.storage.s3 import S3Storage  # only an S3 deployment imports boto3

    return S3Storage(settings)


def of(settings: Settings) -> Storage:
    """The store these settings name, made once per process (its S3 client is shared, thread-safe)."""
    key = _identity(settings)
    found = _stores.get(key)
    if found is None:
        with _lock:
            found = _stores.setdefault(key, _make(settings))
    return found


# A scratch file this old belongs to a process that died (uploads, exports and spills last minutes).
SCRATCH_MAX_AGE_S = 24 * 3600.0


def prepare(settings: Settings) -> Storage:
    """At a process's start: the store, checked (StorageMisconfigured or StorageUnavailable naming the
    setting), and the scratch files of dead processes swept. Blocking."""
    store = of(settings)
    store.check()
    store.sweep_scratch(SCRATCH_MAX_AGE_S)
    return store
