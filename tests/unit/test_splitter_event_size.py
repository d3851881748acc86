"""Every record event fits a Kafka message, whatever the rows hold (issue 17, padded cells): the splitter
cuts a cell its field refuses for its length whatever it holds, and bounds each event's bytes. A cut
cell is refused exactly as the whole cell was: same field, level and message, its length in the file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schemas import avro
from schemas.models import ACCOUNT, CONTACT, LEAD, TargetModel
from services.cleansing.cleaning import RecordCleaner, cut_overlong, longest_value
from services.ingest.readers import ReaderLimits
from services.ingest.splitter import open_import, split_rows

MAX_FIELD = ReaderLimits().max_field_bytes


def _padded(field_type: str, chars: int) -> str:
    """A value of the type with spaces in its middle: only a cleaner that stops at the length is fast on it."""
    start = {"phone": "1", "date": "2024-01-01", "email": "a@b.example", "url": "https://x.example/"}.get(
        field_type, "7"
    )
    return start + " " * (chars - len(start) - 3) + "ext"


@pytest.mark.parametrize("model", [LEAD, CONTACT, ACCOUNT], ids=lambda m: m.name)
@pytest.mark.parametrize("strict", [False, True])
def test_a_cut_cell_is_refused_as_the_whole_cell_was(model: TargetModel, strict: bool) -> None:
    cleaner = RecordCleaner(model, strict=strict)
    for f in model.fields:
        longest = longest_value(f)
        assert longest is not None and longest < MAX_FIELD, f  # every field today: a cut always applies
        for cell in (
            _padded(f.type, MAX_FIELD - 8),
            "é" * (longest + 1),
            "é" * (3 * longest + 200),
            "\u200b" + "x" * (3 * longest + 200),
        ):
            cut = cut_overlong(cell, longest)
            assert len(cut) < max(longest, 60) + 40
            whole, sent = cleaner.clean({f.name: cell}), cleaner.clean({f.name: cut})
            assert [(i.field, i.level, i.message) for i in sent.issues] == [
                (i.field, i.level, i.message) for i in whole.issues
            ], (f.name, cell[:20])
            assert f.name not in sent.values and f.name not in whole.values
            assert f"is {len(cell.strip().strip(chr(0x200B)))} characters long" in whole.issues[0].message


def test_a_cell_the_field_can_take_travels_as_it_is() -> None:
    phone = LEAD.field("phone")
    longest = longest_value(phone)
    assert longest is not None
    spaced = "  +1 555 0100  " + " " * longest  # long only by its spaces: the cleaner strips them
    assert cut_overlong(spaced, longest) == spaced
    assert cut_overlong("\u200b" + "x" * longest + "\u200b", longest).endswith("\u200b")  # invisible ends strip too


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _split(path: Path, mapping: dict[str, str], max_event_bytes: int, rows_per_event: int = 500) -> list[bytes]:
    plan = open_import(path, "csv", LEAD, display_name=path.name, mapping=mapping, options={}, limits=ReaderLimits())
    try:
        events = [
            e
            for _, e in split_rows(
                plan,
                LEAD,
                job_id="00000000-0000-0000-0000-000000000001",
                company_id="00000000-0000-0000-0000-000000000002",
                partitions=3,
                rows_per_event=rows_per_event,
                max_event_bytes=max_event_bytes,
            )
        ]
    finally:
        plan.close()
    return [avro.encode("record_batch", e) for e in events]


MAPPING = {"First": "first_name", "Last": "last_name", "Mail": "email", "Phone": "phone", "Notes": "description"}


def test_padded_cells_travel_in_events_the_broker_takes(tmp_path: Path) -> None:
    rows = [[f"P{i}", "Pad", f"p{i}@a.example", _padded("phone", MAX_FIELD - 8), "x"] for i in range(200)]
    path = _write(tmp_path / "padded.csv", list(MAPPING), rows)
    assert path.stat().st_size > 25 * 2**20
    encoded = _split(path, MAPPING, max_event_bytes=768 * 1024)
    assert sum(len(e) for e in encoded) < 200 * 400  # each phone cell cut to ~130 characters
    decoded = [avro.decode("record_batch", e) for e in encoded]
    assert sorted(n for e in decoded for n in e["numbers"]) == list(range(1, 201))


def test_events_stay_under_the_byte_budget_whatever_the_rows_hold(tmp_path: Path) -> None:
    budget = 256 * 1024  # twice the longest row: 32,000 four-byte characters
    longest = longest_value(LEAD.field("description"))
    assert longest is not None
    rows = []
    for i in range(600):  # descriptions up to their limit, in 1-, 2-, 3- and 4-byte characters
        char = "aé€😀"[i % 4]
        rows.append([f"N{i}", "Long", f"n{i}@a.example", "+1 555 0100", char * (i * 97 % longest)])
    path = _write(tmp_path / "long.csv", list(MAPPING), rows)
    encoded = _split(path, MAPPING, max_event_bytes=budget)
    assert max(len(e) for e in encoded) <= budget + 1024  # the event's own fields: ids, names
    assert len(encoded) > 30  # the bytes, not rows_per_event (500), cut the events
    decoded = [avro.decode("record_batch", e) for e in encoded]
    got = {n: e["columns"][e["fields"].index("description")][k] for e in decoded for k, n in enumerate(e["numbers"])}
    assert got == {i + 1: rows[i][4] for i in range(600)}  # nothing cut, nothing lost: all within the limit


def test_a_row_too_big_for_any_event_travels_as_a_row_error(tmp_path: Path) -> None:
    rows = [["Small", "Row", "s@a.example", "", "short"], ["Big", "Row", "b@a.example", "", "€" * 30_000]]
    path = _write(tmp_path / "big.csv", list(MAPPING), rows)
    decoded = [avro.decode("record_batch", e) for e in _split(path, MAPPING, max_event_bytes=50_000)]
    by_number = {n: (e, k) for e in decoded for k, n in enumerate(e["numbers"])}
    big, k = by_number[2]
    assert all(col[k] == "" for col in big["columns"])
    assert big["problems"]["2"].startswith("the row's values take ")
    assert "none was imported; the longest is description (30000 characters): shorten it" in big["problems"]["2"]
    small, k = by_number[1]
    assert "1" not in (small["problems"] or {}) and small["columns"][small["fields"].index("description")][k] == "short"
