"""Record ids: UUIDs of version 7 (time first, so new records land at the primary key's right edge), unique,
usable wherever a uuid.UUID is (equal, hashed and printed alike)."""

from __future__ import annotations

import time
import uuid

from services.apply.batch import new_id, new_ids


def test_ids_are_version_7_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    rid = new_id()
    after = time.time_ns() // 1_000_000
    assert isinstance(rid, uuid.UUID)
    assert (rid.version, rid.variant) == (7, uuid.RFC_4122)
    assert before <= rid.int >> 80 <= after


def test_ids_are_unique_and_ordered_by_millisecond() -> None:
    first = [new_id() for _ in range(20_000)]
    time.sleep(0.002)
    later = new_id()
    assert len(set(first)) == len(first)
    assert all(later > rid for rid in first)


def test_an_id_is_a_uuid_to_every_reader() -> None:
    rid = new_id()
    same = uuid.UUID(str(rid))
    assert rid == same and hash(rid) == hash(same) and {same: 1}[rid] == 1
    assert str(rid) == str(same) and rid.bytes == same.bytes


def test_ids_made_together_are_version_7_distinct_and_of_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_ids(5_000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 5_000
    assert all((i.version, i.variant) == (7, uuid.RFC_4122) and before <= i.int >> 80 <= after for i in ids)
    # 74 random bits: no bit of them is the same in every id
    varying = 0
    for i in ids:
        varying |= i.int ^ ids[0].int
    assert varying & ((1 << 80) - 1) == ((0xFFF << 64) | ((1 << 62) - 1)) & ((1 << 80) - 1)
