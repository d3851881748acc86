"""The Faust side of partition order (services/apply/partition_order.py): which delivered events a guarded
agent handles, and reading its partitions again from events Faust passed over."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faust import EventT, TopicT
from faust.types import TP

from services.apply import partition_order
from services.apply.partition_order import Partition, PartitionOrder, Position
from services.core import worker_metrics
from streams.app import app, settings
from streams.runtime import worker_runtime

__all__ = ["Guard", "position"]

log = logging.getLogger(__name__)


def position(event: EventT) -> Position:
    m = event.message
    return m.topic, m.partition, m.offset


class Guard:
    """One agent's topic, handled in offset order per partition."""

    all: list[Guard] = []

    def __init__(self, topic: TopicT, *, replays: bool) -> None:
        self.topic = topic.get_topic_name()
        self._replays = replays
        self.order = self._new_order()
        Guard.all.append(self)

    def _new_order(self) -> PartitionOrder:
        return PartitionOrder(settings.reread_missing_every_s, settings.stalled_partition_s, replays=self._replays)

    def restart(self) -> None:
        """The agent (re)starts: what a crashed one took may never have been handled."""
        self.order = self._new_order()

    async def admitted(self, events: Sequence[EventT]) -> list[bool]:
        """Which events (in delivery order) to handle; the caller acknowledges the others unhandled
        (they are read again once the missing events before them are, or were handled already)."""
        positions = [position(e) for e in events]
        unknown = self.order.unknown(positions)
        stored = await partition_order.stored_next(worker_runtime.runtime.system, unknown) if unknown else {}
        admitted = self.order.decide(positions, stored)
        if not all(admitted):
            await self.reread_missing()
        return admitted

    def _assigned(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic == self.topic}

    async def reread_missing(self) -> None:
        """Seek each partition with a missing event back to it (again, while the gap stays open)."""
        due = self.order.due_rereads(self._assigned())
        if due:
            worker_metrics.stalled("partition_gap", len(due))
            await self._seek(due, "an event arrived after a gap")

    async def reread_stalled(self) -> None:
        """Seek back the partitions whose last events were passed over (no later event shows the gap)."""
        assigned = self._assigned()
        if not assigned or app.rebalancing or app.in_recovery:
            return
        ends = await app.consumer.highwaters(*(TP(t, p) for t, p in assigned))
        stored = await partition_order.stored_next(worker_runtime.runtime.system, assigned)
        due = self.order.stalled(stored, {(tp.topic, tp.partition): end for tp, end in ends.items()})
        if due:
            worker_metrics.stalled("partition_stalled", len(due))
            await self._seek(due, "events past the handled offset were not delivered")

    async def _seek(self, due: dict[Partition, int], why: str) -> None:
        try:
            earliest = await app.consumer.earliest_offsets(*(TP(t, p) for t, p in due))
            for (topic, partition), offset in due.items():
                tp = TP(topic, partition)
                if earliest.get(tp, 0) > offset:
                    log.error(
                        "%s[%d]: events %d..%d are gone from the log (retention); continuing from %d",
                        topic,
                        partition,
                        offset,
                        earliest[tp] - 1,
                        earliest[tp],
                    )
                    self.order.skip_to((topic, partition), earliest[tp])
                    continue
                log.warning("%s[%d]: %s; reading again from offset %d", topic, partition, why, offset)
                await app.consumer.seek_wait({tp: offset})  # in the consumer's own thread, as Faust's recovery seeks
        except Exception as exc:  # noqa: BLE001 - the broker restarting or a rebalance: the timers try again
            log.warning("could not read %s again yet (%s: %s)", self.topic, type(exc).__name__, exc)


@app.timer(interval=settings.reread_missing_every_s)
async def _reread_missing_again() -> None:
    for guard in Guard.all:
        if guard.order.holes():
            await guard.reread_missing()


@app.timer(interval=max(1.0, settings.stalled_partition_s / 2))
async def _reread_stalled() -> None:
    for guard in Guard.all:
        try:
            await guard.reread_stalled()
        except Exception as exc:  # noqa: BLE001 - the database or broker restarting: the next tick tries again
            log.warning(
                "checking %s for passed-over events failed for now (%s: %s)", guard.topic, type(exc).__name__, exc
            )
