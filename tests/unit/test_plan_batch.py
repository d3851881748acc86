"""Duplicate handling decisions: skip, update and create_new, inside a file and against stored records."""

from __future__ import annotations

import uuid

from schemas.models import LEAD
from services.apply.batch import SourceRow, plan_batch
from services.cleansing.cleaning import CleanedRecord, Issue, RecordCleaner


def row(n: int, email: str | None, title: str | None = None, *, error: bool = False) -> tuple[SourceRow, CleanedRecord]:
    issues = [Issue("email", email, "is not a valid email address", "use name@example.com", "error")] if error else []
    values = {"first_name": f"F{n}", "email": email, "title": title}
    key = f"email:{email.strip().lower()}" if email and not error else None
    return SourceRow(n, {"email": email, "title": title}), CleanedRecord(values, issues, key)


def test_skip_keeps_the_first_row_of_a_file() -> None:
    plan = plan_batch("skip", [row(3, "a@x.io"), row(5, "b@x.io"), row(7, "a@x.io")], {})
    outcomes = {n: o for n, o, _, _ in plan.ledger}
    assert outcomes == {3: "created", 5: "created", 7: "skipped"}
    assert len(plan.inserts) == 2
    ids = {n: rid for n, _, rid, _ in plan.ledger}
    assert ids[7] == ids[3]


def test_update_merges_later_rows_into_the_first_and_keeps_a_before_image() -> None:
    plan = plan_batch("update", [row(3, "a@x.io", "CTO"), row(7, "a@x.io", "CEO"), row(8, "a@x.io", None)], {})
    outcomes = [(n, o) for n, o, _, _ in plan.ledger]
    assert outcomes == [(3, "created"), (7, "updated"), (8, "updated")]
    (values,) = plan.inserts.values()
    assert values["title"] == "CEO"  # row 8's empty title erased nothing
    assert plan.ledger[1][3]["title"] == "CTO"


def test_create_new_creates_every_row() -> None:
    plan = plan_batch(
        "create_new",
        [row(3, "a@x.io"), row(7, "a@x.io")],
        {"email:a@x.io": {"id": uuid.uuid4(), "version": 1, "email": "a@x.io"}},
    )
    assert [o for _, o, _, _ in plan.ledger] == ["created", "created"]
    assert len(plan.inserts) == 2


def test_against_stored_records() -> None:
    stored_id = uuid.uuid4()
    existing = {"email:a@x.io": {"id": stored_id, "version": 4, "email": "a@x.io", "title": "Old"}}
    skip = plan_batch("skip", [row(1, "a@x.io", "New")], existing)
    assert skip.ledger == [(1, "skipped", stored_id, None)] and not skip.updates
    upd = plan_batch("update", [row(1, "a@x.io", "New"), row(2, "a@x.io", "Newer")], existing)
    assert upd.updates[stored_id]["title"] == "Newer"
    assert upd.versions[stored_id] == 5
    assert upd.ledger[0][3] == {"email": "a@x.io", "title": "Old", "version": 4}
    assert upd.ledger[1][3]["title"] == "New"


def test_invalid_rows_fail_with_one_error_log_naming_row_field_and_hint() -> None:
    plan = plan_batch("skip", [row(4, "nope", error=True)], {})
    assert plan.ledger == [(4, "failed", None, None)]
    ((n, level, message, data, field),) = plan.logs
    assert (n, level, field) == (4, "error", "email")
    assert "row 4" in message and "email" in message and "name@example.com" in message
    assert data["issues"][0]["value"] == "nope"


def test_row_problem_from_the_reader_fails_the_row() -> None:
    source, cleaned = row(9, "a@x.io")
    plan = plan_batch(
        "skip", [(SourceRow(9, source.raw, "row has 4 values but the header has 3 columns"), cleaned)], {}
    )
    assert plan.ledger[0][1] == "failed"
    assert "header has 3 columns" in plan.errors[9]


def test_rows_without_a_key_are_never_duplicates() -> None:
    plan = plan_batch("skip", [row(1, None), row(2, None)], {})
    assert [o for _, o, _, _ in plan.ledger] == ["created", "created"]


def test_an_update_import_needs_the_required_fields_only_for_a_row_that_creates() -> None:
    stored_id = uuid.uuid4()
    existing = {"email:a@x.io": {"id": stored_id, "version": 1, "email": "a@x.io", "first_name": "Ann"}}
    cleaner = RecordCleaner(LEAD, required_to_create=True)
    rows = []
    for n, raw in enumerate([{"email": "a@x.io", "title": "CTO"}, {"email": "b@x.io", "title": "CEO"}], start=1):
        cleaned = cleaner.clean(raw)
        assert cleaned.ok and cleaned.needs == ("first_name", "last_name")
        rows.append((SourceRow(n, dict(raw)), cleaned))
    plan = plan_batch("update", rows, existing, model_name="lead")
    assert [(n, o) for n, o, _, _ in plan.ledger] == [(1, "updated"), (2, "failed")]
    assert plan.updates[stored_id]["first_name"] == "Ann"
    assert plan.errors[2].startswith(
        "row 2: first_name: first_name is required to create a lead, and this row matches no stored lead to update"
    )
    assert "last_name: last_name is required to create a lead" in plan.errors[2]
    # Without it (every other mode), a row without them fails whatever it matches; a job's required rule too.
    assert not RecordCleaner(LEAD).clean({"email": "a@x.io"}).ok
    ruled = RecordCleaner(LEAD, {"first_name": {"required": True}}, required_to_create=True).clean({"email": "a@x.io"})
    assert not ruled.ok and ruled.needs == ("last_name",)
