"""External ids (issue 18): an import can match duplicates on the id another system gave each record
(match_on external_id, as Salesforce's upsert), and no two records of a company's model share one.
Through the API, the real worker and PostgreSQL; the CLI's --match too."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

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

MAPPING = {"Id": "external_id", "First": "first_name", "Last": "last_name", "Email": "email", "Title": "title"}


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(MAPPING))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def _row(i: int, **changes: str) -> dict[str, str]:
    return {
        "Id": f"SF-{i:05d}",
        "First": f"F{i}",
        "Last": f"L{i}",
        "Email": f"c{i}@ext.example",
        "Title": "Buyer",
    } | changes


async def _import(
    client: httpx.AsyncClient,
    company: Company,
    rows: list[dict[str, str]],
    mapping: dict[str, str] = MAPPING,
    **job: Any,
) -> httpx.Response:
    up = await upload(client, company, "contacts.csv", _csv(rows))
    assert up.status_code == 201, up.text
    return await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={"job_type": "import", "upload_id": up.json()["id"], "target_model": "contact", "mapping": mapping, **job},
    )


async def _done(client: httpx.AsyncClient, company: Company, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return await wait_final(client, company, r.json()["id"], timeout_s=300)


async def _records(pool: asyncpg.Pool, company: Company) -> dict[str, dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT external_id, email, title, first_name, version, match_key FROM crm_contacts WHERE company_id = $1",
            uuid.UUID(company.id),
        )
    return {r["external_id"]: dict(r) for r in rows}


async def test_an_update_by_external_id_changes_only_the_records_it_names(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    first = await _done(client, acme, await _import(client, acme, [_row(i) for i in range(1000)]))
    assert first["created_records"] == 1000
    before = await _records(pool, acme)

    # The other system changed 100 people's e-mail addresses and titles: matched by id, not by e-mail.
    changed = [_row(i, Email=f"new{i}@ext.example", Title="Director") for i in range(0, 1000, 10)]
    r = await _import(client, acme, changed, duplicate_handling="update", options={"match_on": "external_id"})
    job = await _done(client, acme, r)
    assert (job["updated_records"], job["created_records"], job["error_records"]) == (100, 0, 0), job
    assert job["options"]["match_on"] == "external_id"
    after = await _records(pool, acme)
    assert set(after) == set(before)
    for ext, rec in after.items():
        i = int(ext[3:])
        if i % 10:
            assert rec == before[ext]  # untouched
        else:  # changed as given; the model's own key follows the new e-mail, so a later import by e-mail finds it
            assert (rec["email"], rec["title"], rec["first_name"]) == (f"new{i}@ext.example", "Director", f"F{i}")
            assert rec["version"] == before[ext]["version"] + 1 and rec["match_key"] == f"email:new{i}@ext.example"

    # Matched on e-mail now, the same people are found by their new addresses ...
    again = await _done(client, acme, await _import(client, acme, changed[:5], duplicate_handling="update"))
    assert (again["updated_records"], again["error_records"]) == (5, 0), again
    # ... and a new person (a new e-mail) cannot take an id another record holds.
    taken = await _done(client, acme, await _import(client, acme, [_row(0, Email="someone@else.example")]))
    assert (taken["created_records"], taken["error_records"]) == (0, 1), taken
    logs = await client.get(f"/api/v1/jobs/{taken['id']}/logs", headers=acme.auth(), params={"level": "error"})
    message = logs.json()["items"][0]["message"]
    assert "'SF-00000' is already the external_id of another contact" in message and "match_on external_id" in message
    assert len(await _records(pool, acme)) == 1000


async def test_an_update_file_needs_only_the_id_and_what_changes(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    acme = await new_company(pool)
    await _done(client, acme, await _import(client, acme, [_row(i) for i in range(5)]))
    before = await _records(pool, acme)
    # The other system's export of what changed: ids and titles only (first and last name, required, left out).
    partial = {"Id": "external_id", "Title": "title"}
    data = b"Id,Title\nSF-00001,Director\nSF-00003,Owner\nSF-09999,Intern\n"
    up = await upload(client, acme, "changes.csv", data)
    body = {"job_type": "import", "upload_id": up.json()["id"], "target_model": "contact", "mapping": partial}
    update = {**body, "duplicate_handling": "update", "options": {"match_on": "external_id"}}
    job = await _done(client, acme, await client.post("/api/v1/jobs", headers=acme.auth(), json=update))
    assert (job["updated_records"], job["created_records"], job["error_records"]) == (2, 0, 1), job
    after = await _records(pool, acme)
    assert (after["SF-00001"]["title"], after["SF-00003"]["title"]) == ("Director", "Owner")
    assert after["SF-00001"]["first_name"] == before["SF-00001"]["first_name"] == "F1"  # kept
    assert "SF-09999" not in after
    logs = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error"})
    [error] = logs.json()["items"]
    assert (
        "row 3: first_name: first_name is required to create a contact, and this row matches no stored"
        in (error["message"])
    )
    # An empty cell of a required column keeps the stored value too; a row it would create still fails.
    rows = [_row(2, First="", Title="Chair"), _row(7, First="")]
    job = await _done(
        client,
        acme,
        await _import(client, acme, rows, duplicate_handling="update", options={"match_on": "external_id"}),
    )
    assert (job["updated_records"], job["created_records"], job["error_records"]) == (1, 0, 1), job
    assert (await _records(pool, acme))["SF-00002"]["first_name"] == "F2"
    # A mode that creates every row it does not skip still needs them mapped.
    skip = await client.post("/api/v1/jobs", headers=acme.auth(), json={**body, "duplicate_handling": "skip"})
    assert skip.status_code == 422 and "required fields first_name, last_name not mapped" in skip.text, skip.text


async def test_match_on_external_id_needs_the_id_in_the_mapping_and_in_every_row(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    no_id = {k: v for k, v in MAPPING.items() if v != "external_id"}
    r = await _import(client, acme, [_row(1)], mapping=no_id, options={"match_on": "external_id"})
    assert r.status_code == 422 and "map the file's column of ids to it" in r.text, r.text
    bad = await _import(client, acme, [_row(1)], options={"match_on": "email"})
    assert bad.status_code == 422, bad.text

    rows = [_row(1), _row(2, Id=""), _row(3), _row(1, Title="Twice")]  # a blank id; id 1 twice in one file
    job = await _done(client, acme, await _import(client, acme, rows, options={"match_on": "external_id"}))
    assert (job["created_records"], job["skipped_records"], job["error_records"]) == (2, 1, 1), job
    logs = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error"})
    assert "external_id" in logs.json()["items"][0]["message"] and "required" in logs.json()["items"][0]["message"]
    # create_new never gives a second record an id another holds.
    dup = await _done(
        client, acme, await _import(client, acme, [_row(3, Email="x@ext.example")], duplicate_handling="create_new")
    )
    assert (dup["created_records"], dup["error_records"]) == (0, 1), dup
    assert sorted(await _records(pool, acme)) == ["SF-00001", "SF-00003"]

    up = await upload(client, acme, "contacts.csv", _csv([_row(9)]))
    preview = await client.post(
        f"/api/v1/uploads/{up.json()['id']}/preview",
        headers=acme.auth(),
        json={"target_model": "contact", "mapping": MAPPING, "options": {"match_on": "external_id"}},
    )
    assert preview.status_code == 200 and preview.json()["match_fields"] == ["external_id"], preview.text
    plain = await client.post(
        f"/api/v1/uploads/{up.json()['id']}/preview",
        headers=acme.auth(),
        json={"target_model": "contact", "mapping": MAPPING},
    )
    assert plain.json()["match_fields"] == ["email"]


def test_the_cli_matches_on_external_id(settings: Settings, worker: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    path = tmp_path / "c.csv"
    path.write_bytes(_csv([_row(1), _row(2)]))
    args = ["import", str(path), "--model", "contact", "--company", company, "--mapping", json.dumps(MAPPING)]
    assert crmio(settings, *args, "--wait", "--json").returncode == 0
    path.write_bytes(_csv([_row(1, Email="moved@ext.example")]))
    out = crmio(settings, *args, "--duplicates", "update", "--match", "external_id", "--wait", "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert (job["updated_records"], job["created_records"]) == (1, 0) and job["options"]["match_on"] == "external_id"
