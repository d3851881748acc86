"""The garbage collector's settings for the processes that move rows: the worker and its split processes."""

from __future__ import annotations

import gc

__all__ = ["for_row_streams"]


def for_row_streams() -> None:
    """Collect rarely, and never look at what was imported before: rows allocate millions of short-lived
    lists and dicts, and at the default thresholds (a collection every 700 allocations) the collector's
    passes cost a split about a tenth of its CPU (`bench/bench_split_gc.py`). Call it once the
    process has imported what it runs, which then lives as long as the process."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
