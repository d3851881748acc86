"""Agent on crm.import.results: the aggregator. Counts outcomes per job, reports status, finishes jobs; and its
timer, which reports the progress a burst of results left unreported (services/aggregate/trailing.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust import StreamT

from services.aggregate.aggregation import aggregate_result, report_progress
from services.aggregate.trailing import TrailingReports
from services.apply.pipeline import now_ms
from services.core.logs import log_context
from streams.app import app, settings
from streams.codecs import Undecodable, decoded
from streams.runtime import worker_runtime
from streams.tables import job_progress
from streams.topics import import_results

log = logging.getLogger(__name__)


TRAILING = TrailingReports()
# One job's progress is written by the agent or by the trailing report, never both at once: an older
# count must not land after a newer one.
_REPORTING = asyncio.Lock()


@app.agent(import_results)
async def aggregate_import_results(stream: StreamT) -> None:
    async for value in stream:
        event = await decoded(value)
        if isinstance(event, Undecodable):
            log.error("dropped a result event that is not %s Avro (%s)", event.schema, event.error)
            continue
        job_id = event["job_id"]
        senders = worker_runtime.senders
        async with _REPORTING:
            with log_context(job_id=job_id, company_id=event["company_id"]):
                progress, status = await aggregate_result(
                    worker_runtime.runtime, job_progress.get(job_id), event, settings.status_interval_s, senders.request
                )
            job_progress[job_id] = progress
            TRAILING.after_result(progress, reported=status is not None)
        if status is not None:
            await senders.status(status)


@app.timer(interval=settings.status_interval_s)
async def _trailing_timer() -> None:
    await report_trailing_progress()


async def report_trailing_progress() -> None:
    """Write the progress of each job whose last results came after its last report, once that is due."""
    async with _REPORTING:
        now = now_ms()
        for progress in TRAILING.take_due(now, int(settings.status_interval_s * 1000)):
            try:
                with log_context(job_id=progress["job_id"], company_id=progress["company_id"]):
                    status = await report_progress(worker_runtime.runtime, progress, now)
                await worker_runtime.senders.status(status)
            except Exception as exc:  # noqa: BLE001 - the database or broker restarting: the next tick tries again
                TRAILING.after_result(progress, reported=False)
                log.warning(
                    "job %s: reporting its progress failed for now (%s: %s)",
                    progress["job_id"],
                    type(exc).__name__,
                    exc,
                )


@app.on_partitions_revoked.connect
async def _forget_trailing(app: Any, revoked: Any, **kwargs: Any) -> None:
    TRAILING.clear()
