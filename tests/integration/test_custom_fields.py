"""A company's own fields (issue 18, custom fields): created over the API and the CLI, imported through
the real worker (cleansed, validated, choice words mapped to the field's picklist), exported filtered and
sorted on them in every format, rolled back exactly, invisible to every other company, retired with their
values kept."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import asyncpg
import httpx
import openpyxl
import orjson

from services.cleansing.job_values import job_cleaner
from services.core.db import tenant
from services.core.settings import Settings
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    Company,
    api_settings,
    base_url,
    client,
    new_company,
    upload,
    wait_final,
)
from tests.integration.test_cli import crmio

ROWS = 20_000
STAGES = ["Prospecting", "Negotiation", "Closed Won"]
# How files write them: case, spacing and punctuation vary; each names one value of the field's picklist.
STAGE_WORDS = ["prospecting", "NEGOTIATION", "Closed won", "closed-won", " Prospecting "]
STAGE_OF = {"prospecting": "prospecting", "NEGOTIATION": "negotiation", "Closed won": "closed_won"}
STAGE_OF |= {"closed-won": "closed_won", " Prospecting ": "prospecting"}
MAPPING = {
    "First": "first_name",
    "Last": "last_name",
    "Mail": "email",
    "Stage": "deal_stage",
    "Subscribed": "subscription_date",
    "Seats": "seats",
}


async def _create(client: httpx.AsyncClient, company: Company, **spec: Any) -> httpx.Response:
    return await client.post("/api/v1/fields", headers=company.auth(), json=spec)


async def _three_fields(client: httpx.AsyncClient, company: Company) -> list[dict[str, Any]]:
    made = [
        await _create(client, company, target_model="lead", label="Deal Stage", field_type="choice", choices=STAGES),
        await _create(client, company, target_model="lead", label="Subscription Date", field_type="date"),
        await _create(
            client, company, target_model="lead", label="Seats", field_type="number", validation_rules={"min": 0}
        ),
    ]
    assert [r.status_code for r in made] == [201, 201, 201], [r.text for r in made]
    return [r.json() for r in made]


def _row(i: int) -> dict[str, str]:
    day = dt.date(2024, 1, 1) + dt.timedelta(days=i % 400)
    return {
        "First": f"First{i}",
        "Last": f"Last{i}",
        "Mail": f"cf{i}@custom.example",
        "Stage": STAGE_WORDS[i % len(STAGE_WORDS)],
        # ISO and US order (the job's date_order, MDY by default) both name the day
        "Subscribed": day.isoformat() if i % 2 else day.strftime("%m/%d/%Y"),
        "Seats": "-5" if i % 1000 == 999 else str(i % 250),  # the field's rule min 0 fails 20 rows
    }


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(MAPPING))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


async def _import(client: httpx.AsyncClient, company: Company, data: bytes, **job: Any) -> dict[str, Any]:
    up = await upload(client, company, "custom.csv", data)
    assert up.status_code == 201, up.text
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": MAPPING, **job},
    )
    assert r.status_code == 201, r.text
    return await wait_final(client, company, r.json()["id"], timeout_s=300)


async def _export(client: httpx.AsyncClient, company: Company, fmt: str, **spec: Any) -> bytes:
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={"job_type": "export", "target_model": "lead", "file_format": fmt, **spec},
    )
    assert r.status_code == 201, r.text
    done = await wait_final(client, company, r.json()["id"])
    assert done["job_status"] == "completed", done
    got = await client.get(f"/api/v1/jobs/{done['id']}/download", headers=company.auth())
    assert got.status_code == 200
    return got.content


async def _stored(pool: asyncpg.Pool, company: Company) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT email, custom FROM crm_leads WHERE company_id = $1", uuid.UUID(company.id))
    return {r["email"]: r["custom"] for r in rows}


async def test_a_company_imports_exports_and_rolls_back_its_own_fields(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    fields = await _three_fields(client, acme)
    assert [(f["name"], f["field_type"]) for f in fields] == [
        ("deal_stage", "choice"),
        ("subscription_date", "date"),
        ("seats", "number"),
    ]
    assert [c["value"] for c in fields[0]["choices"]] == ["prospecting", "negotiation", "closed_won"]

    rows = [_row(i) for i in range(ROWS)]
    job = await _import(client, acme, _csv(rows))
    bad = [i for i in range(ROWS) if i % 1000 == 999]
    assert (job["job_status"], job["created_records"], job["error_records"]) == ("completed", ROWS - 20, 20), job
    stored = await _stored(pool, acme)
    want = {
        r["Mail"]: {
            "deal_stage": STAGE_OF[r["Stage"]],
            "subscription_date": (dt.date(2024, 1, 1) + dt.timedelta(days=i % 400)).isoformat(),
            "seats": i % 250,
        }
        for i, r in enumerate(rows)
        if i not in bad
    }
    assert stored == want
    logs = await client.get(
        f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error", "limit": 1}
    )
    assert "seats" in logs.json()["items"][0]["message"] and "at least 0" in logs.json()["items"][0]["message"]

    # Filtered and sorted on a custom field, in CSV and JSON: the same rows, in the same order.
    spec = {
        "fields": ["email", "deal_stage", "subscription_date", "seats"],
        "filters": [
            {"field": "seats", "op": "gte", "value": 240},
            {"field": "deal_stage", "op": "eq", "value": "closed_won"},
        ],
        "sort": ["-seats", "subscription_date", "email"],
    }
    expected = sorted(
        ((e, v) for e, v in want.items() if v["seats"] >= 240 and v["deal_stage"] == "closed_won"),
        key=lambda ev: (-ev[1]["seats"], ev[1]["subscription_date"], ev[0]),
    )
    assert len(expected) > 100
    table = list(csv.reader(io.StringIO((await _export(client, acme, "csv", **spec)).decode("utf-8-sig"))))
    assert table[0] == spec["fields"]
    assert table[1:] == [[e, v["deal_stage"], v["subscription_date"], str(v["seats"])] for e, v in expected]
    as_json = orjson.loads(await _export(client, acme, "json", **spec))
    assert as_json == [
        {"email": e, "deal_stage": v["deal_stage"], "subscription_date": v["subscription_date"], "seats": v["seats"]}
        for e, v in expected
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(await _export(client, acme, "excel", **spec)), read_only=True).active
    cells = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == tuple(spec["fields"]) or list(cells[0]) == spec["fields"]
    assert [[e, s, d if isinstance(d, str) else d.date().isoformat(), int(n)] for e, s, d, n in cells[1:]] == [
        [e, v["deal_stage"], v["subscription_date"], v["seats"]] for e, v in expected
    ]
    pdf = await _export(client, acme, "pdf", **spec)
    assert pdf[:5] == b"%PDF-"

    # An update by email changes only the custom values it gives; its rollback restores them exactly.
    changed = [{**rows[i], "Stage": "negotiation", "Seats": "1000", "Subscribed": ""} for i in range(0, 600, 3)]
    update = await _import(client, acme, _csv(changed), duplicate_handling="update")
    assert (update["updated_records"], update["error_records"]) == (200, 0), update
    after = await _stored(pool, acme)
    for r in changed:
        assert after[r["Mail"]] == {**want[r["Mail"]], "deal_stage": "negotiation", "seats": 1000}
    rb = await client.post(f"/api/v1/jobs/{update['id']}/rollback", headers=acme.auth(), json={})
    assert (await wait_final(client, acme, rb.json()["id"]))["job_status"] == "completed"
    assert await _stored(pool, acme) == want

    # The 200 records the update touched changed after the import: only a forced rollback removes them too.
    rb = await client.post(f"/api/v1/jobs/{job['id']}/rollback", headers=acme.auth(), json={"force": True})
    done = await wait_final(client, acme, rb.json()["id"], timeout_s=300)
    assert (done["job_status"], done["success_records"]) == ("completed", ROWS - 20), done
    assert await _stored(pool, acme) == {}


async def _indexes(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return sorted(r[0] for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'crm_leads'"))


async def test_another_company_sees_none_of_them(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    acme, globex = await new_company(pool), await new_company(pool)
    indexes = await _indexes(pool)
    await _three_fields(client, acme)
    # Nor pays for them: an index of one company's field would be tested on every row any company writes.
    assert await _indexes(pool) == indexes
    assert (await client.get("/api/v1/fields", headers=globex.auth())).json() == {"items": []}
    models = (await client.get("/api/v1/models", headers=globex.auth())).json()["models"]
    assert not any(f["custom"] for m in models.values() for f in m["fields"])
    mine = (await client.get("/api/v1/models", headers=acme.auth())).json()["models"]["lead"]["fields"]
    assert [(f["name"], f["type"], f["field_type"]) for f in mine if f["custom"]] == [
        ("deal_stage", "choice", "choice"),
        ("subscription_date", "date", "date"),
        ("seats", "integer", "number"),  # cleaned and stored as the built-in integer type; created as a number
    ]
    up = await upload(client, globex, "custom.csv", _csv([_row(1)]))
    r = await client.post(
        "/api/v1/jobs",
        headers=globex.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": MAPPING},
    )
    assert r.status_code == 422 and "deal_stage" in r.text, r.text
    r = await client.post(
        "/api/v1/jobs",
        headers=globex.auth(),
        json={
            "job_type": "export",
            "target_model": "lead",
            "file_format": "csv",
            "filters": [{"field": "seats", "op": "gte", "value": 1}],
        },
    )
    assert r.status_code == 422 and "seats" in r.text, r.text
    # A schedule maps and filters on the company's fields as an import or export does; another company's refused.
    for company, status in ((acme, 201), (globex, 422)):
        for job in (
            {"job_type": "import", "target_model": "lead", "folder": "deals", "mapping": MAPPING},
            {"job_type": "export", "target_model": "lead", "file_format": "csv", "sort": ["-seats"]},
        ):
            r = await client.post(
                "/api/v1/schedules", headers=company.auth(), json={"name": "nightly", "cron": "0 3 * * *", "job": job}
            )
            assert r.status_code == status, (job["job_type"], r.text)
    # Its own field of the same name is its own.
    assert (await _create(client, globex, target_model="lead", label="Seats", field_type="text")).status_code == 201


async def test_definitions_are_checked_and_a_retired_field_keeps_its_values(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    refused = {
        "built-in name": dict(target_model="lead", label="Email", field_type="text"),
        "a column": dict(target_model="lead", label="x", name="custom", field_type="text"),
        "unknown type": dict(target_model="lead", label="Region", field_type="geo"),
        "no choices": dict(target_model="lead", label="Tier", field_type="choice"),
        "bad name": dict(target_model="lead", label="Tier", name="Tier-1", field_type="text"),
        "bad rule": dict(target_model="lead", label="Score", field_type="number", validation_rules={"regex": "("}),
        "unknown model": dict(target_model="deal", label="Score", field_type="number"),
    }
    for why, spec in refused.items():
        r = await _create(client, acme, **spec)
        assert r.status_code == 422, (why, r.text)
    member = await client.post(
        "/api/v1/fields", headers=acme.auth("member"), json=dict(target_model="lead", label="Region", field_type="text")
    )
    assert member.status_code == 403
    region = (await _create(client, acme, target_model="lead", label="Region", field_type="text")).json()
    made = await client.post(
        "/api/v1/templates",
        headers=acme.auth(),
        json={
            "template_name": "regions",
            "target_model": "lead",
            "template_type": "import",
            "field_mapping": {"Region": "region", "Mail": "email", "First": "first_name", "Last": "last_name"},
        },
    )
    assert made.status_code == 201, made.text
    template = made.json()
    again = await _create(client, acme, target_model="lead", label="Region", field_type="text")
    assert again.status_code == 422 and "already has a field 'region'" in again.json()["detail"]

    data = _csv([_row(i) for i in range(3)]).replace(b"Stage", b"Region")
    mapping = {**MAPPING, "Region": "region"}
    del mapping["Stage"], mapping["Subscribed"], mapping["Seats"]
    up = await upload(client, acme, "r.csv", data)
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": mapping},
    )
    assert (await wait_final(client, acme, r.json()["id"]))["created_records"] == 3
    retired = await client.post(f"/api/v1/fields/{region['id']}/retire", headers=acme.auth())
    assert retired.status_code == 200 and retired.json()["retired"]
    assert (await client.get("/api/v1/fields", headers=acme.auth())).json() == {"items": []}
    listed = (await client.get("/api/v1/fields", headers=acme.auth(), params={"retired": "true"})).json()["items"]
    assert [f["name"] for f in listed] == ["region"]
    assert {v["region"] for v in (await _stored(pool, acme)).values()} == {w.strip() for w in STAGE_WORDS[:3]}
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": mapping},
    )
    assert r.status_code == 422 and "'region' (a custom field the company retired: restore it" in r.text, r.text
    export = {"job_type": "export", "target_model": "lead", "file_format": "csv", "fields": ["region"]}
    r = await client.post("/api/v1/jobs", headers=acme.auth(), json=export)
    assert r.status_code == 422 and "'region' (a custom field the company retired" in r.text, r.text
    # A template mapping it can still be switched off; restored, the field and the values records kept are back.
    assert (
        await client.patch(f"/api/v1/templates/{template['id']}", headers=acme.auth(), json={"is_active": False})
    ).status_code == 200
    member = await client.post(f"/api/v1/fields/{region['id']}/restore", headers=acme.auth("member"))
    assert member.status_code == 403
    back = await client.post(f"/api/v1/fields/{region['id']}/restore", headers=acme.auth())
    assert back.status_code == 200 and not back.json()["retired"]
    rows = list(
        csv.DictReader(io.StringIO((await _export(client, acme, "csv", fields=["region"])).decode("utf-8-sig")))
    )
    assert sorted(r["region"] for r in rows) == sorted(w.strip() for w in STAGE_WORDS[:3])


async def test_exports_filter_on_the_values_a_company_added_or_retired(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    await _three_fields(client, acme)
    added = await client.post(
        "/api/v1/picklists/lead_source/values", headers=acme.auth(), json={"value": "expo_2026", "label": "Expo 2026"}
    )
    assert added.status_code == 201, added.text
    data = b"First,Last,Mail,Stage,Source\nA,A,a@x.example,Negotiation,Expo 2026\nB,B,b@x.example,Closed Won,Web\n"
    up = await upload(client, acme, "s.csv", data)
    mapping = {
        "First": "first_name",
        "Last": "last_name",
        "Mail": "email",
        "Stage": "deal_stage",
        "Source": "lead_source",
    }
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "lead", "mapping": mapping},
    )
    assert (await wait_final(client, acme, r.json()["id"]))["created_records"] == 2
    gone = await client.patch(
        "/api/v1/picklists/lead.deal_stage/values/negotiation", headers=acme.auth(), json={"active": False}
    )
    assert gone.status_code == 200, gone.text

    async def count(field: str, value: str) -> httpx.Response:
        return await client.post(
            "/api/v1/exports/count",
            headers=acme.auth(),
            json={"target_model": "lead", "filters": [{"field": field, "op": "eq", "value": value}]},
        )

    # A value the company added to a built-in picklist, and one it retired that records still hold.
    assert (await count("lead_source", "expo_2026")).json()["count"] == 1
    assert (await count("deal_stage", "negotiation")).json()["count"] == 1
    wrong = await count("deal_stage", "won")
    assert wrong.status_code == 422 and "one of prospecting, closed_won" in wrong.text, wrong.text


async def test_a_running_import_keeps_the_fields_it_started_with_on_every_worker(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    seats = next(f for f in await _three_fields(client, acme) if f["name"] == "seats")
    async with pool.acquire() as conn:
        started = await conn.fetchval("SELECT now()")
    assert (await client.post(f"/api/v1/fields/{seats['id']}/retire", headers=acme.auth())).status_code == 200
    job = {"target_model": "lead", "started_at": started, "options": {}}
    async with tenant(pool, acme.id) as conn:
        # A worker loading the running job's context after the retire (a rebalance, a second worker) ...
        running = await job_cleaner(conn, acme.id, job, Settings(), started=True)
        # ... and a job starting now.
        starting = await job_cleaner(conn, acme.id, job, Settings())
    assert "seats" in running.model.by_name and running.clean({"last_name": "L", "seats": "-1"}).issues
    assert "seats" not in starting.model.by_name and starting.model.retired_fields == ("seats",)


def test_the_cli_creates_lists_and_retires_fields(settings: Settings) -> None:
    company = str(uuid.uuid4())
    made = crmio(
        settings,
        "fields",
        "create",
        "contact",
        "Lead Owner",
        "--type",
        "email",
        "--required",
        "--company",
        company,
        "--json",
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == "lead_owner"
    listed = crmio(settings, "fields", "list", "--company", company)
    assert listed.returncode == 0 and "lead_owner" in listed.stdout and "required" in listed.stdout
    twice = crmio(settings, "fields", "create", "contact", "Lead Owner", "--type", "email", "--company", company)
    assert twice.returncode == 2 and "already has a field 'lead_owner'" in twice.stderr
    gone = crmio(settings, "fields", "retire", "contact", "lead_owner", "--company", company)
    assert gone.returncode == 0 and "(retired)" in gone.stdout
    assert crmio(settings, "fields", "list", "--company", company).stdout.strip() == ""
    back = crmio(settings, "fields", "restore", "contact", "lead_owner", "--company", company)
    assert back.returncode == 0 and "lead_owner" in back.stdout and "(retired)" not in back.stdout, back.stderr
    assert "lead_owner" in crmio(settings, "fields", "list", "--company", company).stdout
    again = crmio(settings, "fields", "restore", "contact", "lead_owner", "--company", company)
    assert again.returncode == 2 and "no retired custom field 'lead_owner'" in again.stderr
