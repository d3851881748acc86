"""Partition offsets (crm_partition_offsets): per topic partition, the next offset to handle.

Every statement on the table lives here; services.apply.partition_order decides what they mean.
"""

from __future__ import annotations

import asyncpg

__all__ = ["read_next", "raise_next", "reset_topic"]


async def read_next(pool: asyncpg.Pool, topics: list[str], partitions: list[int]) -> list[asyncpg.Record]:
    """(topic, partition, next_offset) of the stored ones among the pairs (topics[i], partitions[i])."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT topic, partition, next_offset FROM crm_partition_offsets "
        "WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
        topics,
        partitions,
    )
    return rows


async def raise_next(pool: asyncpg.Pool, topics: list[str], partitions: list[int], offsets: list[int]) -> None:
    """Store these next offsets, never moving one back; pass the pairs sorted (one lock order for every writer)."""
    await pool.execute(
        "INSERT INTO crm_partition_offsets (topic, partition, next_offset) "
        "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) "
        "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = "
        "greatest(crm_partition_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
        topics,
        partitions,
        offsets,
    )


async def reset_topic(pool: asyncpg.Pool, topic: str, partitions: int) -> None:
    """Every partition's next offset of the topic is 0."""
    await pool.execute(
        "INSERT INTO crm_partition_offsets (topic, partition, next_offset) "
        "SELECT $1, p, 0 FROM generate_series(0, $2 - 1) AS p "
        "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = 0, updated_at = now()",
        topic,
        partitions,
    )
