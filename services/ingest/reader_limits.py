"""The readers' limits for a deployment (settings) and, when it has one, a company's own row limit."""

from __future__ import annotations

from services.core.settings import Settings
from services.ingest.readers import ReaderLimits

__all__ = ["reader_limits"]


def reader_limits(settings: Settings, max_rows: int | None = None) -> ReaderLimits:
    """The readers' limits; ``max_rows``: the company's own row limit, when it has one."""
    return ReaderLimits(
        max_rows=max_rows or settings.max_rows,
        max_columns=settings.max_columns,
        max_field_bytes=settings.max_field_bytes,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
    )
