"""Every event schema round-trips through the Confluent-framed codec and evolves compatibly."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from fastavro.validation import ValidationError

from schemas import avro

NOW = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)

SAMPLES = {
    "job_request": {
        "job_id": "6f1c3c3e-9a53-4a43-a9f2-3b8b8b0b2f10",
        "company_id": "0c0c3c3e-9a53-4a43-a9f2-3b8b8b0b2f10",
        "job_type": "import",
        "target_model": "lead",
        "file_format": "csv",
        "file_path": "uploads/abc.csv",
        "original_filename": "leads.csv",
        "field_mapping": {"E-mail": "email", "First Name": "first_name"},
        "validation_rules": '{"email": {"required": true}}',
        "duplicate_handling": "update",
        "options": '{"date_order": "DMY"}',
        "created_by_user_id": None,
        "requested_at": NOW,
        "admitted": True,
    },
    "record_batch": {
        "job_id": "j",
        "company_id": "c",
        "target_model": "lead",
        "fields": ["first_name", "email"],
        "numbers": [3, 7],
        "columns": [["Ada", "Grace"], ["ada@x.example", ""]],
        "problems": {"7": "row has 3 values but the header has 2 columns"},
    },
    "import_result": {
        "job_id": "j",
        "company_id": "c",
        "kind": "batch",
        "total": None,
        "message": None,
        "numbers": [3, 7],
        "outcomes": ["created", "failed"],
        "errors": {"7": "row 7: email: required"},
        "replayed": [],
        "at": NOW,
    },
    "job_status": {
        "job_id": "j",
        "company_id": "c",
        "job_type": "import",
        "target_model": "lead",
        "job_status": "running",
        "total_records": 10,
        "processed_records": 4,
        "success_records": 3,
        "error_records": 1,
        "created_records": 2,
        "updated_records": 1,
        "skipped_records": 0,
        "started_at": NOW,
        "completed_at": None,
        "rows_per_second": 12.5,
        "message": None,
        "at": NOW,
    },
}


@pytest.mark.parametrize("name", sorted(avro.LATEST))
def test_round_trip(name: str) -> None:
    data = avro.encode(name, SAMPLES[name])
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == avro.schema_id(name)
    assert avro.decode(name, data) == SAMPLES[name]


def test_every_schema_has_a_sample() -> None:
    assert set(SAMPLES) == set(avro.LATEST)


def test_unknown_field_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="surprise"):
        avro.encode("record_batch", {**SAMPLES["record_batch"], "surprise": 1})


def test_missing_field_without_default_is_refused() -> None:
    incomplete = {k: v for k, v in SAMPLES["record_batch"].items() if k != "numbers"}
    with pytest.raises((ValueError, ValidationError), match="numbers"):
        avro.encode("record_batch", incomplete)


def test_not_a_crmio_event() -> None:
    with pytest.raises(ValueError, match="not a crmio Avro event"):
        avro.decode("record_batch", b"\x01\x00\x00\x00\x02rest")


def test_later_version_reads_earlier_and_earlier_reads_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "avro"
    shutil.copytree(Path(avro.__file__).with_name("avro"), folder)
    v2 = json.loads((folder / "record_batch.v1.avsc").read_text())
    v2["fields"].append({"name": "sheet", "type": ["null", "string"], "default": None})
    (folder / "record_batch.v2.avsc").write_text(json.dumps(v2))
    old = avro.encode("record_batch", SAMPLES["record_batch"])

    monkeypatch.setattr(avro, "_DIR", folder)
    monkeypatch.setitem(avro.SCHEMA_IDS, 99, "record_batch.v2")
    monkeypatch.setitem(avro.LATEST, "record_batch", 99)
    avro.schema.cache_clear()
    try:
        assert avro.decode("record_batch", old) == {**SAMPLES["record_batch"], "sheet": None}
        new = avro.encode("record_batch", {**SAMPLES["record_batch"], "sheet": "Leads"})
        assert int.from_bytes(new[1:5], "big") == 99
    finally:
        avro.schema.cache_clear()
    # A consumer still on v1 reads v2 data by resolving the writer's schema to its own.
    monkeypatch.setitem(avro.LATEST, "record_batch", 2)
    assert avro.decode("record_batch", new) == SAMPLES["record_batch"]
    avro.schema.cache_clear()


def test_job_request_v1_events_still_read() -> None:
    """Requests written before admission existed (schema id 1) read as not admitted: they queue as pending."""
    import io

    from fastavro import schemaless_writer

    v1 = {k: v for k, v in SAMPLES["job_request"].items() if k != "admitted"}
    buf = io.BytesIO()
    buf.write(b"\x00" + (1).to_bytes(4, "big"))
    schemaless_writer(buf, avro.schema(1), v1)
    assert avro.decode("job_request", buf.getvalue()) == {**v1, "admitted": False}
