"""Agent on crm.import.results: the aggregator. Counts outcomes per job, reports status, finishes jobs."""

from __future__ import annotations

import logging

from faust import StreamT

from services.aggregate.aggregation import aggregate_result
from services.core.logs import log_context
from streams.app import app, settings
from streams.codecs import Undecodable, decoded
from streams.runtime import worker_runtime
from streams.tables import job_progress
from streams.topics import import_results

log = logging.getLogger(__name__)


@app.agent(import_results)
async def aggregate_import_results(stream: StreamT) -> None:
    async for value in stream:
        event = await decoded(value)
        if isinstance(event, Undecodable):
            log.error("dropped a result event that is not %s Avro (%s)", event.schema, event.error)
            continue
        job_id = event["job_id"]
        senders = worker_runtime.senders
        with log_context(job_id=job_id, company_id=event["company_id"]):
            progress, status = await aggregate_result(
                worker_runtime.runtime, job_progress.get(job_id), event, settings.status_interval_s, senders.request
            )
        job_progress[job_id] = progress
        if status is not None:
            await senders.status(status)
