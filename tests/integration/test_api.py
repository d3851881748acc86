"""The HTTP API over real HTTP (uvicorn in-process) against the real PostgreSQL, Kafka and a real worker."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
import uvicorn

from services.api import create_app, server_config
from services.core.settings import Settings
from services.jobs import keys

pytestmark = pytest.mark.integration

API_ROUTES_WITH_ID = [
    ("GET", "/api/v1/jobs/{job}"),
    ("GET", "/api/v1/jobs/{job}/logs"),
    ("GET", "/api/v1/jobs/{job}/errors.csv"),
    ("GET", "/api/v1/jobs/{job}/download"),
    ("GET", "/api/v1/jobs/{job}/events"),
    ("GET", "/api/v1/uploads/{upload}"),
    ("POST", "/api/v1/uploads/{upload}/preview"),
    ("GET", "/api/v1/templates/{template}"),
    ("PATCH", "/api/v1/templates/{template}"),
    ("DELETE", "/api/v1/templates/{template}"),
    ("POST", "/api/v1/jobs/{job}/rollback"),
    ("POST", "/api/v1/jobs/{job}/retry"),
    ("GET", "/api/v1/schedules/{schedule}"),
    ("POST", "/api/v1/schedules/{schedule}/pause"),
    ("POST", "/api/v1/schedules/{schedule}/resume"),
    ("DELETE", "/api/v1/schedules/{schedule}"),
    ("DELETE", "/api/v1/uploads/{upload}"),
]
ALL_ROUTES = [
    *API_ROUTES_WITH_ID,
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/events"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/templates"),
    ("POST", "/api/v1/templates"),
    ("GET", "/api/v1/limits"),
    ("GET", "/api/v1/schedules"),
    ("POST", "/api/v1/schedules"),
]

LEAD_MAPPING = {
    "Vorname": "first_name",
    "Nachname": "last_name",
    "Mail": "email",
    "Quelle": "lead_source",
    "Umsatz": "annual_revenue",
}


class Server:
    """A uvicorn server in this event loop on a free port, with the app's real lifespan."""

    def __init__(self, settings: Settings) -> None:
        # As `crmio api` serves it: the header deadline and the connection cap apply here too.
        self.server = uvicorn.Server(
            server_config(create_app(settings), settings, host="127.0.0.1", port=0, log_level="warning")
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 60
        while not self.server.started:
            if self.task.done() or time.monotonic() > deadline:
                raise AssertionError(
                    f"the API did not start: {self.task.exception() if self.task.done() else 'timeout'}"
                )
            await asyncio.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    # A quick SSE poll, so even a short job shows its progress before its final status.
    return settings.model_copy(update={"sse_poll_interval_s": 0.1, "request_read_timeout_s": 2.0})


@pytest_asyncio.fixture(scope="session")
async def base_url(api_settings: Settings, pool: asyncpg.Pool, worker: Any) -> AsyncIterator[str]:
    async with Server(api_settings) as url:
        yield url


async def _answers_problems(response: httpx.Response) -> None:
    """Every error answer the API tests see is a problem (RFC 9457) carrying the request's correlation id."""
    if response.status_code >= 400:
        await response.aread()
        where = (response.request.method, response.request.url.path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", where
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"] and problem["title"], where
        assert problem["correlation_id"] == response.headers["x-correlation-id"], where


# Every client of these tests checks every error answer (tests/unit/test_api_contract.py: the document says so).
PROBLEM_HOOKS = {"response": [_answers_problems]}


@pytest_asyncio.fixture(scope="session")
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, event_hooks=PROBLEM_HOOKS) as c:
        yield c


class Company:
    def __init__(self, company_id: str, admin: str, member: str) -> None:
        self.id, self.admin, self.member = company_id, admin, member

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin if role == 'admin' else self.member}"}


async def new_company(pool: asyncpg.Pool) -> Company:
    company = str(uuid.uuid4())
    async with pool.acquire() as conn:
        admin, _ = await keys.create_key(conn, company, "admin", "test admin")
        member, _ = await keys.create_key(conn, company, "member", "test member")
    return Company(company, admin, member)


@pytest_asyncio.fixture
async def acme(pool: asyncpg.Pool) -> Company:
    return await new_company(pool)


@pytest_asyncio.fixture
async def globex(pool: asyncpg.Pool) -> Company:
    return await new_company(pool)


def leads_csv(
    n: int, *, bad_every: int = 0, headers: tuple[str, ...] = ("Vorname", "Nachname", "Mail", "Quelle", "Umsatz")
) -> bytes:
    """n lead rows under German headers; every bad_every-th row lacks a last name and has a bad email."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(headers)
    for i in range(1, n + 1):
        bad = bad_every and i % bad_every == 0
        w.writerow(
            [
                f"First{i}",
                "" if bad else f"Last{i}",
                f"user{i}@@example" if bad else f"User{i}@Example.com",
                "Web",
                "1,200.50",
            ]
        )
    return out.getvalue().encode()


async def upload(client: httpx.AsyncClient, company: Company, name: str, data: bytes, **fields: str) -> httpx.Response:
    return await client.post(
        "/api/v1/uploads", headers=company.auth(), files={"file": (name, data, "text/csv")}, data=fields
    )


async def wait_final(
    client: httpx.AsyncClient, company: Company, job_id: str, timeout_s: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/jobs/{job_id}", headers=company.auth())
        assert r.status_code == 200, r.text
        if r.json()["job_status"] in ("completed", "failed", "cancelled"):
            return r.json()
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} not final after {timeout_s} s")


async def read_events(response: httpx.Response, until: Any, timeout_s: float = 180) -> list[tuple[str, dict[str, Any]]]:
    """Parse SSE messages until ``until(events)`` is true or the stream ends (bounded)."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""

    async def consume() -> None:
        nonlocal name
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, orjson.loads(line[6:])))
                if until(events):
                    return

    await asyncio.wait_for(consume(), timeout_s)
    return events


# --------------------------------------------------------------------------- operations, auth


async def test_health_ready_docs_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
    docs = await client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await client.get("/api/openapi.json")).json()
    assert (
        "/api/v1/uploads/{upload_id}/preview" in spec["paths"] and "HTTPBearer" in spec["components"]["securitySchemes"]
    )
    text = (await client.get("/metrics")).text
    assert 'crmio_jobs{job_status="completed",job_type="import"}' in text
    assert "crmio_records_per_second" in text
    assert 'crmio_http_request_duration_seconds_count{method="GET",route="/readyz",status="200"} 1.0' in text


async def test_every_response_carries_the_security_headers_and_the_docs_come_from_the_package(
    client: httpx.AsyncClient, acme: Company
) -> None:
    for path, headers in [
        ("/healthz", {}),
        ("/api/v1/jobs", acme.auth()),
        ("/api/v1/jobs/nope", acme.auth()),
        ("/api/openapi.json", {}),
        ("/api/docs", {}),
        ("/api/v1/jobs", {}),
    ]:
        r = await client.get(path, headers=headers)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert (
            r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        )
    docs = await client.get("/api/docs")
    assert "/api/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert "'sha256-" in docs.headers["content-security-policy"]
    bundle = await client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert (await client.get("/api/docs/assets/..%2f..%2fsettings.py")).status_code == 404


async def _raw(base_url: str, head: str, body: bytes = b"") -> bytes:
    """Send a request by hand (a client that stops or overruns) and read what the server answers."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.replace("HOST", host).encode() + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()


async def test_the_companys_file_size_limit_holds_while_the_upload_arrives(
    client: httpx.AsyncClient, pool: asyncpg.Pool, api_settings: Settings
) -> None:
    from services.jobs.limits import set_company_limits

    company = await new_company(pool)
    async with pool.acquire() as conn:
        await set_company_limits(conn, api_settings, company.id, {"max_file_bytes": 2_000})
    r = await upload(client, company, "big.csv", leads_csv(400))
    assert r.status_code == 413 and r.json()["code"] == "FileTooLarge", r.text
    assert "larger than 2000 bytes" in r.json()["detail"]
    stored = api_settings.storage_dir / company.id
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))
    assert (await upload(client, company, "small.csv", leads_csv(3))).status_code == 201


async def test_a_nul_byte_in_a_ui_path_is_a_404_not_a_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/ui/js/app%00.js")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


async def test_a_json_body_past_the_limit_is_refused_before_it_is_parsed(base_url: str, acme: Company) -> None:
    auth = acme.auth()["Authorization"]
    # Declared too large: refused on the headers, before a byte of the body is read.
    answer = await _raw(
        base_url,
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: HOST\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/json\r\nContent-Length: 45000000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413") and b"RequestTooLarge" in answer
    assert b"content-type: application/problem+json" in answer.lower() and b"x-correlation-id: " in answer.lower()
    assert b"larger than 1,048,576 bytes" in answer
    # Sent without a length (chunked): counted as it arrives, refused once past the limit.
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    answer = await _raw(
        base_url,
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: HOST\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        body,
    )
    assert answer.startswith(b"HTTP/1.1 413") and b"RequestTooLarge" in answer


async def test_a_body_that_stops_arriving_ends_in_408(base_url: str, acme: Company) -> None:
    started = time.monotonic()
    answer = await _raw(
        base_url,
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: HOST\r\nAuthorization: "
        f"{acme.auth()['Authorization']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{",
    )
    assert answer.startswith(b"HTTP/1.1 408") and b"RequestTimeout" in answer
    assert b"content-type: application/problem+json" in answer.lower()
    assert time.monotonic() - started < 20  # the timeout is 2 s here


@pytest.mark.parametrize("auth", [None, "Bearer crmio_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer"])
async def test_every_api_route_answers_401_without_a_valid_key(client: httpx.AsyncClient, auth: str | None) -> None:
    ids = {"job": uuid.uuid4(), "upload": uuid.uuid4(), "template": uuid.uuid4(), "schedule": uuid.uuid4()}
    headers = {"Authorization": auth} if auth else {}
    for method, path in ALL_ROUTES:
        r = await client.request(method, path.format(**ids), headers=headers, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.json()["code"] == "Unauthorized" and r.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_is_refused(client: httpx.AsyncClient, pool: asyncpg.Pool, acme: Company) -> None:
    assert (await client.get("/api/v1/jobs", headers=acme.auth("member"))).status_code == 200
    async with pool.acquire() as conn:
        key = await keys.verify_key(conn, acme.member)
        assert key is not None and key.role == "member" and key.company_id == acme.id
        assert await keys.revoke_key(conn, acme.id, key.id)
    assert (await client.get("/api/v1/jobs", headers=acme.auth("member"))).status_code == 401


# --------------------------------------------------------------------------- uploads refused


async def test_upload_type_is_decided_by_content(client: httpx.AsyncClient, acme: Company) -> None:
    csv_as_xlsx = await upload(client, acme, "leads.xlsx", leads_csv(3))
    assert csv_as_xlsx.status_code == 415, csv_as_xlsx.text
    err = csv_as_xlsx.json()
    assert err["code"] == "UnsupportedFileType" and "leads.xlsx" in err["detail"]

    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 8
    for name in ("leads.csv", "setup.exe"):
        r = await upload(client, acme, name, exe)
        assert r.status_code == 415 and r.json()["code"] == "UnsupportedFileType", (name, r.text)

    pdf = await client.post(
        "/api/v1/uploads", headers=acme.auth(), files={"file": ("leads.csv", b"%PDF-1.7\n...", "text/csv")}
    )
    assert pdf.status_code == 415 and "PDF" in pdf.json()["detail"]

    not_multipart = await client.post("/api/v1/uploads", headers=acme.auth(), content=leads_csv(2))
    assert not_multipart.status_code == 400 and not_multipart.json()["code"] == "BadRequest"
    no_file = await client.post(
        "/api/v1/uploads",
        headers=acme.auth(),
        data={"target_model": "lead"},
        files={"other": ("x.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert no_file.status_code == 400 and "'file'" in no_file.json()["detail"]


async def test_oversize_upload_is_413_and_leaves_no_file(
    api_settings: Settings, pool: asyncpg.Pool, acme: Company
) -> None:
    small = api_settings.model_copy(update={"max_file_bytes": 1000})
    async with Server(small) as url, httpx.AsyncClient(base_url=url, timeout=60, event_hooks=PROBLEM_HOOKS) as c:
        ok = await upload(c, acme, "small.csv", leads_csv(3))
        assert ok.status_code == 201, ok.text
        big = leads_csv(200)
        assert len(big) > 1000
        r = await upload(c, acme, "big.csv", big)
        assert r.status_code == 413 and r.json()["code"] == "FileTooLarge", r.text

        # Without a Content-Length the limit is enforced while streaming.
        async def chunks() -> AsyncIterator[bytes]:
            body = (
                b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
                b"Content-Type: text/csv\r\n\r\n" + big + b"\r\n--XyZ--\r\n"
            )
            for i in range(0, len(body), 512):
                yield body[i : i + 512]

        streamed = await c.post(
            "/api/v1/uploads",
            headers={**acme.auth(), "Content-Type": "multipart/form-data; boundary=XyZ"},
            content=chunks(),
        )
        assert streamed.status_code == 413, streamed.text
    stored = list((small.storage_dir / acme.id / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].stat().st_size == len(leads_csv(3))


# --------------------------------------------------------------------------- the whole flow


async def test_upload_preview_import_job_logs_errors_csv_and_sse(client: httpx.AsyncClient, acme: Company) -> None:
    data = leads_csv(3000, bad_every=1000)
    up = await upload(client, acme, "Messe Leads.csv", data, target_model="lead")
    assert up.status_code == 201, up.text
    doc = up.json()
    assert doc["file_format"] == "csv" and doc["delimiter"] == "," and doc["encoding"]
    assert doc["headers"] == ["Vorname", "Nachname", "Mail", "Quelle", "Umsatz"]
    assert doc["original_filename"] == "Messe Leads.csv" and doc["size_bytes"] == len(data)
    assert len(doc["rows"]) == 20 and doc["rows"][0] == ["First1", "Last1", "User1@Example.com", "Web", "1,200.50"]
    assert doc["row_estimate"] == 3000 and doc["row_estimate_exact"] is True
    assert "stored_path" not in doc
    suggested = {s["column"]: s for s in doc["suggested_mapping"]["lead"]}
    assert list(doc["suggested_mapping"]) == ["lead"]
    assert (suggested["Quelle"]["field"], suggested["Quelle"]["confidence"]) == ("lead_source", 0.9)  # a German header
    upload_id = doc["id"]
    again = await client.get(f"/api/v1/uploads/{upload_id}", headers=acme.auth("member"))
    assert again.status_code == 200 and again.json()["headers"] == doc["headers"]

    # Preview: the first rows mapped and cleansed; a job rule that fails shows per cell, with a hint.
    pv = await client.post(
        f"/api/v1/uploads/{upload_id}/preview",
        headers=acme.auth(),
        json={"target_model": "lead", "mapping": LEAD_MAPPING, "rows": 5},
    )
    assert pv.status_code == 200, pv.text
    rows = pv.json()["rows"]
    assert len(rows) == 5 and all(r["ok"] for r in rows)
    assert rows[0]["values"] == {
        "first_name": "First1",
        "last_name": "Last1",
        "email": "user1@example.com",
        "lead_source": "web",
        "annual_revenue": "1200.50",
    }
    pv = await client.post(
        f"/api/v1/uploads/{upload_id}/preview",
        headers=acme.auth(),
        json={
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "rows": 1000,
            "validation_rules": {"first_name": {"max_length": 20}},
        },
    )
    rows = pv.json()["rows"]
    assert len(rows) == 200  # capped by preview_rows_max
    pv = await client.post(
        f"/api/v1/uploads/{upload_id}/preview",
        headers=acme.auth(),
        json={
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "validation_rules": {"email": {"regex": "[a-z]+@example\\.com"}},
            "rows": 3,
        },
    )
    first = pv.json()["rows"][0]
    assert first["ok"] is False and pv.json()["invalid_rows"] == 3
    (issue,) = first["issues"]
    assert (
        issue["field"] == "email"
        and issue["value"] == "User1@Example.com"
        and issue["hint"]
        and issue["level"] == "error"
    )

    # An unusable mapping is 422 naming the missing required fields, for preview and for a job.
    for path, body in (
        (f"/api/v1/uploads/{upload_id}/preview", {"target_model": "lead", "mapping": {"Mail": "email"}}),
        (
            "/api/v1/jobs",
            {"job_type": "import", "upload_id": upload_id, "target_model": "lead", "mapping": {"Mail": "email"}},
        ),
    ):
        bad = await client.post(path, headers=acme.auth(), json=body)
        assert bad.status_code == 422, bad.text
        err = bad.json()
        assert err["code"] == "MappingError" and err["missing"] == ["first_name", "last_name"]
        assert "first_name" in err["detail"] and "last_name" in err["detail"]
    bad_rules = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={
            "job_type": "import",
            "upload_id": upload_id,
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "validation_rules": {"shoe_size": {"required": True}},
        },
    )
    assert bad_rules.status_code == 422 and bad_rules.json()["code"] == "ValidationRulesError"
    bad_body = await client.post("/api/v1/jobs", headers=acme.auth(), json={"job_type": "import", "upload_id": "nope"})
    assert bad_body.status_code == 422 and bad_body.json()["code"] == "RequestValidationError"

    # The import, watched live over SSE from the first moment.
    created = await client.post(
        "/api/v1/jobs",
        headers=acme.auth("member"),
        json={
            "job_type": "import",
            "upload_id": upload_id,
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "duplicate_handling": "update",
            "options": {"date_order": "DMY"},
        },
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["job_status"] in ("pending", "running") and job["original_filename"] == "Messe Leads.csv"
    async with client.stream("GET", f"/api/v1/jobs/{job['id']}/events", headers=acme.auth()) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = await read_events(stream, lambda ev: ev[-1][0] == "final")
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "final" and names.count("final") == 1
    assert events[-1][1]["job_status"] == "completed" and events[-1][1]["processed_records"] == 3000

    final = await wait_final(client, acme, job["id"])
    assert (final["total_records"], final["processed_records"], final["success_records"], final["error_records"]) == (
        3000,
        3000,
        2997,
        3,
    )
    assert final["percent"] == 100.0 and final["eta_seconds"] == 0.0 and final["records_per_second"] > 0
    assert final["field_mapping"] == LEAD_MAPPING and final["options"] == {"date_order": "DMY"}

    logs = await client.get(
        f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error", "limit": 2}
    )
    assert logs.status_code == 200
    items = logs.json()["items"]
    assert [i["record_number"] for i in items] == [1000, 2000] and items[0]["log_level"] == "error"
    page2 = await client.get(
        f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error", "offset": 2}
    )
    assert [i["record_number"] for i in page2.json()["items"]] == [3000]
    bad_level = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "debug"})
    assert bad_level.status_code == 422

    errors = await client.get(f"/api/v1/jobs/{job['id']}/errors.csv", headers=acme.auth())
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    assert 'filename="Messe Leads-errors.csv"' in errors.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert table[0] == ["first_name", "last_name", "email", "lead_source", "annual_revenue", "error"]
    assert len(table) == 4
    assert table[1][:5] == ["First1000", "", "user1000@@example", "Web", "1,200.50"]
    assert "row 1000" in table[1][5] and "last_name" in table[1][5] and "email" in table[1][5]

    not_export = await client.get(f"/api/v1/jobs/{job['id']}/download", headers=acme.auth())
    assert not_export.status_code == 404

    listed = await client.get(
        "/api/v1/jobs",
        headers=acme.auth(),
        params={"job_type": "import", "job_status": "completed", "target_model": "lead"},
    )
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]] and listed.json()["total"] == 1
    for params in (
        {"job_type": "export"},
        {"job_status": "failed"},
        {"target_model": "account"},
        {"created_from": "2999-01-01T00:00:00Z"},
        {"created_to": "2000-01-01T00:00:00Z"},
    ):
        r = await client.get("/api/v1/jobs", headers=acme.auth(), params=params)
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0, params
    assert (
        await client.get(
            "/api/v1/jobs", headers=acme.auth(), params={"created_from": "2000-01-01T00:00:00Z", "limit": 1}
        )
    ).json()["total"] == 1


async def test_metrics_report_consumer_lag_of_the_worker_group(
    client: httpx.AsyncClient, api_settings: Settings, acme: Company
) -> None:
    up = (await upload(client, acme, "leads.csv", leads_csv(5))).json()
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        )
    ).json()
    await wait_final(client, acme, job["id"])
    deadline = time.monotonic() + 60
    while True:  # the worker commits its offsets periodically, not at once
        text = (await client.get("/metrics")).text
        lag = [
            line
            for line in text.splitlines()
            if line.startswith(f'crmio_consumer_lag{{topic="{api_settings.topic_prefix}.')
        ]
        if lag or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert lag, text
    assert all(float(line.rsplit(" ", 1)[1]) >= 0 for line in lag)


async def test_company_event_stream_reports_new_jobs(client: httpx.AsyncClient, acme: Company, globex: Company) -> None:
    up = await upload(client, acme, "leads.csv", leads_csv(2000))
    other = await upload(client, globex, "leads.csv", leads_csv(50))
    async with client.stream("GET", "/api/v1/events", headers=acme.auth()) as stream:
        job = (
            await client.post(
                "/api/v1/jobs",
                headers=acme.auth(),
                json={
                    "job_type": "import",
                    "upload_id": up.json()["id"],
                    "target_model": "lead",
                    "mapping": LEAD_MAPPING,
                },
            )
        ).json()
        foreign = (
            await client.post(
                "/api/v1/jobs",
                headers=globex.auth(),
                json={
                    "job_type": "import",
                    "upload_id": other.json()["id"],
                    "target_model": "lead",
                    "mapping": LEAD_MAPPING,
                },
            )
        ).json()
        events = await read_events(stream, lambda ev: any(n == "final" and d["id"] == job["id"] for n, d in ev))
    mine = [(n, d) for n, d in events if d["id"] == job["id"]]
    assert mine[0][0] == "progress" and mine[-1][0] == "final" and mine[-1][1]["job_status"] == "completed"
    assert all(d["company_id"] == acme.id for _, d in events) and foreign["id"] not in {d["id"] for _, d in events}


# --------------------------------------------------------------------------- isolation


async def test_another_companys_objects_answer_404_on_every_route(
    client: httpx.AsyncClient, acme: Company, globex: Company
) -> None:
    up = (await upload(client, acme, "leads.csv", leads_csv(5))).json()
    tpl = (
        await client.post(
            "/api/v1/templates",
            headers=acme.auth(),
            json={
                "template_name": "acme leads",
                "target_model": "lead",
                "template_type": "import",
                "field_mapping": LEAD_MAPPING,
            },
        )
    ).json()
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        )
    ).json()
    await wait_final(client, acme, job["id"])
    schedule = (
        await client.post(
            "/api/v1/schedules",
            headers=acme.auth(),
            json={
                "name": "nightly",
                "cron": "0 2 * * *",
                "job": {"job_type": "export", "target_model": "lead", "file_format": "csv"},
            },
        )
    ).json()
    ids = {"job": job["id"], "upload": up["id"], "template": tpl["id"], "schedule": schedule["id"]}
    bodies = {"POST": {"target_model": "lead"}, "PATCH": {"is_active": False}}
    for method, path in API_ROUTES_WITH_ID:
        payload = {} if path.endswith(("rollback", "retry")) else bodies.get(method)
        for role in ("admin", "member"):
            r = await globex_request(client, globex, role, method, path.format(**ids), payload)
            assert r.status_code == 404, (method, path, role, r.status_code, r.text)
            body = r.text
            assert r.json()["code"] == "NotFound" and "First1" not in body and "Vorname" not in body
    for body in (
        {"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        {
            "job_type": "import",
            "upload_id": (await upload(client, globex, "g.csv", leads_csv(2))).json()["id"],
            "template_id": tpl["id"],
        },
    ):
        r = await client.post("/api/v1/jobs", headers=globex.auth(), json=body)
        assert r.status_code == 404, r.text
    listed = await client.get("/api/v1/jobs", headers=globex.auth())
    assert job["id"] not in {j["id"] for j in listed.json()["items"]}
    templates = await client.get("/api/v1/templates", headers=globex.auth())
    assert templates.json()["total"] == 0
    # Malformed ids are 404 too, not 500.
    assert (await client.get("/api/v1/jobs/not-a-uuid", headers=acme.auth())).status_code == 404
    # ...and acme still sees its own.
    assert (await client.get(f"/api/v1/templates/{tpl['id']}", headers=acme.auth())).json()["is_active"] is True


async def globex_request(
    client: httpx.AsyncClient, company: Company, role: str, method: str, path: str, body: dict[str, Any] | None
) -> httpx.Response:
    return await client.request(method, path, headers=company.auth(role), json=body)


# --------------------------------------------------------------------------- templates, memory


async def test_templates_crud_and_use(client: httpx.AsyncClient, acme: Company) -> None:
    body = {
        "template_name": "Trade fair leads",
        "target_model": "lead",
        "template_type": "import",
        "field_mapping": LEAD_MAPPING,
        "validation_rules": {"email": {"required": True}},
    }
    member = await client.post("/api/v1/templates", headers=acme.auth("member"), json=body)
    assert member.status_code == 403 and member.json()["code"] == "Forbidden"
    created = await client.post("/api/v1/templates", headers=acme.auth(), json=body)
    assert created.status_code == 201, created.text
    tpl = created.json()
    assert tpl["is_active"] and tpl["validation_rules"]["email"]["required"] is True
    dup = await client.post("/api/v1/templates", headers=acme.auth(), json=body)
    assert dup.status_code == 409 and dup.json()["code"] == "TemplateNameTaken"
    bad = await client.post(
        "/api/v1/templates",
        headers=acme.auth(),
        json={**body, "template_name": "x", "field_mapping": {"A": "shoe_size"}},
    )
    assert bad.status_code == 422 and "shoe_size" in bad.json()["detail"]
    other = (
        await client.post(
            "/api/v1/templates",
            headers=acme.auth(),
            json={
                "template_name": "Accounts out",
                "target_model": "account",
                "template_type": "export",
                "field_mapping": {"name": "Account"},
            },
        )
    ).json()

    found = (await client.get("/api/v1/templates", headers=acme.auth("member"), params={"search": "FAIR"})).json()
    assert [t["id"] for t in found["items"]] == [tpl["id"]]
    assert (await client.get("/api/v1/templates", headers=acme.auth(), params={"search": "%"})).json()["total"] == 0
    assert (await client.get("/api/v1/templates", headers=acme.auth(), params={"template_type": "export"})).json()[
        "items"
    ][0]["id"] == other["id"]

    # Used by an import: its mapping (the German headers are suggested nothing) and its rules apply.
    up = (await upload(client, acme, "fair.csv", leads_csv(10))).json()
    pv = await client.post(f"/api/v1/uploads/{up['id']}/preview", headers=acme.auth(), json={"template_id": tpl["id"]})
    assert pv.status_code == 200 and pv.json()["mapping"] == LEAD_MAPPING and pv.json()["valid_rows"] == 10
    export_tpl = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up["id"], "template_id": other["id"]},
    )
    assert export_tpl.status_code == 422 and "export template" in export_tpl.json()["detail"]
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={"job_type": "import", "upload_id": up["id"], "template_id": tpl["id"]},
        )
    ).json()
    assert job["field_mapping"] == LEAD_MAPPING and job["validation_rules"]["email"]["required"] is True
    assert (await wait_final(client, acme, job["id"]))["success_records"] == 10

    member_patch = await client.patch(
        f"/api/v1/templates/{tpl['id']}", headers=acme.auth("member"), json={"is_active": False}
    )
    assert member_patch.status_code == 403
    off = await client.patch(f"/api/v1/templates/{tpl['id']}", headers=acme.auth(), json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False and off.json()["field_mapping"] == LEAD_MAPPING
    inactive = await client.get("/api/v1/templates", headers=acme.auth(), params={"is_active": "false"})
    assert [t["id"] for t in inactive.json()["items"]] == [tpl["id"]]
    refused = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up["id"], "template_id": tpl["id"]},
    )
    assert refused.status_code == 422 and "inactive" in refused.json()["detail"]
    renamed = await client.patch(
        f"/api/v1/templates/{tpl['id']}", headers=acme.auth(), json={"template_name": "Accounts out"}
    )
    assert renamed.status_code == 409

    assert (await client.delete(f"/api/v1/templates/{tpl['id']}", headers=acme.auth("member"))).status_code == 403
    assert (await client.delete(f"/api/v1/templates/{tpl['id']}", headers=acme.auth())).status_code == 204
    assert (await client.get(f"/api/v1/templates/{tpl['id']}", headers=acme.auth())).status_code == 404
    assert (await client.get(f"/api/v1/jobs/{job['id']}", headers=acme.auth())).json()["field_mapping"] == LEAD_MAPPING


async def test_a_members_one_off_mapping_does_not_become_the_companys_default(
    client: httpx.AsyncClient, acme: Company
) -> None:
    headers = ("Given", "Family", "Mail", "Quelle", "Umsatz")
    mapping = {"Given": "first_name", "Family": "last_name", "Mail": "email"}
    first = (await upload(client, acme, "a.csv", leads_csv(4, headers=headers), target_model="lead")).json()
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth("member"),
        json={"job_type": "import", "upload_id": first["id"], "target_model": "lead", "mapping": mapping},
    )
    assert r.status_code == 201, r.text
    await wait_final(client, acme, r.json()["id"])
    second = (await upload(client, acme, "b.csv", leads_csv(4, headers=headers), target_model="lead")).json()
    after = {s["column"]: s["field"] for s in second["suggested_mapping"]["lead"]}
    assert after["Given"] is None and after["Family"] is None  # an admin's choice would be remembered


async def test_mapping_memory_prefers_the_companys_earlier_choice(
    client: httpx.AsyncClient, acme: Company, globex: Company
) -> None:
    headers = ("Given", "Family", "Mail", "Quelle", "Umsatz")  # the first two name no field in any language
    mapping = {"Given": "first_name", "Family": "last_name", "Mail": "email"}
    first = (await upload(client, acme, "a.csv", leads_csv(4, headers=headers), target_model="lead")).json()
    before = {s["column"]: s["field"] for s in first["suggested_mapping"]["lead"]}
    assert before["Given"] is None and before["Family"] is None
    no_mapping = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": first["id"], "target_model": "lead"},
    )
    assert no_mapping.status_code == 422 and no_mapping.json()["missing"] == ["first_name", "last_name"]
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={"job_type": "import", "upload_id": first["id"], "target_model": "lead", "mapping": mapping},
        )
    ).json()
    await wait_final(client, acme, job["id"])

    # Same headers spelled differently: the memory is keyed by the normalized header.
    second = (
        await upload(
            client,
            acme,
            "b.csv",
            leads_csv(4, headers=("GIVEN", "fam-ily", "Mail", "Quelle", "Umsatz")),
            target_model="lead",
        )
    ).json()
    after = {s["column"]: (s["field"], s["confidence"]) for s in second["suggested_mapping"]["lead"]}
    assert after["GIVEN"] == ("first_name", 1.0) and after["fam-ily"] == ("last_name", 1.0)
    # Without a mapping the import now uses the remembered choices.
    job2 = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": second["id"], "target_model": "lead"},
    )
    assert job2.status_code == 201, job2.text
    assert job2.json()["field_mapping"]["GIVEN"] == "first_name"
    assert (await wait_final(client, acme, job2.json()["id"]))["success_records"] == 4

    # Memory is per company.
    theirs = (
        await upload(
            client,
            globex,
            "b.csv",
            leads_csv(2, headers=("GIVEN", "fam-ily", "Mail", "Quelle", "Umsatz")),
            target_model="lead",
        )
    ).json()
    assert {s["column"]: s["field"] for s in theirs["suggested_mapping"]["lead"]}["GIVEN"] is None


# --------------------------------------------------------------------------- the CLI's key command


def test_keys_create_prints_the_key_last(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from services.cli.serve import cmd_keys

    company = str(uuid.uuid4())
    assert cmd_keys(argparse.Namespace(action="create", company=company, role="member", label="ci"), settings) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("crmio_") and len(key) > 40

    async def check() -> keys.ApiKey | None:
        conn = await asyncpg.connect(settings.system_dsn())  # key lookup precedes any tenant
        try:
            return await keys.verify_key(conn, key)
        finally:
            await conn.close()

    found = asyncio.run(check())
    assert found is not None and (found.company_id, found.role, found.label) == (company, "member", "ci")


# --------------------------------------------------------------------------- exports


async def test_export_job_and_download(client: httpx.AsyncClient, acme: Company, globex: Company) -> None:
    up = (await upload(client, acme, "leads.csv", leads_csv(12))).json()
    imported = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        )
    ).json()
    await wait_final(client, acme, imported["id"])

    bad = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "export", "target_model": "lead", "fields": ["shoe_size"], "file_format": "csv"},
    )
    assert bad.status_code == 422 and "shoe_size" in bad.json()["detail"], bad.text
    created = await client.post(
        "/api/v1/jobs",
        headers=acme.auth("member"),
        json={
            "job_type": "export",
            "target_model": "lead",
            "fields": ["first_name", "email"],
            "file_format": "csv",
            "filters": [{"field": "email", "op": "contains", "value": "user1"}],
            "sort": ["email"],
        },
    )
    assert created.status_code == 201, created.text
    job = created.json()
    # The worker may pick the job up before the answer is written.
    assert job["job_type"] == "export" and job["job_status"] in ("pending", "running", "completed")
    final = await wait_final(client, acme, job["id"])
    assert final["job_status"] == "completed", final

    got = await client.get(f"/api/v1/jobs/{job['id']}/download", headers=acme.auth())
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv") and "attachment" in got.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    emails = sorted(r[1] for r in table[1:])
    assert emails == ["user10@example.com", "user11@example.com", "user12@example.com", "user1@example.com"]
    assert (await client.get(f"/api/v1/jobs/{job['id']}/download", headers=globex.auth())).status_code == 404
    assert (await client.get(f"/api/v1/jobs/{job['id']}/errors.csv", headers=acme.auth())).status_code == 404
    listed = await client.get("/api/v1/jobs", headers=acme.auth(), params={"job_type": "export"})
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]


# --------------------------------------------------------------------------- user errors are 4xx, never 500


async def test_out_of_range_and_nul_values_are_4xx_not_500(client: httpx.AsyncClient, acme: Company) -> None:
    huge = str(2**70)
    for path in ("/api/v1/jobs", "/api/v1/templates"):
        r = await client.get(path, headers=acme.auth(), params={"offset": huge})
        assert r.status_code == 422, (path, r.text)
    r = await client.get("/api/v1/templates", headers=acme.auth(), params={"search": "a\x00b"})
    assert r.status_code == 422, r.text
    r = await client.post(
        "/api/v1/templates",
        headers=acme.auth(),
        json={"template_name": "nul\x00name", "target_model": "lead", "template_type": "import"},
    )
    assert r.status_code == 422, r.text
    for fmt in ("csv", "pdf"):
        for flt in (
            {"field": "number_of_employees", "op": "eq", "value": 2**70},
            {"field": "annual_revenue", "op": "gte", "value": "1e-200000"},
            {"field": "email", "op": "contains", "value": "a\x00b"},
        ):
            r = await client.post(
                "/api/v1/jobs",
                headers=acme.auth(),
                json={"job_type": "export", "target_model": "lead", "file_format": fmt, "filters": [flt]},
            )
            assert r.status_code == 422 and r.json()["code"] == "ExportError", (fmt, flt, r.text)


async def test_unknown_export_options_are_refused_before_a_job_exists(client: httpx.AsyncClient, acme: Company) -> None:
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "export", "target_model": "lead", "file_format": "csv", "options": {"colour": "red"}},
    )
    assert r.status_code == 422 and "colour" in r.json()["detail"], r.text
    assert (await client.get("/api/v1/jobs", headers=acme.auth(), params={"job_type": "export"})).json()["total"] == 0


async def test_multipart_fields_cannot_grow_without_bound(api_settings: Settings, acme: Company) -> None:
    small = api_settings.model_copy(update={"max_file_bytes": 1000})
    async with Server(small) as url, httpx.AsyncClient(base_url=url, timeout=60, event_hooks=PROBLEM_HOOKS) as c:

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(40):  # each field under the per-field cap, together far over the request's
                yield (
                    f'--XyZ\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode() + b"x" * 60_000 + b"\r\n"
                )
            yield b"--XyZ--\r\n"

        r = await c.post(
            "/api/v1/uploads",
            content=chunks(),
            headers={**acme.auth(), "Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert r.status_code == 413, r.text


async def test_preview_reads_the_file_as_the_import_will(client: httpx.AsyncClient, acme: Company) -> None:
    data = "Vorname;Nachname;Mail\r\nAnna;Muster;anna@example.com\r\n".encode("cp1252")
    up = (await upload(client, acme, "semi.csv", data)).json()
    mapping = {"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"}
    pv = await client.post(
        f"/api/v1/uploads/{up['id']}/preview",
        headers=acme.auth(),
        json={"target_model": "lead", "mapping": mapping, "options": {"delimiter": ";", "encoding": "cp1252"}},
    )
    assert pv.status_code == 200, pv.text
    assert pv.json()["rows"][0]["values"]["email"] == "anna@example.com"
    wrong = await client.post(
        f"/api/v1/uploads/{up['id']}/preview",
        headers=acme.auth(),
        json={"target_model": "lead", "mapping": mapping, "options": {"delimiter": "|"}},
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "MappingError", wrong.text


async def test_import_reads_the_sheet_chosen_at_upload(client: httpx.AsyncClient, acme: Company) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing to import here"])
    sheet = book.create_sheet("Leads")
    sheet.append(["Vorname", "Nachname", "Mail"])
    for i in range(3):
        sheet.append([f"F{i}", f"L{i}", f"f{i}@example.com"])
    buf = io.BytesIO()
    book.save(buf)
    book.close()
    up = (await upload(client, acme, "book.xlsx", buf.getvalue(), sheet="Leads")).json()
    assert up["sheet"] == "Leads" and up["headers"] == ["Vorname", "Nachname", "Mail"], up
    mapping = {"Vorname": "first_name", "Nachname": "last_name", "Mail": "email"}
    pv = await client.post(
        f"/api/v1/uploads/{up['id']}/preview", headers=acme.auth(), json={"target_model": "lead", "mapping": mapping}
    )
    assert pv.status_code == 200 and pv.json()["valid_rows"] == 3, pv.text
    created = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": mapping},
    )
    assert created.status_code == 201, created.text
    assert (await wait_final(client, acme, created.json()["id"]))["success_records"] == 3


async def test_dry_run_import_validates_every_row_and_writes_no_record(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    up = (await upload(client, company, "leads.csv", leads_csv(500, bad_every=50))).json()
    created = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up["id"],
            "target_model": "lead",
            "mapping": LEAD_MAPPING,
            "options": {"dry_run": True},
        },
    )
    assert created.status_code == 201, created.text
    final = await wait_final(client, company, created.json()["id"])
    assert final["job_status"] == "completed" and final["options"]["dry_run"] is True
    assert final["processed_records"] == 500 and final["error_records"] == 10
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM crm_leads WHERE company_id = $1", company.id) == 0
    errors = await client.get(f"/api/v1/jobs/{final['id']}/errors.csv", headers=company.auth())
    assert errors.status_code == 200 and len(errors.text.strip().splitlines()) == 11  # header + the bad rows


async def test_cancel_route(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    owner, other = await new_company(pool), await new_company(pool)
    up = (await upload(client, owner, "leads.csv", leads_csv(20))).json()
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=owner.auth(),
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        )
    ).json()
    assert (await client.post(f"/api/v1/jobs/{job['id']}/cancel")).status_code == 401
    assert (await client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=other.auth())).status_code == 404
    assert (await wait_final(client, owner, job["id"]))["job_status"] == "completed"
    late = await client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=owner.auth())
    assert late.status_code == 409 and late.json()["code"] == "JobNotCancellable"


# --------------------------------------------------------------------------- job control


async def test_retry_rollback_limits_and_schedules_over_http(client: httpx.AsyncClient, acme: Company) -> None:
    up = await upload(client, acme, "leads.csv", leads_csv(40, bad_every=10))
    job = (
        await client.post(
            "/api/v1/jobs",
            headers=acme.auth(),
            json={
                "job_type": "import",
                "upload_id": up.json()["id"],
                "target_model": "lead",
                "mapping": LEAD_MAPPING,
                "error_policy": {"mode": "stop", "max_errors": 10},
            },
        )
    ).json()
    done = await wait_final(client, acme, job["id"])
    assert done["error_records"] == 4 and done["created_records"] == 36
    assert done["options"]["error_policy"]["max_errors"] == 10

    # The failed rows again, mapped without the broken columns: they import now.
    retry = await client.post(
        f"/api/v1/jobs/{job['id']}/retry",
        headers=acme.auth(),  # the admin's import: a member may retry only its own (docs/reliability.md, Roles)
        json={"mapping": {"Vorname": "first_name", "Mail": None, "Nachname": None, "Quelle": "last_name"}},
    )
    assert retry.status_code == 201, retry.text
    retried = await wait_final(client, acme, retry.json()["id"])
    assert (retried["total_records"], retried["created_records"]) == (4, 4)

    refused = await client.post(f"/api/v1/jobs/{job['id']}/rollback", headers=acme.auth("member"), json={})
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    rb = await client.post(f"/api/v1/jobs/{job['id']}/rollback", headers=acme.auth(), json={})
    assert rb.status_code == 202 and rb.json()["job_type"] == "rollback"
    rolled = await wait_final(client, acme, rb.json()["id"])
    assert rolled["job_status"] == "completed" and rolled["success_records"] == 36
    running = await client.post(f"/api/v1/jobs/{rb.json()['id']}/rollback", headers=acme.auth(), json={})
    assert running.status_code == 409 and "only imports" in running.json()["detail"]

    limits = (await client.get("/api/v1/limits", headers=acme.auth("member"))).json()
    assert limits["max_running_jobs"] == 2 and limits["job_retention_days"] == 90

    bad = await client.post(
        "/api/v1/schedules",
        headers=acme.auth(),
        json={"name": "x", "cron": "every day", "job": {"job_type": "export", "target_model": "lead"}},
    )
    assert bad.status_code == 422 and "cron" in bad.json()["detail"]
    member = await client.post(
        "/api/v1/schedules",
        headers=acme.auth("member"),
        json={"name": "x", "cron": "0 6 * * 1-5", "job": {"job_type": "export", "target_model": "lead"}},
    )
    assert member.status_code == 403
    made = await client.post(
        "/api/v1/schedules",
        headers=acme.auth(),
        json={
            "name": "weekday leads",
            "cron": "0 6 * * 1-5",
            "timezone": "America/New_York",
            "job": {
                "job_type": "export",
                "target_model": "lead",
                "file_format": "excel",
                "filters": [{"field": "lead_source", "op": "eq", "value": "web"}],
            },
        },
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    assert made.json()["next_run_at"].endswith(("T10:00:00+00:00", "T11:00:00+00:00"))  # 06:00 in New York
    paused = (await client.post(f"/api/v1/schedules/{sid}/pause", headers=acme.auth())).json()
    assert paused["is_active"] is False
    assert (await client.post(f"/api/v1/schedules/{sid}/resume", headers=acme.auth())).json()["is_active"] is True
    assert [s["id"] for s in (await client.get("/api/v1/schedules", headers=acme.auth())).json()["items"]] == [sid]
    assert (await client.delete(f"/api/v1/schedules/{sid}", headers=acme.auth())).status_code == 204
