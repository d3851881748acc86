"""Agent on crm.import.records: cleanse, validate, resolve duplicates and apply rows in batches.

Events are acknowledged by hand, only after their transaction committed, their partition's applied
offset advanced and their results were sent. Batches of different partition groups ("lanes") are
applied concurrently, and the next batch is cleansed while the database writes the previous one;
within a partition, events are applied strictly in offset order (services/partition_order.py): one
that arrives after a gap waits, and the partition is read again from the first missing offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from faust import EventT, StreamT
from faust.types import TP

from services import partition_order
from services.partition_order import PartitionOrder, Position
from services.pipeline import LaneApplier, Resources, prepare_events
from streams.app import app, settings
from streams.resources import job_contexts, resources
from streams.topics import import_records, import_results

log = logging.getLogger(__name__)

# Made anew whenever the agent starts: what a crashed agent handed to its lanes may never have been applied.
order = PartitionOrder(reread_every_s=settings.reread_missing_every_s)


def _position(event: EventT) -> Position:
    m = event.message
    return m.topic, m.partition, m.offset


async def _admitted(stream: StreamT, res: Resources, events: list[EventT]) -> list[EventT]:
    """The events that keep their partitions in order; the others are acknowledged and dropped (they
    are read again once the missing events before them are)."""
    positions = [_position(e) for e in events]
    unknown = order.unknown(positions)
    stored = await partition_order.stored_next(res.system, unknown) if unknown else {}
    admitted = order.decide(positions, stored)
    for event, ok in zip(events, admitted):
        if not ok:
            await stream.ack(event)
    if not all(admitted):
        await reread_missing()
    return [e for e, ok in zip(events, admitted) if ok]


async def reread_missing() -> None:
    """Seek each partition with a missing event back to it (again, while the gap stays open)."""
    due = order.due_rereads({(tp.topic, tp.partition) for tp in app.consumer.assignment()})
    if not due:
        return
    try:
        await _seek_back(due)
    except Exception as exc:  # noqa: BLE001 - the broker restarting: the timer seeks again in a second
        log.warning("could not seek back to missing record events yet (%s: %s)", type(exc).__name__, exc)


async def _seek_back(due: dict[tuple[str, int], int]) -> None:
    earliest = await app.consumer.earliest_offsets(*(TP(t, p) for t, p in due))
    for (topic, partition), offset in due.items():
        tp = TP(topic, partition)
        if earliest.get(tp, 0) > offset:
            log.error("%s[%d]: events %d..%d are gone from the log (retention); continuing from %d",
                      topic, partition, offset, earliest[tp] - 1, earliest[tp])
            order.skip_to((topic, partition), earliest[tp])
            continue
        log.warning("%s[%d]: an event arrived after a gap; reading again from offset %d", topic, partition, offset)
        await app.consumer.seek_wait({tp: offset})  # in the consumer's own thread, as Faust's recovery seeks


@app.timer(interval=settings.reread_missing_every_s)
async def _reread_missing_again() -> None:
    if order.holes():
        await reread_missing()


# Concurrency stays 1 (faust #606: more can commit past an in-flight batch); scale with partitions.
@app.agent(import_records)
async def apply_import_records(stream: StreamT) -> None:
    global order
    order = PartitionOrder(reread_every_s=settings.reread_missing_every_s)
    res = await resources()
    lanes = LaneApplier(res, settings.apply_lanes)
    try:
        async for taken in stream.noack_take(settings.events_per_batch, within=settings.batch_within_s):
            by_lane: defaultdict[Any, list[EventT]] = defaultdict(list)
            for event in await _admitted(stream, res, taken):
                by_lane[lanes.lane(event.message.partition)].append(event)
            for lane, lane_events in by_lane.items():

                async def done(results: list[dict[str, Any]], acked: list[EventT] = lane_events) -> None:
                    await partition_order.advance(res.system, [_position(e) for e in acked])
                    # Sent now and acknowledged by the broker before the events are: not attached to an
                    # event's commit, which a rebalance can hold back indefinitely (the job would never end).
                    sent = [await import_results.send(key=r["job_id"].encode(), value=r, force=True) for r in results]
                    await asyncio.gather(*sent)
                    for event in acked:
                        await stream.ack(event)

                try:
                    prepared = await prepare_events(await job_contexts(), [e.value for e in lane_events])
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
