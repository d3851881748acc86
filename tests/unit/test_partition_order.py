"""Events of a guarded topic are admitted only in offset order per partition, and a partition whose
last events were passed over is noticed (services.apply.partition_order)."""

from services.apply.partition_order import PartitionOrder

T = "crm.import.records"


def test_in_order_events_are_admitted_without_asking_the_database_again() -> None:
    order = PartitionOrder()
    first = [(T, 0, 10), (T, 0, 11), (T, 1, 3)]
    assert order.unknown(first) == {(T, 0), (T, 1)}
    assert order.decide(first, {(T, 0): 10, (T, 1): 3}) == [True, True, True]
    following = [(T, 0, 12), (T, 1, 4)]
    assert order.unknown(following) == set()
    assert order.decide(following, {}) == [True, True]
    assert order.holes() == {}


def test_an_event_after_a_gap_waits_and_the_gap_is_read_again() -> None:
    order = PartitionOrder(reread_every_s=3)
    assert order.decide([(T, 0, 10)], {(T, 0): 10}) == [True]
    # offsets 11..14 skipped (a rebalance): 15 and 16 must not overtake them
    assert order.decide([(T, 0, 15), (T, 0, 16), (T, 1, 0)], {(T, 0): 11}) == [False, False, True]
    assert order.holes() == {(T, 0): 11}
    assert order.due_rereads({(T, 0), (T, 1)}, now=100.0) == {(T, 0): 11}
    assert order.due_rereads({(T, 0), (T, 1)}, now=101.0) == {}  # sought a moment ago
    assert order.due_rereads({(T, 0), (T, 1)}, now=103.5) == {(T, 0): 11}  # still open: again
    # the partition is read again from 11: the gap closes, later events follow in order
    assert order.decide([(T, 0, 11), (T, 0, 12), (T, 0, 13), (T, 0, 14), (T, 0, 15)], {}) == [True] * 5
    assert order.holes() == {}


def test_events_already_applied_elsewhere_are_admitted_again_for_the_ledger_to_ignore() -> None:
    order = PartitionOrder()
    # another worker applied up to 499: redelivered earlier events are harmless replays
    assert order.decide([(T, 2, 300), (T, 2, 301)], {(T, 2): 500}) == [True, True]
    assert order.decide([(T, 2, 500)], {}) == [True]


def test_a_gap_another_worker_filled_is_no_gap() -> None:
    order = PartitionOrder()
    assert order.decide([(T, 0, 5)], {}) == [True]  # first event ever seen: nothing to compare with
    assert order.unknown([(T, 0, 40)]) == {(T, 0)}
    assert order.decide([(T, 0, 40)], {(T, 0): 40}) == [True]


def test_holes_of_partitions_given_away_are_forgotten_and_lost_events_are_skipped() -> None:
    order = PartitionOrder()
    order.decide([(T, 0, 1), (T, 0, 9), (T, 3, 1), (T, 3, 7)], {})
    assert order.holes() == {(T, 0): 2, (T, 3): 2}
    assert order.due_rereads({(T, 3)}, now=0.0) == {(T, 3): 2}
    assert order.holes() == {(T, 3): 2}
    order.skip_to((T, 3), 5)  # retention removed 2..4
    assert order.holes() == {}
    assert order.decide([(T, 3, 5), (T, 3, 6)], {}) == [True, True]


J = "crm.jobs.requests"


def test_without_replays_events_already_handled_are_skipped_not_handled_again() -> None:
    order = PartitionOrder(replays=False)
    assert order.decide([(J, 0, 7), (J, 0, 8)], {(J, 0): 8}) == [False, True]
    # read again from 7 after a seek: 7 and 8 were handled; 9 is new
    assert order.decide([(J, 0, 7), (J, 0, 8), (J, 0, 9)], {}) == [False, False, True]
    assert order.holes() == {}
    assert order.decide([(J, 0, 12)], {}) == [False]  # 10 and 11 are missing: a gap, as with replays
    assert order.holes() == {(J, 0): 10}


def test_a_partition_whose_last_events_never_arrive_is_read_again_after_a_stall() -> None:
    order = PartitionOrder(stalled_after_s=5)
    stored = {(J, 0): 31, (J, 1): 42}
    ends = {(J, 0): 32, (J, 1): 42}  # partition 0 holds event 31, never delivered; 1 is caught up
    assert order.stalled(stored, ends, now=100.0) == {}  # behind for the first time: wait
    assert order.stalled(stored, ends, now=103.0) == {}
    assert order.stalled(stored, ends, now=105.5) == {(J, 0): 31}
    assert order.stalled(stored, ends, now=106.0) == {}  # sought: only after another stall period
    assert order.stalled(stored, ends, now=111.0) == {(J, 0): 31}
    # event 31 arrives and is handled: nothing is behind any more
    assert order.decide([(J, 0, 31)], {}) == [True]
    assert order.stalled({(J, 0): 32, (J, 1): 42}, ends, now=120.0) == {}


def test_a_partition_that_moves_or_that_this_worker_is_still_handling_is_not_stalled() -> None:
    order = PartitionOrder(stalled_after_s=5)
    ends = {(T, 0): 500}
    assert order.stalled({(T, 0): 100}, ends, now=0.0) == {}
    assert order.stalled({(T, 0): 200}, ends, now=6.0) == {}  # it moved: the clock starts again
    assert order.stalled({(T, 0): 200}, ends, now=12.0) == {(T, 0): 200}
    # events past the stored offset were taken and are being applied: not stalled, however long
    assert order.decide([(T, 0, 200), (T, 0, 201)], {}) == [True, True]
    assert order.stalled({(T, 0): 200}, ends, now=20.0) == {}
    assert order.stalled({(T, 0): 200}, ends, now=40.0) == {}
