"""The typed events: each builder's event survives its encode/decode pair, and the builders agree with the readers."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson

from schemas import events
from services.apply.pipeline import job_from_request

JOB = {
    "id": uuid.uuid4(),
    "company_id": uuid.uuid4(),
    "job_type": "import",
    "target_model": "lead",
    "file_format": "csv",
    "file_path": "imports/x.csv",
    "original_filename": "leads.csv",
    "field_mapping": {"E-mail": "email"},
    "validation_rules": {"email": {"required": True}},
    "duplicate_handling": "update",
    "options": {"strict": True},
    "value_mapping": {"lead_source": {"Google Ads": "advertisement"}},
    "created_by_user_id": None,
    "created_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
}


def test_a_job_request_round_trips_and_gives_the_worker_the_job_back() -> None:
    event = events.job_request(JOB, requested_at=123, admitted=True)
    back = events.decode_job_request(events.encode_job_request(event))
    assert back == event and back["admitted"] is True
    job = job_from_request(dict(back))
    assert job["options"] == {"strict": True} and job["value_mapping"] == JOB["value_mapping"]
    assert job["validation_rules"] == JOB["validation_rules"] and job["field_mapping"] == {"E-mail": "email"}


def test_a_plain_request_leaves_admitted_to_the_schema_default() -> None:
    event = events.job_request({**JOB, "value_mapping": None, "options": {}}, requested_at=1)
    assert "admitted" not in event and event["options"] is None
    assert events.decode_job_request(events.encode_job_request(event))["admitted"] is False


def test_a_pending_status_has_zero_counters_and_a_running_one_its_rate() -> None:
    pending = events.job_status(JOB, "pending", at=5)
    assert pending["processed_records"] == 0 and pending["job_id"] == str(JOB["id"])
    assert events.decode_job_status(events.encode_job_status(pending)) == pending
    counters = {"processed": 500, "success": 490, "error": 10, "created": 400, "updated": 90, "skipped": 0}
    running = events.job_status(
        {"job_id": "j", "company_id": "c", "job_type": "import", "target_model": "lead"},
        "running",
        at=3000,
        total=1000,
        counters=counters,
        started_ms=1000,
    )
    assert running["rows_per_second"] == 250.0 and running["total_records"] == 1000
    assert events.decode_job_status(events.encode_job_status(running)) == running


def test_an_import_result_round_trips() -> None:
    result = events.import_result(
        "j", "c", "batch", at=9, numbers=[1, 2], outcomes=["created", "failed"], errors={"2": "row 2: email: bad"}
    )
    assert events.decode_import_result(events.encode_import_result(result)) == result
    assert orjson.loads(orjson.dumps(result))["kind"] == "batch"
