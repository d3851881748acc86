"""Record events are admitted only in offset order per partition (services.partition_order)."""

from services.partition_order import PartitionOrder

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
