"""The API's contract over real HTTP, PostgreSQL and a worker: Idempotency-Key on creating POSTs (the first answer
again, a reused key refused, keys per company, expiry, a key still in use), Location on what creating answers,
problem answers for the router's 404 / 405 and FastAPI's 422 with the fields named, the correlation id from the
caller in the answer and the API's log, and a file over the row limit answered 413 (not 429)."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import httpx
import pytest

from services.core.settings import Settings
from services.jobs.limits import set_company_limits
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    LEAD_MAPPING,
    Company,
    api_settings,
    base_url,
    client,
    leads_csv,
    new_company,
    upload,
    wait_final,
)

pytestmark = pytest.mark.integration


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _count(pool: asyncpg.Pool, sql: str, company: Company) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(sql, uuid.UUID(company.id))
    return n


async def test_a_repeated_create_answers_its_first_answer_and_creates_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme, globex = await new_company(pool), await new_company(pool)
    key = _key()
    data = leads_csv(5)
    post = {"headers": {**acme.auth(), **key}, "files": {"file": ("leads.csv", data, "text/csv")}}
    first = await client.post("/api/v1/uploads", **post)  # type: ignore[arg-type]
    again = await client.post("/api/v1/uploads", **post)  # type: ignore[arg-type] - another multipart boundary
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.content == first.content and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    upload_id = first.json()["id"]
    assert first.headers["location"] == f"/api/v1/uploads/{upload_id}"
    assert (await client.get(first.headers["location"], headers=acme.auth())).json()["id"] == upload_id
    assert await _count(pool, "SELECT count(*) FROM crm_uploads WHERE company_id = $1", acme) == 1

    # The same key with another file: refused, naming the key; nothing more stored.
    other = await client.post(
        "/api/v1/uploads", headers={**acme.auth(), **key}, files={"file": ("leads.csv", leads_csv(6), "text/csv")}
    )
    assert other.status_code == 422 and other.json()["code"] == "IdempotencyKeyReused", other.text
    assert key["Idempotency-Key"] in other.json()["detail"] and "send a new key" in other.json()["detail"]
    # Keys are the company's: another company's same key creates its own upload.
    theirs = await client.post(
        "/api/v1/uploads", headers={**globex.auth(), **key}, files={"file": ("leads.csv", data, "text/csv")}
    )
    assert (
        theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers and theirs.json()["id"] != upload_id
    )

    # A job: one job however often the request is repeated, key order in the body aside.
    job_key = _key()
    body = {"job_type": "import", "upload_id": upload_id, "target_model": "lead", "mapping": LEAD_MAPPING}
    made = await client.post("/api/v1/jobs", headers={**acme.auth(), **job_key}, json=body)
    assert made.status_code == 201, made.text
    reordered = dict(reversed(list(body.items())))
    repeat = await client.post("/api/v1/jobs", headers={**acme.auth(), **job_key}, json=reordered)
    assert repeat.status_code == 201 and repeat.json()["id"] == made.json()["id"], repeat.text
    assert made.headers["location"] == f"/api/v1/jobs/{made.json()['id']}" == repeat.headers["location"]
    assert await _count(pool, "SELECT count(*) FROM crm_import_export_jobs WHERE company_id = $1", acme) == 1
    assert (await wait_final(client, acme, made.json()["id"]))["success_records"] == 5

    # Templates, schedules and custom fields: 201 with the Location a GET answers, once per key.
    creates = {
        "/api/v1/templates": {"template_name": "t", "target_model": "lead", "template_type": "import"},
        "/api/v1/schedules": {
            "name": "nightly",
            "cron": "0 3 * * *",
            "job": {"job_type": "export", "target_model": "lead", "file_format": "csv"},
        },
        "/api/v1/fields": {"target_model": "lead", "label": "Deal Stage", "field_type": "text"},
    }
    for path, doc in creates.items():
        k = _key()
        one = await client.post(path, headers={**acme.auth(), **k}, json=doc)
        two = await client.post(path, headers={**acme.auth(), **k}, json=doc)
        assert one.status_code == two.status_code == 201 and one.content == two.content, (path, one.text, two.text)
        got = await client.get(one.headers["location"], headers=acme.auth())
        assert got.status_code == 200 and got.json()["id"] == one.json()["id"], (path, got.text)
    assert await _count(pool, "SELECT count(*) FROM crm_data_templates WHERE company_id = $1", acme) == 1
    assert await _count(pool, "SELECT count(*) FROM crm_schedules WHERE company_id = $1", acme) == 1
    assert await _count(pool, "SELECT count(*) FROM crm_custom_fields WHERE company_id = $1", acme) == 1


async def test_idempotency_keys_expire_and_a_key_in_use_is_refused_until_its_request_ends_or_dies(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    key = _key()
    doc = {"template_name": "first", "target_model": "lead", "template_type": "export"}
    assert (await client.post("/api/v1/templates", headers={**acme.auth(), **key}, json=doc)).status_code == 201
    # Past idempotency_key_retention_s the key is forgotten: another request may use it.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE crm_idempotency_keys SET created_at = now() - interval '25 hours' WHERE company_id = $1",
            uuid.UUID(acme.id),
        )
    later = await client.post("/api/v1/templates", headers={**acme.auth(), **key}, json={**doc, "template_name": "2"})
    assert later.status_code == 201 and later.json()["template_name"] == "2", later.text
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM crm_idempotency_keys WHERE company_id = $1", uuid.UUID(acme.id))
            == 1
        )  # the expired row went

    # A first request still being answered (its row claimed, no answer yet): a repeat gets a 409 ...
    busy = _key()["Idempotency-Key"]
    third = {**doc, "template_name": "3"}
    first = await client.post("/api/v1/templates", headers={**acme.auth(), "Idempotency-Key": busy}, json=third)
    assert first.status_code == 201
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE crm_idempotency_keys SET status = NULL, body = NULL WHERE company_id = $1 AND idempotency_key = $2",
            uuid.UUID(acme.id),
            busy,
        )
    refused = await client.post("/api/v1/templates", headers={**acme.auth(), "Idempotency-Key": busy}, json=third)
    assert refused.status_code == 409 and refused.json()["code"] == "IdempotencyKeyInUse", refused.text
    # ... until idempotency_in_progress_s passed (its process died): then the repeat runs (the name is taken now).
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE crm_idempotency_keys SET created_at = now() - interval '1 hour' WHERE company_id = $1 "
            "AND idempotency_key = $2",
            uuid.UUID(acme.id),
            busy,
        )
    taken = await client.post("/api/v1/templates", headers={**acme.auth(), "Idempotency-Key": busy}, json=third)
    assert taken.status_code == 409 and taken.json()["code"] == "TemplateNameTaken", taken.text
    # That request failed, so its key was given back: the next one with it runs.
    fourth = {**third, "template_name": "4"}
    ok = await client.post("/api/v1/templates", headers={**acme.auth(), "Idempotency-Key": busy}, json=fourth)
    assert ok.status_code == 201, ok.text
    bad = await client.post("/api/v1/templates", headers={**acme.auth(), "Idempotency-Key": "two words"}, json=doc)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "header.Idempotency-Key", bad.text


async def test_router_and_validation_errors_are_problems_naming_the_field(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    missing = await client.get("/api/v1/nothing-here", headers=acme.auth())
    assert missing.status_code == 404 and missing.json()["type"] == "about:blank", missing.text
    assert missing.json()["title"] == "Not Found" and "/api/docs" in missing.json()["detail"]
    wrong = await client.delete("/api/v1/jobs", headers=acme.auth())
    assert wrong.status_code == 405 and "GET" in wrong.json()["detail"] and wrong.headers["allow"], wrong.text
    bad = await client.post(
        "/api/v1/jobs", headers=acme.auth(), json={"job_type": "export", "target_model": "boat", "colour": 1}
    )
    problem = bad.json()
    assert bad.status_code == 422 and problem["code"] == "RequestValidationError", bad.text
    assert problem["type"] == "/api/problems/RequestValidationError"
    fields = {e["field"] for e in problem["errors"]}
    assert {"body.export.target_model", "body.export.colour"} <= fields, fields
    described = await client.get(problem["type"])
    assert described.status_code == 200 and described.json()["status"] == 422, described.text


async def test_the_correlation_id_is_the_callers_and_is_in_the_api_log(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    seen: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Lines()
    logger = logging.getLogger("uvicorn.error.crmio")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # refusals are logged at INFO; this test server logs from WARNING on
    try:
        r = await client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers={**acme.auth(), "X-Request-ID": "req-42.a"})
        made = await client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=acme.auth())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert r.status_code == 404 and r.json()["correlation_id"] == "req-42.a" == r.headers["x-correlation-id"]
    assert any("correlation_id=req-42.a" in line and "404 NotFound" in line for line in seen), seen
    generated = made.json()["correlation_id"]
    assert len(generated) == 32 and any(f"correlation_id={generated}" in line for line in seen), seen
    ok = await client.get("/api/v1/jobs", headers={**acme.auth(), "X-Correlation-ID": "abc"})
    assert ok.status_code == 200 and ok.headers["x-correlation-id"] == "abc"


async def test_a_file_over_the_row_limit_is_413_naming_the_limit(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    acme = await new_company(pool)
    async with pool.acquire() as conn:
        await set_company_limits(conn, settings, acme.id, {"max_rows": 3})
    made = await upload(client, acme, "leads.csv", leads_csv(5))
    assert made.status_code == 201, made.text
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": made.json()["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
    )
    assert r.status_code == 413 and r.json()["code"] == "LimitExceeded", r.text
    assert "limit is 3 rows (max_rows)" in r.json()["detail"]
