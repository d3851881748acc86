"""Dates as people write them: years, months in every written form, Excel serials, and what stays refused."""

from __future__ import annotations

import copy
import datetime as dt
import pickle

import orjson
import pytest

from schemas.models import get_model
from services.cleansing.cleaning import (
    CleanOptions,
    Invalid,
    PartialDate,
    RecordCleaner,
    cleaner_for,
    excel_serial_date,
)
from services.cleansing.validation import text_form
from services.exports.writers import render_value

# Every case runs through the compiled fast paths and through the Python cleaners alone.
pytestmark = pytest.mark.usefixtures("both_cleaners")

ACCOUNT = get_model("account")
FOUNDED = ACCOUNT.by_name["founded_date"]
MDY = CleanOptions(date_order="MDY")
DMY = CleanOptions(date_order="DMY")


def clean(text: str, options: CleanOptions = MDY) -> object:
    return cleaner_for(FOUNDED, options).clean(text)


def refused(text: str, options: CleanOptions = MDY) -> Invalid:
    with pytest.raises(Invalid) as caught:
        clean(text, options)
    return caught.value


@pytest.mark.parametrize(
    ("text", "year"),
    [("1990", 1990), ("1000", 1000), ("2999", 2999), ("2024", 2024), ("1990.0", 1990), ("1990.00", 1990)],
)
def test_a_year_alone_is_the_first_of_january_with_year_precision(text: str, year: int) -> None:
    value = clean(text)
    assert type(value) is PartialDate
    assert value.precision == "year"
    assert (value.year, value.month, value.day) == (year, 1, 1)
    assert value == dt.date(year, 1, 1)
    assert value.isoformat() == str(value) == f"{year:04d}"


@pytest.mark.parametrize(
    "text",
    [
        "2024-03",
        "2024-3",
        "2024/03",
        "2024/3",
        "2024.03",
        "03/2024",
        "3/2024",
        "03-2024",
        "03.2024",
        "3.2024",
        "March 2024",
        "Mar 2024",
        "Mar. 2024",
        "march, 2024",
        "MAR-2024",
        "Mar/2024",
        "mar2024",
    ],
)
def test_a_month_in_every_written_form_is_its_first_day_with_month_precision(text: str) -> None:
    for options in (MDY, DMY):  # the job's date order never changes a month
        value = clean(text, options)
        assert type(value) is PartialDate, text
        assert value.precision == "month"
        assert (value.year, value.month, value.day) == (2024, 3, 1)
        assert str(value) == value.isoformat() == "2024-03"


def test_two_digit_months_render_with_a_leading_zero() -> None:
    assert str(clean("December 1999")) == "1999-12"
    assert str(clean("2024.10")) == "2024-10"
    assert str(clean("1/1999")) == "1999-01"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45292", dt.date(2024, 1, 1)),
        ("45292.5", dt.date(2024, 1, 1)),  # the time of day is dropped
        ("45292.999988", dt.date(2024, 1, 1)),
        ("45351", dt.date(2024, 2, 29)),
        ("10000", dt.date(1927, 5, 18)),  # the smallest serial read
        ("36526", dt.date(2000, 1, 1)),
        ("2958465", dt.date(9999, 12, 31)),  # Excel's last day
    ],
)
def test_excel_serials_are_full_dates(text: str, expected: dt.date) -> None:
    value = clean(text)
    assert type(value) is dt.date
    assert value == expected


def test_excel_serials_follow_excels_1900_leap_year_bug() -> None:
    assert excel_serial_date(1) == dt.date(1900, 1, 1)
    assert excel_serial_date(59) == dt.date(1900, 2, 28)
    with pytest.raises(ValueError, match="29 February 1900"):
        excel_serial_date(60)  # Excel's day that never was
    assert excel_serial_date(61) == dt.date(1900, 3, 1)
    assert excel_serial_date(62) == dt.date(1900, 3, 2)
    assert excel_serial_date(2958465) == dt.date(9999, 12, 31)
    for bad in (0, -1, 2958466):
        with pytest.raises(ValueError, match="serials run from 1 to 2958465"):
            excel_serial_date(bad)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3000", "a year alone must be from 1000 to 2999"),
        ("0999", "a year alone must be from 1000 to 2999"),
        ("999", "a year (1000 to 2999) or as an Excel date serial (10000 to 2958465)"),
        ("60", "Excel date serial (10000 to 2958465)"),
        ("9999", "a year alone must be from 1000 to 2999"),
        ("2958466", "Excel date serial (10000 to 2958465)"),
        ("20240304", "Excel date serial (10000 to 2958465)"),
        ("45.5", "Excel date serial"),
        ("1990.5", "Excel date serial"),  # a fraction of a year is no month
        ("012345", "Excel date serial"),
        ("2024-13", "month must be in 1..12"),
        ("13/2024", "month must be in 1..12"),
        ("2024-00", "month must be in 1..12"),
        ("Foo 2024", "'Foo' is not a month name"),
        ("03/24", "is not a date"),  # could be 24 March: a month needs a four-digit year
        ("Mar-24", "is not a date"),
        ("2024 -", "is not a date"),
        ("1990s", "is not a date"),
        ("-1990", "is not a date"),
    ],
)
def test_nonsense_is_refused_with_a_true_message_and_the_accepted_forms(text: str, why: str) -> None:
    exc = refused(text)
    assert exc.level == "error"
    assert why in exc.message
    assert repr(text) in exc.message
    assert exc.hint.startswith("write dates as YYYY-MM-DD, MM/DD/YYYY")
    assert "YYYY-MM" in exc.hint and "March 2024" in exc.hint and "a year as YYYY" in exc.hint
    assert "DD/MM/YYYY" in refused(text, DMY).hint


@pytest.mark.parametrize(
    ("text", "mdy", "dmy"),
    [
        ("2024-03-04", dt.date(2024, 3, 4), dt.date(2024, 3, 4)),
        ("03/04/2024", dt.date(2024, 3, 4), dt.date(2024, 4, 3)),
        ("03/20/24", dt.date(2024, 3, 20), dt.date(2024, 3, 20)),
        ("03/12/24", dt.date(2024, 3, 12), dt.date(2024, 12, 3)),
        ("4 Mar 2024", dt.date(2024, 3, 4), dt.date(2024, 3, 4)),
        ("March 4, 2024", dt.date(2024, 3, 4), dt.date(2024, 3, 4)),
        ("2024-03-04T10:00:00Z", dt.date(2024, 3, 4), dt.date(2024, 3, 4)),
        ("12/25/29", dt.date(2029, 12, 25), dt.date(2029, 12, 25)),
    ],
)
def test_full_dates_are_unchanged_plain_dates(text: str, mdy: dt.date, dmy: dt.date) -> None:
    for options, expected in ((MDY, mdy), (DMY, dmy)):
        value = clean(text, options)
        assert type(value) is dt.date
        assert value == expected


def test_a_partial_date_is_a_date_that_writes_only_its_precision() -> None:
    year, month = PartialDate.year_of(1990), PartialDate.month_of(2024, 3)
    assert isinstance(year, dt.date) and year < month
    assert repr(month) == "PartialDate(2024, 3, precision='month')"
    assert text_form(year) == "1990" and render_value(month) == "2024-03"
    assert cleaner_for(FOUNDED).render(month) == "2024-03"
    assert orjson.dumps({"d": month}, default=str) == b'{"d":"2024-03"}'
    assert month.full() == dt.date(2024, 3, 1) and type(month.full()) is dt.date
    for copied in (pickle.loads(pickle.dumps(month)), copy.deepcopy(month), copy.copy(month)):
        assert type(copied) is PartialDate and copied.precision == "month" and copied == month
    # Arithmetic and replace give plain dates: a derived day is no longer "the month".
    assert type(month + dt.timedelta(days=1)) is dt.date
    assert type(month.replace(day=5)) is dt.date and month.replace(day=5) == dt.date(2024, 3, 5)
    assert type(PartialDate(2024, 3, 4)) is dt.date  # no precision: a plain date
    with pytest.raises(ValueError, match="first day of its period"):
        PartialDate(2024, 3, 4, "month")
    with pytest.raises(ValueError, match="first day of its period"):
        PartialDate(2024, 3, 1, "year")
    with pytest.raises(ValueError, match="first day of its period"):
        PartialDate(2024, 1, 1, "week")  # type: ignore[arg-type]


def test_a_record_keeps_partial_dates_and_rules_see_what_was_written() -> None:
    cleaner = RecordCleaner(ACCOUNT, {"founded_date": {"min": "1900-01-01"}})
    record = cleaner.clean({"name": "Acme", "founded_date": "1990"})
    assert record.ok
    assert type(record.values["founded_date"]) is PartialDate
    [issue] = cleaner.clean({"name": "Acme", "founded_date": "1850"}).issues
    assert issue.message == "1850 is before 1900-01-01 set for founded_date"
    # Typed JSON numbers arrive as ints: 1990 is a year, 45292 a serial.
    assert str(RecordCleaner(ACCOUNT).clean({"name": "A", "founded_date": 1990}).values["founded_date"]) == "1990"
    assert RecordCleaner(ACCOUNT).clean({"name": "A", "founded_date": 45292}).values["founded_date"] == dt.date(
        2024, 1, 1
    )


# ----------------------------------------------------------------- the apply plan keeps precision


def _rows(*values: str | None, first: int = 1) -> list:
    from services.apply.batch import SourceRow

    cleaner = RecordCleaner(ACCOUNT)
    rows = []
    for n, founded in enumerate(values, start=first):
        raw = {"name": "Acme", "founded_date": founded}
        rows.append((SourceRow(n, raw), cleaner.clean(raw)))
    return rows


def test_created_records_carry_the_precision_of_their_partial_dates() -> None:
    from services.apply.batch import plan_batch

    plan = plan_batch("create_new", _rows("1990", "2024-03", "2024-03-04", None), {})
    inserted = list(plan.inserts.values())
    assert [v["date_precision"] for v in inserted] == [{"founded_date": "year"}, {"founded_date": "month"}, None, None]
    assert [v.get("founded_date") for v in inserted] == [
        dt.date(1990, 1, 1),
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 4),
        None,
    ]


def test_updates_merge_precision_a_full_date_clears_it_and_before_images_hold_dates() -> None:
    from services.apply.batch import plan_batch

    stored = {
        "name:acme": {
            "id": "r1",
            "version": 3,
            "match_key": "name:acme",
            "name": "Acme",
            "founded_date": dt.date(1990, 1, 1),
            "date_precision": {"founded_date": "year"},
        }
    }
    # An empty cell keeps the stored year; a month replaces it; a full date clears the precision.
    plan = plan_batch("update", _rows(None, "2024-03", "2024-03-04"), stored)
    assert [n for n, outcome, _, _ in plan.ledger if outcome == "updated"] == [1, 2, 3]
    befores = [b for _, _, _, b in plan.ledger]
    assert befores[0]["date_precision"] == {"founded_date": "year"} and befores[0]["version"] == 3
    assert befores[1]["date_precision"] == {"founded_date": "year"}
    # The second update's before-image is the first update's result: the month as its first day.
    assert befores[2]["date_precision"] == {"founded_date": "month"}
    assert type(befores[2]["founded_date"]) is dt.date and befores[2]["founded_date"] == dt.date(2024, 3, 1)
    assert orjson.dumps(befores[2], default=str).count(b'"2024-03-01"') == 1
    final = plan.updates["r1"]
    assert final["founded_date"] == dt.date(2024, 3, 4) and final["date_precision"] is None

    plan = plan_batch(
        "update",
        _rows("1990"),
        {"name:acme": {**stored["name:acme"], "date_precision": None, "founded_date": dt.date(1985, 6, 7)}},
    )
    assert plan.updates["r1"]["date_precision"] == {"founded_date": "year"}


def test_the_preview_shows_a_partial_date_as_written(tmp_path) -> None:
    from services.api.http import OrjsonResponse
    from services.ingest import uploads
    from services.ingest.readers.base import ReaderLimits

    path = tmp_path / "accounts.csv"
    path.write_text("Name,Founded\nAcme,1990\nBeta,March 2024\nGamma,2024-03-04\nDelta,45292\n", encoding="utf-8")
    doc = uploads.preview_records(
        path,
        "csv",
        "accounts.csv",
        model=ACCOUNT,
        mapping=None,
        memory=None,
        rules=None,
        options=MDY,
        sheet=None,
        rows=10,
        limits=ReaderLimits(),
    )
    shown = orjson.loads(OrjsonResponse(doc).body)
    assert [r["values"]["founded_date"] for r in shown["rows"]] == ["1990", "2024-03", "2024-03-04", "2024-01-01"]
    assert all(r["ok"] for r in shown["rows"])
