"""Agent on crm.import.records: cleanse, validate, resolve duplicates and apply rows in batches."""

from __future__ import annotations

from faust import StreamT

from services.pipeline import apply_events
from streams.app import app, settings
from streams.resources import job_contexts, resources
from streams.topics import import_records, import_results


# Concurrency stays 1 (faust #606: more can commit past an in-flight batch); scale with partitions.
@app.agent(import_records)
async def apply_import_records(stream: StreamT) -> None:
    async for events in stream.take(settings.events_per_batch, within=settings.batch_within_s):
        for result in await apply_events(await resources(), await job_contexts(), events):
            await import_results.send(key=result["job_id"].encode(), value=result)
