"""Pure parts of job control: admission's choice, error policies, rollback plans, schedule times."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest

from services.core.errors import ValidationRulesError
from services.jobs.admission import Pending, choose
from services.jobs.error_policy import ErrorPolicy, breach, parse_policy, policy_options
from services.jobs.limits import CompanyLimits
from services.jobs.rollback import LedgerItem, plan_rollback
from services.jobs.schedules import ScheduleError, check_definition, next_run

A, B = "a", "b"


def _limits(n: int) -> CompanyLimits:
    return CompanyLimits(
        max_running_jobs=n,
        max_file_bytes=1,
        max_rows=1,
        job_retention_days=1,
        file_retention_days=1,
        max_storage_bytes=1,
    )


def test_admission_keeps_order_per_company_and_skips_full_companies() -> None:
    pending = [Pending("a1", A), Pending("a2", A), Pending("b1", B), Pending("a3", A), Pending("b2", B)]
    chosen = choose(pending, Counter({A: 1}), {A: _limits(2), B: _limits(2)}, global_cap=10)
    assert chosen == ["a1", "b1", "b2"]  # a2 waits behind a1's slot; b is not held up by a


def test_admission_global_cap() -> None:
    pending = [Pending("a1", A), Pending("b1", B), Pending("b2", B)]
    assert choose(pending, Counter({A: 1, B: 1}), {A: _limits(5), B: _limits(5)}, global_cap=3) == ["a1"]
    assert choose(pending, Counter(), {A: _limits(5), B: _limits(5)}, global_cap=0) == []


def test_policy_parsing() -> None:
    assert parse_policy(None) == ErrorPolicy()
    assert parse_policy({"mode": "stop", "max_errors": 0}).max_errors == 0
    for bad, words in [
        ({"mode": "stop"}, "needs max_errors"),
        ({"mode": "halt"}, "continue, stop"),
        ({"mode": "stop", "max_errors": -1}, "whole number"),
        ({"mode": "stop", "max_error_percent": 120}, "up to 100"),
        ({"mode": "all_or_nothing", "max_errors": 3}, "takes no"),
        ({"limit": 1}, "unknown keys"),
        ("stop", "must be an object"),
    ]:
        with pytest.raises(ValidationRulesError, match=words):
            parse_policy(bad)


def test_policy_options_start_all_or_nothing_with_validation() -> None:
    assert policy_options({"error_policy": {"mode": "all_or_nothing"}})["phase"] == "validate"
    assert "phase" not in policy_options({"error_policy": {"mode": "all_or_nothing"}, "dry_run": True})
    assert policy_options({"error_policy": {"mode": "continue"}}) == {}


def test_breach() -> None:
    stop_n = ErrorPolicy("stop", max_errors=5)
    assert breach(stop_n, 100, 5) is None
    assert "max_errors" in (breach(stop_n, 100, 6) or "")
    pct = ErrorPolicy("stop", max_error_percent=10.0)
    assert breach(pct, 50, 40) is None  # too few rows to judge a share mid-run
    assert breach(pct, 50, 40, at_end=True) is not None
    assert breach(pct, 1000, 100) is None and "max_error_percent" in (breach(pct, 1000, 101) or "")
    assert breach(ErrorPolicy("all_or_nothing"), 10, 10) is None


def _item(outcome: str, last: int) -> LedgerItem:
    return LedgerItem(uuid.uuid4(), [7, 9], outcome, {"email": "x@y.z"} if outcome == "updated" else None, last)


def test_rollback_plan() -> None:
    created, updated, changed, deleted, gone = (
        _item("created", 1),
        _item("updated", 3),
        _item("updated", 2),
        _item("updated", 2),
        _item("created", 1),
    )
    current = {created.record_id: 1, updated.record_id: 3, changed.record_id: 4}
    plan = plan_rollback([created, updated, changed, deleted, gone], current, force=False)
    assert plan.deletes == [created] and plan.restores == [updated] and plan.gone == [gone]
    messages = dict((i.record_id, m) for i, m in plan.conflicts)
    assert "row 7" in messages[changed.record_id] and "version 4" in messages[changed.record_id]
    assert "deleted after the import" in messages[deleted.record_id]
    forced = plan_rollback([changed], current, force=True)
    assert forced.restores == [changed] and not forced.conflicts


def test_next_run_in_a_time_zone_across_dst() -> None:
    utc = dt.UTC
    # 02:30 does not exist in Berlin on 2026-03-29: that day's run is at 03:30 CEST (01:30 UTC).
    first = next_run("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 3, 28, 23, 0, tzinfo=utc))
    assert first == dt.datetime(2026, 3, 29, 1, 30, tzinfo=utc)
    assert next_run("30 2 * * *", "Europe/Berlin", first) == dt.datetime(2026, 3, 30, 0, 30, tzinfo=utc)
    # 02:30 occurs twice on 2026-10-25: it runs once, at the first (CEST) occurrence.
    autumn = next_run("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 24, 23, 0, tzinfo=utc))
    assert autumn == dt.datetime(2026, 10, 25, 0, 30, tzinfo=utc)
    assert next_run("30 2 * * *", "Europe/Berlin", autumn) == dt.datetime(2026, 10, 26, 1, 30, tzinfo=utc)
    assert next_run("* * * * * */5", "UTC", dt.datetime(2026, 1, 1, 0, 0, 2, tzinfo=utc)).second == 5


def test_schedule_definitions_are_checked() -> None:
    with pytest.raises(ScheduleError, match="time zone"):
        next_run("* * * * *", "Mars/Base", dt.datetime.now(dt.UTC))
    with pytest.raises(ScheduleError, match="job_type"):
        check_definition({"job_type": "delete"})
    with pytest.raises(ScheduleError, match="folder"):
        check_definition({"job_type": "import", "target_model": "lead", "folder": "../x"})
    export = check_definition(
        {
            "job_type": "export",
            "target_model": "lead",
            "file_format": "csv",
            "filters": [{"field": "status", "op": "eq", "value": "new"}],
        }
    )
    assert export["options"]["fields"][0] and export["file_format"] == "csv"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"mapping": {"Email": 42}}, "mapping must map column names to field names"),
        ({"mapping": {"Email": "emial"}}, "mapping names no field ['emial'] of lead"),
        ({"validation_rules": {"email": {"regex": r"(a)\1"}}}, "uses a feature crmio does not run"),
        ({"options": {"phone_region": "XX"}}, "phone_region must be a two-letter region code"),
        ({"template_id": "nope"}, "is not a template id"),
    ],
)
def test_an_import_schedule_is_checked_when_it_is_made_not_when_a_file_arrives(
    change: dict[str, object], refusal: str
) -> None:
    from services.core.errors import CrmioError
    from services.jobs.schedules import check_definition

    with pytest.raises(CrmioError) as info:
        check_definition({"job_type": "import", "target_model": "lead", **change})
    assert refusal in str(info.value)


@pytest.mark.parametrize(
    ("cron", "timezone", "refusal"),
    [
        ("0 0 31 2 *", "UTC", "has no future run time"),
        ("* * * * *", "A" * 5000, "unknown time zone 'AAAA"),
        ("* * * * * */2", "UTC", "fires 2 s apart"),
        ("*/5 * * * *", "UTC", None),
    ],
)
def test_a_schedule_that_never_fires_or_fires_too_often_is_refused_as_input(
    cron: str, timezone: str, refusal: str | None
) -> None:
    import asyncio

    from services.jobs.schedules import ScheduleError, create_schedule

    class Conn:  # reached only when every check passed
        async def fetchrow(self, *_: object) -> dict[str, str]:
            return {"created": "yes"}

    make = create_schedule(
        Conn(),
        "00000000-0000-4000-8000-000000000001",
        name="s",
        cron=cron,  # type: ignore[arg-type]
        timezone=timezone,
        job={"job_type": "export", "target_model": "lead"},
        queue="q",
        min_interval_s=60,
    )
    if refusal is None:
        assert asyncio.run(make) == {"created": "yes"}
        return
    with pytest.raises(ScheduleError, match=refusal.replace("(", r"\(").replace("*", r"\*")):
        asyncio.run(make)
