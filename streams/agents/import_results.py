"""Agent on crm.import.results: the aggregator. Counts outcomes per job, reports status, finishes jobs."""

from __future__ import annotations

import logging
from typing import Any

from faust import StreamT

from services.aggregate.aggregation import aggregate_result
from streams.app import app, settings
from streams.codecs import Undecodable
from streams.resources import resources
from streams.tables import job_progress
from streams.topics import import_results, job_requests, job_status

log = logging.getLogger(__name__)


async def _send_request(event: dict[str, Any]) -> None:
    # The apply pass of an all-or-nothing import: started now, not when this result is acknowledged.
    await (await job_requests.send(key=event["job_id"].encode(), value=event, force=True))


@app.agent(import_results)
async def aggregate_import_results(stream: StreamT) -> None:
    async for event in stream:
        if isinstance(event, Undecodable):
            log.error("dropped a result event that is not %s Avro (%s)", event.schema, event.error)
            continue
        job_id = event["job_id"]
        progress, status = await aggregate_result(
            await resources(), job_progress.get(job_id), event, settings.status_interval_s, _send_request
        )
        job_progress[job_id] = progress
        if status is not None:
            await job_status.send(key=job_id.encode(), value=status)
