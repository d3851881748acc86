"""Fresh planner statistics for the companies an import is growing.

PostgreSQL estimates the rows of ``company_id = $1`` from the table's last ANALYZE, and autovacuum analyzes a
table only once a tenth of it has changed. A company missing from those statistics (new, or small then) is
estimated at about one row, so the duplicate lookup (``company_id = $1 AND match_key = ANY($2)``,
services/apply/batch.py) is planned as a scan of the company's whole part of the match index with the keys as
a filter: every batch of a big import reads all the rows the import wrote before it. Measured on a table of
10M leads: 335 ms a lookup of 4,000 keys once the importing company held 540,000 rows (a 1M-row import ran
at two thirds of its rate, and slower the bigger the file), against 33-60 ms with the keys as the index
condition, which is what the plan becomes once ``company_id`` is analyzed.

So a worker analyzes that one column (a 30,000-row sample: about 0.3 s on 10M rows) each time the rows it
has applied for a company to a table pass 20,000, 200,000, 2M, ...: from then on the company is in the
statistics, and until the next threshold its estimate errs low by less than tenfold.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.core.runtime import Runtime

__all__ = ["FreshStatistics", "FIRST_ANALYZE_ROWS", "analyze_company_column", "fresh"]

log = logging.getLogger(__name__)

FIRST_ANALYZE_ROWS = 20_000
_STEP = 10
_TRACKED = 10_000  # (table, company) pairs a worker remembers; past that it starts counting afresh


class FreshStatistics:
    """Rows applied per (table, company) in this process; analyzes a table's company_id when one passes a
    threshold, in the background (the batch that crossed it does not wait), one ANALYZE of a table at a time."""

    def __init__(self, first: int = FIRST_ANALYZE_ROWS) -> None:
        self._first = first
        self._applied: dict[tuple[str, str], tuple[int, int]] = {}  # -> (rows applied, next threshold)
        self._running: dict[str, asyncio.Task[None]] = {}

    def crossed(self, table: str, company_id: str, rows: int) -> bool:
        """Count ``rows`` more; True when the company's count in ``table`` has just passed a threshold."""
        if len(self._applied) >= _TRACKED:
            self._applied.clear()
        applied, due = self._applied.get((table, company_id), (0, self._first))
        applied += rows
        crossed = applied >= due
        while due <= applied:
            due *= _STEP
        self._applied[(table, company_id)] = (applied, due)
        return crossed

    def applied(self, res: Runtime, tables: tuple[str, ...], company_id: str, rows: int) -> None:
        for table in tables:
            if self.crossed(table, company_id, rows) and table not in self._running:
                self._running[table] = asyncio.create_task(self._analyze(res.settings.system_dsn(), table))

    async def _analyze(self, owner_dsn: str, table: str) -> None:
        try:
            await analyze_company_column(owner_dsn, table)
        finally:
            self._running.pop(table, None)

    async def wait(self) -> None:
        """Until the analyses started so far have ended."""
        await asyncio.gather(*self._running.values(), return_exceptions=True)


async def analyze_company_column(owner_dsn: str, table: str) -> None:
    """ANALYZE ``table``'s company_id as the tables' owner, on a connection of its own (on a big table it takes
    seconds, which the worker's pools keep for the apply); a failure is logged, never raised (the statistics
    only guide plans)."""
    try:
        conn = await asyncpg.connect(owner_dsn, timeout=30)
        refused: list[str] = []  # a role that does not own the table is told so by a warning, not an error
        conn.add_log_listener(lambda _, m: refused.append(m.message) if m.severity == "WARNING" else None)
        try:
            await conn.execute(f"ANALYZE {table} (company_id)")
        finally:
            await conn.close()
        if refused:
            log.warning(
                "could not analyze %s (company_id): %s; let the role of CRMIO_SYSTEM_DATABASE_URL own the tables "
                "(as the migrations make it), or plans keep the older statistics",
                table,
                "; ".join(refused),
            )
        else:
            log.info("analyzed %s (company_id): an import has grown a company's part of it", table)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - an import never fails for its planner statistics
        log.warning("could not analyze %s (company_id): %s; plans keep the older statistics", table, exc)


fresh = FreshStatistics()  # one per process: what its workers' batches applied
