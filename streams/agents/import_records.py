"""Agent on crm.import.records: cleanse, validate, resolve duplicates and apply rows in batches.

Events are acknowledged by hand, only after their transaction committed and their results were
sent; meanwhile the next batch is already being cleansed (the database works on the other core).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust import EventT, StreamT

from services.pipeline import SequentialApplier, prepare_events
from streams.app import app, settings
from streams.resources import job_contexts, resources
from streams.topics import import_records, import_results


# Concurrency stays 1 (faust #606: more can commit past an in-flight batch); scale with partitions.
@app.agent(import_records)
async def apply_import_records(stream: StreamT) -> None:
    applier = SequentialApplier(await resources())
    try:
        async for events in stream.noack_take(settings.events_per_batch, within=settings.batch_within_s):
            prepared = await prepare_events(await job_contexts(), [e.value for e in events])

            async def done(results: list[dict[str, Any]], events: list[EventT] = events) -> None:
                for result in results:
                    await import_results.send(key=result["job_id"].encode(), value=result)
                for event in events:
                    await stream.ack(event)

            await applier.submit(prepared, done)
    except asyncio.CancelledError:
        applier.cancel()  # unacknowledged: the batch is delivered again after a restart
        raise
    await applier.drain()
