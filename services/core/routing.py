"""Which record partition a row travels on: the same answer in the splitter and in every worker."""

from __future__ import annotations

import zlib

__all__ = ["partition_for"]


def partition_for(key: str | None, number: int, partitions: int) -> int:
    """Stable partition of a row: by its duplicate-match key, or spread by row number when it has none."""
    if key is None:
        return number % partitions
    return zlib.crc32(key.encode()) % partitions
