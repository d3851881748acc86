"""The aggregator's per-job state: one builder and one encode/decode pair (schemas/progress.py)."""

from __future__ import annotations

import orjson
import pytest

from schemas.progress import decode_job_progress, encode_job_progress, job_progress
from services.aggregate.progress import fold


def test_a_progress_value_round_trips() -> None:
    p = job_progress("j", "c", "import", "lead", policy={"mode": "all_or_nothing"}, phase="validate")
    p["processed"], p["total"] = 5, 10
    assert decode_job_progress(encode_job_progress(p)) == p


def test_a_value_written_before_policy_and_phase_existed_is_read_with_their_defaults() -> None:
    old = {k: v for k, v in job_progress("j", "c").items() if k not in ("policy", "phase")}
    old["processed"] = 3
    p = decode_job_progress(orjson.dumps(old))
    assert (p["policy"], p["phase"], p["processed"]) == (None, None, 3)


@pytest.mark.parametrize("data", [b"[]", b'{"company_id": "c"}', b"not json"])
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_job_progress(data)


def test_fold_counts_outcomes_up_to_the_total() -> None:
    p = fold(None, {"job_id": "j", "company_id": "c", "kind": "split_done", "total": 2, "at": 0}, 1)
    p = fold(
        p, {"job_id": "j", "company_id": "c", "kind": "batch", "outcomes": ["created", "failed", "created"], "at": 0}, 2
    )
    assert (p["processed"], p["created"], p["failed"], p["started_ms"]) == (2, 1, 1, 1)
