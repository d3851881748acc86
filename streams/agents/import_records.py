"""Agent on crm.import.records: cleanse, validate, resolve duplicates and apply rows in batches.

Events are acknowledged by hand, only after their transaction committed, their partition's applied
offset advanced and their results were sent. Batches of different partition groups ("lanes") are
applied concurrently, and the next batch is cleansed while the database writes the previous one;
within a partition, events are applied strictly in offset order (services/apply/partition_order.py,
streams/ordering.py): one that arrives after a gap is dropped, and the partition is read again from
the first missing offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from faust import EventT, StreamT

from services.apply import partition_order
from services.apply.pipeline import LaneApplier, prepare_events
from services.core.logs import log_context
from streams.app import app, settings
from streams.codecs import Undecodable, decoded
from streams.ordering import Guard, position
from streams.runtime import worker_runtime
from streams.topics import import_records

log = logging.getLogger(__name__)

GUARD = Guard(import_records, replays=True)  # a replayed batch is harmless: the ledger ignores it


def _partitions(events: list[EventT]) -> int | list[int]:
    """The partition of a lane's events for log lines: one number, or the sorted list when a take held several."""
    found = sorted({e.message.partition for e in events})
    return found[0] if len(found) == 1 else found


# Concurrency stays 1 (faust #606: more can commit past an in-flight batch); scale with partitions.
@app.agent(import_records)
async def apply_import_records(stream: StreamT) -> None:
    GUARD.restart()
    res = worker_runtime.runtime
    lanes = LaneApplier(res, settings.apply_lanes)
    try:
        async for taken in stream.noack_take(settings.events_per_batch, within=settings.batch_within_s):
            by_lane: defaultdict[Any, list[EventT]] = defaultdict(list)
            for event, admitted in zip(taken, await GUARD.admitted(taken)):
                if admitted:
                    by_lane[lanes.lane(event.message.partition)].append(event)
                else:
                    await stream.ack(event)
            for lane, lane_events in by_lane.items():

                async def done(results: list[dict[str, Any]], acked: list[EventT] = lane_events) -> None:
                    await partition_order.advance(res.system, [position(e) for e in acked])
                    # Acknowledged by the broker before the events are (the job would never end otherwise).
                    for result in results:
                        await worker_runtime.senders.result(result)
                    for event in acked:
                        await stream.ack(event)

                read = [await decoded(e.value) for e in lane_events]
                values = [v for v in read if not isinstance(v, Undecodable)]
                if len(values) < len(lane_events):  # still acknowledged with the lane, in order
                    log.error(
                        "dropping %d record events that are not Avro of their schema", len(lane_events) - len(values)
                    )
                # The lane's apply task is created inside this block: its log lines carry these partitions too.
                with log_context(partition=_partitions(lane_events)):
                    try:
                        prepared = await prepare_events(worker_runtime.job_contexts, values)
                    except Exception:  # noqa: BLE001 - not a record batch of ours: drop it, stay up
                        log.exception("dropping %d malformed record events", len(lane_events))
                        await lane.drain()  # in order: the partition's offset moves past them after what precedes
                        await done([])
                        continue
                    await lane.submit(prepared, done)
    except asyncio.CancelledError:
        lanes.cancel()  # unacknowledged: these batches are delivered again after a restart
        raise
    await lanes.drain()
