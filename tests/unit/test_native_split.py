"""The compiled splitter (native/src/splitter.rs, through splitter.split_events) held to the Python split
(splitter.split_rows, its events encoded by fastavro): the same events, byte for byte, in the same order, for
files of every kind of row a split meets: keys by e-mail, external id, domain and name, ASCII and not, cells
with invisible and control characters, over-long cells, rows too big for an event, ragged rows, retries of
some rows, rows already in the ledger."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest

from schemas import avro
from schemas.models import ACCOUNT, CONTACT, LEAD, TargetModel
from services.ingest.readers import ReaderLimits
from services.ingest.splitter import open_import, split_events, split_rows
from tests.avro_reference import fastavro_encode

_PIECES = [
    "a", "B", "jane", "@", ".", " ", "\t", "\x1c", "\x0b", "\u200b", "\ufeff", "\xa0", "é", "Ä", "İ", "ß", "Σ",
    "日本", "😀", "x" * 40, "http://", "www.", ":8080", "/path", "\x07", "ﬀ",
]  # fmt: skip


def _cell(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return ""
    if rng.random() < 0.02:
        return rng.choice(["é", "x", " "]) * rng.randrange(200, 700)  # past the longest value of most types
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 5)))


def _file(tmp_path: Path, rng: random.Random, header: list[str], rows: int) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for _ in range(rows):
        width = len(header) + (rng.choice([-1, 1]) if rng.random() < 0.05 else 0)  # ragged: a row problem
        w.writerow([_cell(rng) for _ in range(width)])
    path = tmp_path / f"f{rng.randrange(10**9)}.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _python(plan_of: Any, model: TargetModel, **kw: Any) -> list[tuple[int, int, bytes]]:
    plan = plan_of()
    try:
        return [(p, len(e["numbers"]), fastavro_encode("record_batch", e)) for p, e in split_rows(plan, model, **kw)]
    finally:
        plan.close()


def _native(plan_of: Any, model: TargetModel, **kw: Any) -> list[tuple[int, int, bytes]]:
    plan = plan_of()
    try:
        return list(split_events(plan, model, **kw))
    finally:
        plan.close()


_CASES = [
    (LEAD, {"First": "first_name", "Last": "last_name", "Mail": "email", "Phone": "phone", "Notes": "description"}),
    (LEAD, {"Mail": "email", "Id": "external_id", "Company": "company", "Site": "website"}),
    (LEAD.matching_on("external_id"), {"Id": "external_id", "Mail": "email", "Last": "last_name"}),
    (CONTACT, {"First": "first_name", "Last": "last_name", "Mail": "email", "Title": "title"}),
    (ACCOUNT, {"Name": "name", "Site": "website", "Phone": "phone", "City": "billing_city"}),
    (ACCOUNT, {"Name": "name", "City": "billing_city"}),
    (LEAD, {"Last": "last_name", "Phone": "phone"}),  # no match field mapped: rows spread by number
]


@pytest.mark.parametrize(("model", "mapping"), _CASES, ids=lambda c: c.name if isinstance(c, TargetModel) else "")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_events_as_the_python_split(
    tmp_path: Path, model: TargetModel, mapping: dict[str, str], seed: int
) -> None:
    rng = random.Random(seed)
    header = [*mapping, "Ignored"]
    rng.shuffle(header)
    path = _file(tmp_path, rng, header, rng.randrange(300, 900))

    def plan_of() -> Any:
        return open_import(
            path,
            "csv",
            model,
            display_name=path.name,
            mapping=mapping,
            options={},
            limits=ReaderLimits(),
            required=False,
        )

    for kw in (
        {"partitions": 6, "rows_per_event": 50, "max_event_bytes": 900_000},
        {"partitions": 3, "rows_per_event": 500, "max_event_bytes": 2_000},  # rows too big for an event; small runs
        {"partitions": 1, "rows_per_event": 7, "max_event_bytes": 100_000, "only": frozenset(range(1, 900, 3))},
        {"partitions": 4, "rows_per_event": 64, "max_event_bytes": 100_000, "skip": bytes([0, 1, 1, 0] * 100)},
    ):
        args = {"job_id": "7d3f…job", "company_id": "çompany", **kw}
        expected = _python(plan_of, model, **args)
        assert expected, "the file split into no event"
        assert _native(plan_of, model, **args) == expected, kw


def test_cells_as_a_tuple_split_as_a_list() -> None:
    from dataclasses import replace

    import crmio_native

    from services.cleansing.cleaning import cut_overlong, match_key
    from services.ingest.readers.base import RawRow
    from services.ingest.splitter import _too_big

    def splitter() -> crmio_native.Splitter:
        return crmio_native.Splitter(
            avro.header("record_batch"), "j", "c", "lead", ["email", "last_name"], [1, 0], [(0, "email")], [],
            3, 2, 100_000, lambda raw: match_key(LEAD, raw), cut_overlong, _too_big,
        )  # fmt: skip

    rows = [RawRow(n, [f"Last{n}", f" Lead{n}@X.io "], None) for n in range(1, 8)] + [RawRow(8, ["only"], "short")]
    as_lists, as_tuples = splitter(), splitter()
    listed = as_lists.add(rows) + as_lists.finish()
    tupled = as_tuples.add([replace(r, cells=tuple(r.cells)) for r in rows]) + as_tuples.finish()
    assert listed == tupled
    assert sum(n for _, n, _ in listed) == 8
