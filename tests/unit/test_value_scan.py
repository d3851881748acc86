"""The preview's choice words: counted once per file and set of columns, however often the wizard asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.models import LEAD
from services.cleansing.picklists import builtin_picklists
from services.ingest import value_scan
from services.ingest.readers import ReaderLimits


def _scan(path: Path, mapping: dict[str, str]) -> list[dict[str, Any]]:
    picklists = builtin_picklists()
    return value_scan.scan_values(
        path,
        "csv",
        "leads.csv",
        model=LEAD,
        mapping=mapping,
        fields={"lead_source": picklists["lead_source"], "status": picklists["lead_status"]},
        value_mapping={"lead_source": {"Podcast": "event"}},
        memory=None,
        sheet=None,
        limits=ReaderLimits(),
        max_rows=1000,
        max_distinct=100,
    )


def test_the_words_of_a_column_are_read_once_and_the_choices_applied_each_time(
    tmp_path: Path, monkeypatch: Any
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Email,Source,State\na@x.co,Web,New\nb@x.co,Podcast,New\nc@x.co,web ,Hot\n")
    opened = []
    real = value_scan.open_table
    monkeypatch.setattr(value_scan, "open_table", lambda *a, **k: opened.append(a) or real(*a, **k))
    mapping = {"Email": "email", "Source": "lead_source", "State": "status"}
    first = _scan(path, mapping)
    again = _scan(path, {**mapping, "Email": ""})  # another mapping of the same choice columns
    assert len(opened) == 1 and first == again
    source, state = first
    assert (source["column"], state["column"]) == ("Source", "State") and source["complete"]
    assert {(i["value"], i["count"]) for i in source["items"]} == {("Web", 1), ("Podcast", 1), ("web", 1)}
    assert next(i for i in source["items"] if i["value"] == "Podcast")["target"] == "event"
    assert {(i["value"], i["count"]) for i in state["items"]} == {("New", 2), ("Hot", 1)}
    path.write_text("Email,Source,State\na@x.co,Referral,New\n")  # a new file under the same name is read again
    assert [i["value"] for i in _scan(path, mapping)[0]["items"]] == ["Referral"] and len(opened) == 2
