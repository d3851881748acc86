"""Contacts linked to their accounts (issue 18): a file of contacts and their companies imports both in one job
("one file, two objects"), accounts found by domain, external id or name, or created once from the row's
account columns; exact in each duplicate mode, under rollback, and in exports of account columns.
Through the API, the real worker and PostgreSQL (a worker killed mid-job: tests/integration/faults)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

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

pytestmark = pytest.mark.integration

ROWS = 20_000
COMPANIES = 2_000
EXISTING = 200  # companies 0..199 are accounts already, found by their domain
BEFORE = 1_000  # the file's first rows are contacts already
LONELY = "lonely.example"  # named only by contacts that exist already
HEADERS = ["Email", "First Name", "Last Name", "Company Name", "Company Domain", "Company Industry"]
MAPPING = {
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company Name": "account.name",
    "Company Domain": "account.website",
    "Company Industry": "account.industry",
}
INDUSTRIES = ("Retail", "Software", "Banking", "Energy", "Health")


def domain_of(i: int) -> str:
    """The domain row ``i`` names (written in several shapes that all mean it)."""
    if i < BEFORE and i % 100 == 0:
        return LONELY
    return f"co{i % COMPANIES}.example"


def contact_row(i: int) -> list[str]:
    domain = domain_of(i)
    j = i % COMPANIES
    shape = ("{d}", "https://www.{d}/about", "WWW.{D}", "http://{d}:8080")[i % 4]
    name = "Lonely Ltd" if domain == LONELY else f"Company {j} Inc"
    return [f"c{i}@people.example", f"F{i}", f"L{i}", name, shape.format(d=domain, D=domain.upper()), INDUSTRIES[j % 5]]


def contacts_csv(rows: range) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADERS)
    w.writerows(contact_row(i) for i in rows)
    return out.getvalue().encode()


async def import_file(
    client: httpx.AsyncClient, company: Company, data: bytes, mapping: dict[str, str], **job: Any
) -> dict[str, Any]:
    up = await upload(client, company, "contacts.csv", data)
    assert up.status_code == 201, up.text
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up.json()["id"],
            "target_model": job.pop("target_model", "contact"),
            "mapping": mapping,
            **job,
        },
    )
    assert r.status_code == 201, r.text
    done = await wait_final(client, company, r.json()["id"], timeout_s=600)
    assert done["job_status"] == "completed", done
    return done


async def seed(client: httpx.AsyncClient, company: Company) -> None:
    """The accounts (by domain) and the contacts the company holds before the file comes."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Name", "Website"])
    w.writerows([f"Stored Account {j}", f"co{j}.example"] for j in range(EXISTING))
    await import_file(
        client, company, out.getvalue().encode(), {"Name": "name", "Website": "website"}, target_model="account"
    )
    plain = {k: v for k, v in MAPPING.items() if not v.startswith("account.")}
    await import_file(client, company, contacts_csv(range(BEFORE)), plain)


async def accounts(pool: asyncpg.Pool, company: Company) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, name, website, industry, match_key, version FROM crm_accounts WHERE company_id = $1",
            uuid.UUID(company.id),
        )
    by_key: dict[str, asyncpg.Record] = {}
    for r in rows:
        assert r["match_key"] not in by_key, f"two accounts for {r['match_key']}"
        by_key[r["match_key"]] = r
    return by_key


async def contacts(pool: asyncpg.Pool, company: Company) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT id, email, account, account_id, version FROM crm_contacts WHERE company_id = $1",
                uuid.UUID(company.id),
            )
        )


@pytest.mark.parametrize("mode", ["skip", "update", "create_new"])
async def test_one_file_of_contacts_and_their_companies_creates_each_account_once_and_links_every_contact(
    client: httpx.AsyncClient, pool: asyncpg.Pool, mode: str
) -> None:
    acme = await new_company(pool)
    await seed(client, acme)
    stored = await accounts(pool, acme)
    assert len(stored) == EXISTING

    job = await import_file(
        client, acme, contacts_csv(range(ROWS)), MAPPING, duplicate_handling=mode, options={"account_match": "domain"}
    )
    written = ROWS - BEFORE if mode == "skip" else ROWS
    assert (job["error_records"], job["created_records"] + job["updated_records"]) == (0, written), job

    after = await accounts(pool, acme)
    lonely = f"domain:{LONELY}"
    # Each company once: those stored are found (and left as they were), the others created from the file;
    # an account only skipped contacts name is not created.
    expected_keys = {f"domain:co{j}.example" for j in range(COMPANIES)} | ({lonely} if mode != "skip" else set())
    assert set(after) == expected_keys
    for key, rec in stored.items():
        assert dict(after[key]) == dict(rec)
    for j in range(EXISTING, COMPANIES):
        new = after[f"domain:co{j}.example"]
        assert (new["name"], new["industry"], new["version"]) == (f"Company {j} Inc", INDUSTRIES[j % 5], 1)

    by_id = {r["id"]: r for r in after.values()}
    people = await contacts(pool, acme)
    assert len(people) == (ROWS + BEFORE if mode == "create_new" else ROWS)
    linked = [p for p in people if p["account_id"] is not None]
    assert len(linked) == written
    for p in linked:
        i = int(p["email"][1 : p["email"].index("@")])
        account = by_id[p["account_id"]]
        assert account["match_key"] == f"domain:{domain_of(i)}"
        assert p["account"] == account["name"]  # the contact's company text names the account linked
    if mode == "skip":  # the contacts stored before are left as they were: no link
        assert all(p["account_id"] is None for p in people if int(p["email"][1 : p["email"].index("@")]) < BEFORE)

    async with pool.acquire() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM crm_import_ledger WHERE job_id = $1 AND linked_created IS NOT NULL",
            uuid.UUID(job["id"]),
        )
    assert created == len(after) - EXISTING

    if mode != "update":
        return
    # Another import links a new contact to an account the first one created; then the first is rolled back:
    # its accounts go, with every link to them, and the contacts it updated lose the link they did not have.
    extra = "c999999@people.example"
    data = contacts_csv(range(0)) + f"{extra},X,Y,Company 500 Inc,co500.example,Retail\r\n".encode()
    await import_file(client, acme, data, MAPPING)
    rb = await client.post(f"/api/v1/jobs/{job['id']}/rollback", headers=acme.auth(), json={})
    assert rb.status_code in (200, 201, 202), rb.text
    done = await wait_final(client, acme, rb.json()["id"], timeout_s=600)
    assert done["job_status"] == "completed", done
    assert f"removed {len(after) - EXISTING:,} accounts it created" in done["message"], done
    assert await accounts(pool, acme) == stored
    people = await contacts(pool, acme)
    assert {p["email"] for p in people} == {f"c{i}@people.example" for i in range(BEFORE)} | {extra}
    assert all(p["account_id"] is None for p in people)


async def test_accounts_are_found_by_external_id_or_by_name_and_a_missing_one_only_warns(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    await import_file(
        client,
        acme,
        "Id,Name\nACC-1,Acme  Corp\nACC-2,Globex\nACC-3,Électricité de France\n".encode(),
        {"Id": "external_id", "Name": "name"},
        target_model="account",
    )
    stored = {r["name"]: r["id"] for r in (await accounts(pool, acme)).values()}
    mapping = {"Email": "email", "First": "first_name", "Last": "last_name", "Account": "account.external_id"}
    job = await import_file(
        client,
        acme,
        b"Email,First,Last,Account\na@x.example,A,A,ACC-1\nb@x.example,B,B,ACC-2\nc@x.example,C,C,ACC-404\n"
        b"d@x.example,D,D,\n",
        mapping,
        options={"missing_accounts": "warn"},
    )
    assert (job["created_records"], job["error_records"]) == (4, 0), job
    links = {p["email"]: p["account_id"] for p in await contacts(pool, acme)}
    assert links == {
        "a@x.example": stored["Acme  Corp"],
        "b@x.example": stored["Globex"],
        "c@x.example": None,
        "d@x.example": None,  # no account named at all: nothing to link, nothing to say
    }
    logs = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "warning"})
    warned = [item["message"] for item in logs.json()["items"]]
    assert len(warned) == 1 and "no account has the external_id 'ACC-404'" in warned[0], warned
    assert len(await accounts(pool, acme)) == 3  # warn creates nothing

    # By name: case (of every script, whatever the database's locale) and runs of white space do not matter.
    by_name = {"Email": "email", "First": "first_name", "Last": "last_name", "Company": "account.name"}
    job = await import_file(
        client,
        acme,
        "Email,First,Last,Company\ne@x.example,E,E,acme corp\nf@x.example,F,F,GLOBEX\ng@x.example,G,G,Initech\n"
        "i@x.example,I,I,ÉLECTRICITÉ  DE FRANCE\n".encode(),
        by_name,
    )
    assert (job["created_records"], job["error_records"]) == (4, 0), job
    links = {p["email"]: p["account_id"] for p in await contacts(pool, acme)}
    assert (links["e@x.example"], links["f@x.example"]) == (stored["Acme  Corp"], stored["Globex"])
    assert links["i@x.example"] == stored["Électricité de France"]
    initech = [r for r in (await accounts(pool, acme)).values() if r["name"] == "Initech"]
    assert len(initech) == 1 and links["g@x.example"] == initech[0]["id"]

    # Created from the row: an account needs its name; the row says which column to fill.
    by_id = {"Email": "email", "First": "first_name", "Last": "last_name", "Account": "account.external_id"}
    job = await import_file(client, acme, b"Email,First,Last,Account\nh@x.example,H,H,ACC-9\n", by_id)
    assert (job["created_records"], job["error_records"]) == (0, 1), job
    logs = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "error"})
    message = logs.json()["items"][0]["message"]
    assert "no account has the external_id 'ACC-9' and the row gives no name to create it" in message, message
    assert "account.name" in message


async def test_a_skipped_contact_neither_fails_for_its_account_nor_gives_a_new_account_its_values(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    plain = {"Email": "email", "First": "first_name", "Last": "last_name"}
    await import_file(client, acme, b"Email,First,Last\nold@x.example,O,O\n", plain)
    mapping = {**plain, "Company": "account.name", "Domain": "account.website", "Industry": "account.industry"}
    data = (
        b"Email,First,Last,Company,Domain,Industry\n"
        b"old@x.example,O,O,,newco.example,Retail\n"  # stored: skipped, though its account would lack a name
        b"new@x.example,N,N,Newco,newco.example,Banking\n"
    )
    job = await import_file(client, acme, data, mapping, duplicate_handling="skip")
    assert (job["created_records"], job["skipped_records"], job["error_records"]) == (1, 1, 0), job
    [account] = (await accounts(pool, acme)).values()
    assert (account["name"], account["industry"]) == ("Newco", "Banking")
    links = {p["email"]: p["account_id"] for p in await contacts(pool, acme)}
    assert links == {"old@x.example": None, "new@x.example": account["id"]}


async def test_a_link_the_mapping_cannot_make_is_refused_before_any_row(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    up = await upload(client, acme, "c.csv", b"Email,First,Last,Industry\na@x.example,A,A,Retail\n")
    base = {"job_type": "import", "upload_id": up.json()["id"], "target_model": "contact"}
    mapping = {"Email": "email", "First": "first_name", "Last": "last_name", "Industry": "account.industry"}
    r = await client.post("/api/v1/jobs", headers=acme.auth(), json={**base, "mapping": mapping})
    assert r.status_code == 422 and "none says which account a contact belongs to" in r.text, r.text
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={**base, "mapping": {**mapping, "Industry": "account.name"}, "options": {"account_match": "domain"}},
    )
    assert r.status_code == 422 and "map the file's column of it to account.website" in r.text, r.text
    leads = {"Email": "email", "First": "first_name", "Last": "last_name", "Industry": "account.name"}
    r = await client.post("/api/v1/jobs", headers=acme.auth(), json={**base, "target_model": "lead", "mapping": leads})
    assert r.status_code == 422 and "lead has no field 'account.name'" in r.text, r.text


async def test_an_export_of_contacts_reads_their_accounts_columns_filtered_and_sorted(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme = await new_company(pool)
    rows = range(300)
    await import_file(client, acme, contacts_csv(rows), MAPPING)
    spec = {
        "fields": ["email", "account.name", "account.website", "account.industry"],
        "filters": [{"field": "account.industry", "op": "eq", "value": "Retail"}],
        "sort": ["-account.name", "email"],
    }
    r = await client.post(
        "/api/v1/jobs",
        headers=acme.auth(),
        json={"job_type": "export", "target_model": "contact", "file_format": "csv", **spec},
    )
    assert r.status_code == 201, r.text
    done = await wait_final(client, acme, r.json()["id"])
    got = await client.get(f"/api/v1/jobs/{done['id']}/download", headers=acme.auth())
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    retail = [contact_row(i) for i in rows if contact_row(i)[5] == "Retail"]
    # The database sorts in the C collation here (crmio stack), as Python sorts these ASCII strings.
    expected = sorted(([row[0], row[3]] for row in retail), key=lambda r: r[0])
    expected.sort(key=lambda row: row[1], reverse=True)
    assert table[0] == ["email", "account.name", "account.website", "account.industry"]
    assert [row[:2] for row in table[1:]] == expected and len(expected) > 0
    for row in table[1:]:  # the account's website as created from the first of its rows applied
        i = int(row[0][1 : row[0].index("@")])
        assert domain_of(i) in row[2].lower() and row[3] == "Retail"


def test_the_cli_links_contacts_by_account_name_and_warns_for_missing_ones(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    company = str(uuid.uuid4())
    accounts_file = tmp_path / "a.csv"
    accounts_file.write_text("Name\nAcme\n")
    base = ["import", "--company", company, "--wait", "--json"]
    assert crmio(settings, *base[:1], str(accounts_file), *base[1:], "--model", "account").returncode == 0
    path = tmp_path / "c.csv"
    path.write_text("Email,First,Last,Company\na@x.example,A,A,ACME\nb@x.example,B,B,Umbrella\n")
    mapping = {"Email": "email", "First": "first_name", "Last": "last_name", "Company": "account.name"}
    out = crmio(
        settings,
        *base[:1],
        str(path),
        *base[1:],
        "--model",
        "contact",
        "--mapping",
        json.dumps(mapping),
        "--account-match",
        "name",
        "--missing-accounts",
        "warn",
    )
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert (job["created_records"], job["warning_records"]) == (2, 1), job
    assert (job["options"]["account_match"], job["options"]["missing_accounts"]) == ("name", "warn")
    rows = asyncio.run(_links(settings, company))
    assert rows == {"a@x.example": "Acme", "b@x.example": None}


async def _links(settings: Settings, company: str) -> dict[str, str | None]:
    conn = await asyncpg.connect(settings.system_dsn())
    try:
        rows = await conn.fetch(
            "SELECT c.email, a.name FROM crm_contacts c LEFT JOIN crm_accounts a ON a.id = c.account_id "
            "WHERE c.company_id = $1",
            uuid.UUID(company),
        )
    finally:
        await conn.close()
    return {r["email"]: r["name"] for r in rows}


async def test_an_account_the_import_creates_takes_every_value_its_rows_give_whichever_batch_creates_it(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Rows naming one new account travel on every record partition, so which batch creates the account is up to
    the scheduler: the account must end with each value some row gives, and a conflicting value is named."""
    acme = await new_company(pool)
    r = await client.post(
        "/api/v1/fields",
        headers=acme.auth(),
        json={"target_model": "account", "label": "ARR", "field_type": "decimal"},
    )
    assert r.status_code == 201, r.text
    rows, given = 600, {137: ("Manufacturing", "", ""), 300: ("Retail", "", ""), 402: ("", "+1 212 555 0100", "")}
    given[555] = ("", "", "1200.50")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Email", "First", "Last", "Company", "Industry", "Phone", "ARR"])
    w.writerows(
        [f"p{i}@analytical.example", "P", str(i), "Analytical Engines", *given.get(i, ("", "", ""))]
        for i in range(rows)
    )
    mapping = {
        "Email": "email",
        "First": "first_name",
        "Last": "last_name",
        "Company": "account.name",
        "Industry": "account.industry",
        "Phone": "account.phone",
        "ARR": "account.arr",
    }
    job = await import_file(client, acme, out.getvalue().encode(), mapping)
    assert (job["created_records"], job["error_records"], job["warning_records"]) == (rows, 0, 1), job

    async with pool.acquire() as conn:
        made = await conn.fetch(
            "SELECT id, industry, phone, custom, version FROM crm_accounts WHERE company_id = $1", uuid.UUID(acme.id)
        )
        linked = await conn.fetchval(
            "SELECT count(*) FROM crm_contacts WHERE company_id = $1 AND account_id = $2",
            uuid.UUID(acme.id),
            made[0]["id"],
        )
    assert len(made) == 1 and linked == rows
    account = made[0]
    assert account["phone"] == "+12125550100" and account["custom"] == {"arr": "1200.50"}
    assert account["version"] == 1  # still the import's own: its rollback removes it
    kept, other, row = (
        ("Manufacturing", "Retail", 301) if account["industry"] == "Manufacturing" else ("Retail", "Manufacturing", 138)
    )
    assert account["industry"] == kept
    logs = await client.get(f"/api/v1/jobs/{job['id']}/logs", headers=acme.auth(), params={"level": "warning"})
    [warning] = logs.json()["items"]
    assert warning["record_number"] == row, warning
    assert (
        f"the account 'Analytical Engines' already has the industry {kept!r} (from an earlier row naming it); "
        f"this row's {other!r} was not applied to it"
    ) in warning["message"], warning

    rb = await client.post(f"/api/v1/jobs/{job['id']}/rollback", headers=acme.auth(), json={})
    assert rb.status_code in (200, 201, 202), rb.text
    done = await wait_final(client, acme, rb.json()["id"], timeout_s=600)
    assert done["job_status"] == "completed" and "removed 1 accounts it created" in done["message"], done
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM crm_accounts WHERE company_id = $1", uuid.UUID(acme.id)) == 0
