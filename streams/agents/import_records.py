"""Agent on crm.import.records: cleanse, validate, resolve duplicates and apply rows in batches.

Events are acknowledged by hand, only after their transaction committed and their results were
sent. Batches of different partition groups ("lanes") are applied concurrently, and the next batch
is cleansed while the database writes the previous one; within a partition, order is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from faust import EventT, StreamT

from services.pipeline import LaneApplier, prepare_events
from streams.app import app, settings
from streams.resources import job_contexts, resources
from streams.topics import import_records, import_results

log = logging.getLogger(__name__)


# Concurrency stays 1 (faust #606: more can commit past an in-flight batch); scale with partitions.
@app.agent(import_records)
async def apply_import_records(stream: StreamT) -> None:
    lanes = LaneApplier(await resources(), settings.apply_lanes)
    try:
        async for events in stream.noack_take(settings.events_per_batch, within=settings.batch_within_s):
            by_lane: defaultdict[Any, list[EventT]] = defaultdict(list)
            for event in events:
                by_lane[lanes.lane(event.message.partition)].append(event)
            for lane, lane_events in by_lane.items():
                try:
                    prepared = await prepare_events(await job_contexts(), [e.value for e in lane_events])
                except Exception:  # noqa: BLE001 - not a record batch of ours: drop it, stay up
                    log.exception("dropping %d malformed record events", len(lane_events))
                    for event in lane_events:
                        await stream.ack(event)
                    continue

                async def done(results: list[dict[str, Any]], acked: list[EventT] = lane_events) -> None:
                    # Sent now and acknowledged by the broker before the events are: not attached to an
                    # event's commit, which a rebalance can hold back indefinitely (the job would never end).
                    sent = [await import_results.send(key=r["job_id"].encode(), value=r, force=True) for r in results]
                    await asyncio.gather(*sent)
                    for event in acked:
                        await stream.ack(event)

                await lane.submit(prepared, done)
    except asyncio.CancelledError:
        lanes.cancel()  # unacknowledged: these batches are delivered again after a restart
        raise
    await lanes.drain()
