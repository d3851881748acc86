"""Events of a guarded topic are handled strictly in offset order per partition, and none is passed over.

Faust's offset bookkeeping can move past an event that was never handled around a rebalance (its
commit, gap filling and read offset; a message fetched while its partition is paused is dropped).
Two topics cannot afford that:

- crm.import.records: all rows that could duplicate each other travel on one partition, in file
  order, so the order in which a partition's events are applied decides which row creates a record
  and which is skipped or updates it (the fault suite saw a later event applied first);
- crm.jobs.requests: a request passed over is a job that never runs (seen with a worker leaving
  while a start request was being fetched).

So the database keeps, per partition, the next offset to handle (crm_partition_offsets), advanced
after each handled event or batch and before it is acknowledged. Two ways an event goes missing:

- a later event arrives first: it is not handled (it would overtake the missing one); it is dropped,
  and reading goes back to the first missing offset, again every ``reread_missing_every_s`` while
  the gap stays open;
- no later event arrives (the partition's last events were passed over): a partition whose log ends
  beyond its stored offset while nothing moved for ``stalled_partition_s`` is read again from there.

Events below the stored offset arrive again after such a seek. Record batches are applied again
(the ledger makes that harmless); job requests are skipped (``replays=False``): a start request
handled twice would run its job twice.

This relies on a partition's events having consecutive offsets, which holds because these topics
are written without Kafka transactions (whose commit markers take offsets). `crmio migrate` records
offset 0 for every partition of a guarded topic it creates, so a new deployment is checked from its
first event; a partition the database has no row for (a topic created another way) takes its first
event as it comes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import asyncpg

from services.apply import offsets_repository
from services.core.db import with_retry

__all__ = ["Position", "Partition", "PartitionOrder", "advance", "stored_next", "start_topic"]

Position = tuple[str, int, int]  # topic, partition, offset
Partition = tuple[str, int]


class PartitionOrder:
    """One worker's view: the next offset of each partition after the events it accepted, and the
    partitions waiting for a missing event."""

    def __init__(self, reread_every_s: float = 1.0, stalled_after_s: float = 5.0, *, replays: bool = True) -> None:
        self._next: dict[Partition, int] = {}
        self._holes: dict[Partition, int] = {}
        self._sought: dict[Partition, tuple[int, float]] = {}
        self._behind: dict[Partition, tuple[int, float]] = {}
        self._reread_every_s = reread_every_s
        self._stalled_after_s = stalled_after_s
        self._replays = replays

    def unknown(self, positions: Iterable[Position]) -> set[Partition]:
        """Partitions with an event beyond what this worker accepted: only the database can say
        whether another worker applied the events in between."""
        return {(t, p) for t, p, o in positions if o > self._next.get((t, p), -1)}

    def decide(self, positions: Sequence[Position], stored: dict[Partition, int]) -> list[bool]:
        """Which events (in delivery order) may be handled now; ``stored`` is the database's next
        offset of the partitions :meth:`unknown` named (absent: none handled yet). Without
        ``replays``, events below the next offset are not handled again."""
        for tp, offset in stored.items():
            self._next[tp] = max(self._next.get(tp, offset), offset)
        admitted = []
        for topic, partition, offset in positions:
            tp = (topic, partition)
            expected = self._next.get(tp)
            if expected is None or offset == expected or (offset < expected and self._replays):
                self._next[tp] = max(expected or 0, offset + 1)
                admitted.append(True)
            elif offset < expected:
                admitted.append(False)
            else:
                self._holes[tp] = expected
                admitted.append(False)
        for tp in [tp for tp, hole in self._holes.items() if self._next[tp] > hole]:
            del self._holes[tp]
        return admitted

    def holes(self) -> dict[Partition, int]:
        return dict(self._holes)

    def due_rereads(self, assigned: set[Partition], now: float | None = None) -> dict[Partition, int]:
        """Missing offsets to read again from: each hole of an assigned partition, again every
        ``reread_every_s`` while it stays open (a seek can be overtaken by messages already fetched).
        Holes of partitions this worker no longer has are forgotten: their new owner finds them."""
        now = time.monotonic() if now is None else now
        for tp in [tp for tp in self._holes if tp not in assigned]:
            del self._holes[tp]
            self._sought.pop(tp, None)
        due = {}
        for tp, offset in self._holes.items():
            last = self._sought.get(tp)
            if last is None or last[0] != offset or now - last[1] >= self._reread_every_s:
                self._sought[tp] = (offset, now)
                due[tp] = offset
        return due

    def stalled(
        self, stored: dict[Partition, int], ends: dict[Partition, int], now: float | None = None
    ) -> dict[Partition, int]:
        """Partitions to read again from their stored offset: their log ``ends`` beyond it, this worker
        took no event past it, and it has not moved for ``stalled_after_s`` (after such a seek, only
        after another such period). No later event arrives to reveal a gap there."""
        now = time.monotonic() if now is None else now
        for tp in [tp for tp in self._behind if tp not in ends]:
            del self._behind[tp]
        due = {}
        for tp, end in ends.items():
            applied = stored.get(tp)
            if applied is None or applied >= end or self._next.get(tp, applied) > applied:
                self._behind.pop(tp, None)
                continue
            since = self._behind.get(tp)
            if since is None or since[0] != applied:
                self._behind[tp] = (applied, now)
            elif now - since[1] >= self._stalled_after_s:
                self._behind[tp] = (applied, now)
                due[tp] = applied
        return due

    def skip_to(self, tp: Partition, offset: int) -> None:
        """The missing events are gone from the log (retention): continue from its first offset."""
        self._next[tp] = max(self._next.get(tp, offset), offset)
        if self._holes.get(tp, offset) <= offset:
            self._holes.pop(tp, None)


async def stored_next(pool: asyncpg.Pool, partitions: set[Partition]) -> dict[Partition, int]:
    async def read() -> dict[Partition, int]:
        rows = await offsets_repository.read_next(pool, [t for t, _ in partitions], [p for _, p in partitions])
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    return await with_retry(read, what="reading partition offsets")


async def advance(pool: asyncpg.Pool, positions: Iterable[Position]) -> None:
    """Record that these events were handled (or dropped for good): never moves an offset back."""
    nexts: dict[Partition, int] = {}
    for t, p, o in positions:
        nexts[(t, p)] = max(nexts.get((t, p), 0), o + 1)
    if not nexts:
        return
    keys = sorted(nexts)  # one lock order for every writer: two workers never deadlock here

    async def write() -> None:
        await offsets_repository.raise_next(pool, [t for t, _ in keys], [p for _, p in keys], [nexts[k] for k in keys])

    await with_retry(write, what="advancing partition offsets")


async def start_topic(pool: asyncpg.Pool, topic: str, partitions: int) -> None:
    """A guarded topic was just created: every partition's next offset is 0 (a topic of the same name
    deleted before left higher ones behind)."""
    await offsets_repository.reset_topic(pool, topic, partitions)
