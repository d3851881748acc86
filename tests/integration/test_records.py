"""The records API (GET /api/v1/records/{model}[/{id}]) the web UI's records pages read: a company's contacts and
accounts imported through the API and the real worker, listed newest first with keyset pages, searched, one record
with its built-in and custom fields as exports write them, a contact's account and an account's contacts; another
company's records are neither listed nor found."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.test_account_links import import_file
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    Company,
    api_settings,
    base_url,
    client,
    new_company,
)

pytestmark = pytest.mark.integration

MAPPING = {
    "Email": "email",
    "First": "first_name",
    "Last": "last_name",
    "Company": "account.name",
    "Domain": "account.website",
    "ARR": "account.arr",
    "Seats": "seats",
    "Renewal": "renewal",
    "DNC": "do_not_call",
    "Born": "birthdate",
}
ACME_FILE = (
    "Email,First,Last,Company,Domain,ARR,Seats,Renewal,DNC,Born\r\n"
    "ada@analytical.example,Ada,Lovelace,Analytical Engines,analytical.example,1200.50,12,2024-03,yes,1815\r\n"
    "charles@analytical.example,Charles,Babbage,Analytical Engines,www.analytical.example,,,1990,no,1791-12-26\r\n"
    "grace@navy.example,Grace,Hopper,US Navy,navy.example,,,,,\r\n"
    "alan@bletchley.example,Alan,Turing,,,,,,,\r\n"
)
GLOBEX_FILE = "Email,First,Last,Company,Domain\r\nada@globex.example,Ada,Globex,Globex,globex.example\r\n"


async def records(client: httpx.AsyncClient, company: Company, path: str, **params: Any) -> Any:
    r = await client.get(f"/api/v1/records/{path}", headers=company.auth("member"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_records_list_search_pages_links_and_tenant_isolation(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    acme, globex = await new_company(pool), await new_company(pool)
    for model, label, kind in (
        ("contact", "Seats", "number"),
        ("contact", "Renewal", "date"),
        ("account", "ARR", "decimal"),
    ):
        r = await client.post(
            "/api/v1/fields", headers=acme.auth(), json={"target_model": model, "label": label, "field_type": kind}
        )
        assert r.status_code == 201, r.text
    await asyncio.gather(
        import_file(client, acme, ACME_FILE.encode(), MAPPING, options={"account_match": "domain"}),
        import_file(
            client,
            globex,
            GLOBEX_FILE.encode(),
            {k: MAPPING[k] for k in ("Email", "First", "Last", "Company", "Domain")},
        ),
    )

    # Newest first (ids are time-ordered), in keyset pages.
    everyone = (await records(client, acme, "contact"))["items"]
    assert sorted(c["email"] for c in everyone) == sorted(
        ["ada@analytical.example", "charles@analytical.example", "grace@navy.example", "alan@bletchley.example"]
    )
    assert [c["id"] for c in everyone] == sorted((c["id"] for c in everyone), reverse=True)
    first = await records(client, acme, "contact", limit=3)
    assert [c["id"] for c in first["items"]] == [c["id"] for c in everyone[:3]] and first["next_after"]
    rest = await records(client, acme, "contact", limit=3, after=first["next_after"])
    assert [c["id"] for c in rest["items"]] == [everyone[3]["id"]] and rest["next_after"] is None

    by_email = {c["email"]: c for c in everyone}
    ada, alan = by_email["ada@analytical.example"], by_email["alan@bletchley.example"]
    assert (ada["first_name"], ada["last_name"], ada["account"]["name"]) == ("Ada", "Lovelace", "Analytical Engines")
    assert alan["account"] is None

    # Search: any case, e-mail, first or last name, or the full name; % and _ are literal.
    async def found(company: Company, model: str, q: str) -> list[str]:
        page = await records(client, company, model, q=q)
        return sorted(item.get("email") or item["name"] for item in page["items"])

    assert await found(acme, "contact", "LOVELACE") == ["ada@analytical.example"]
    assert await found(acme, "contact", "ada lov") == ["ada@analytical.example"]
    assert await found(acme, "contact", "analytical") == ["ada@analytical.example", "charles@analytical.example"]
    assert await found(acme, "contact", "%") == []
    assert await found(acme, "account", "navy.EX") == ["US Navy"]
    assert await found(acme, "lead", "ada") == []
    # Another company's Ada is never in acme's lists, nor acme's in globex's.
    assert await found(acme, "contact", "ada") == ["ada@analytical.example"]
    assert await found(globex, "contact", "") == ["ada@globex.example"]
    assert await found(globex, "account", "") == ["Globex"]

    # One contact: every own field (built-in, then custom under its label) as exports write it, and its account.
    doc = await records(client, acme, f"contact/{ada['id']}")
    fields = {f["name"]: f for f in doc["fields"]}
    assert [f["name"] for f in doc["fields"]][-2:] == ["seats", "renewal"]
    assert not any(name.startswith("account.") for name in fields)
    assert {n: fields[n]["value"] for n in ("email", "seats", "renewal", "do_not_call", "birthdate", "account")} == {
        "email": "ada@analytical.example",
        "seats": "12",
        "renewal": "2024-03",
        "do_not_call": "true",
        "birthdate": "1815",
        "account": "Analytical Engines",
    }
    assert (fields["seats"]["label"], fields["seats"]["custom"], fields["email"]["custom"]) == ("Seats", True, False)
    assert doc["version"] == 1 and doc["created_at"] and doc["updated_at"]
    account_id = doc["account"]["id"]
    assert doc["account"] == {"id": account_id, "name": "Analytical Engines"}
    charles = await records(client, acme, f"contact/{by_email['charles@analytical.example']['id']}")
    assert {
        "renewal": "1990",
        "birthdate": "1791-12-26",
        "do_not_call": "false",
        "seats": None,
    }.items() <= {f["name"]: f["value"] for f in charles["fields"]}.items()

    # The account: its custom decimal, and its contacts by last name with their count.
    account = await records(client, acme, f"account/{account_id}")
    assert {f["name"]: f["value"] for f in account["fields"]}["arr"] == "1200.50"
    assert account["contacts"]["total"] == 2
    assert [(c["last_name"], c["email"]) for c in account["contacts"]["items"]] == [
        ("Babbage", "charles@analytical.example"),
        ("Lovelace", "ada@analytical.example"),
    ]

    # Another company's id, a missing one, or an id of another model: 404, as a NotFound problem.
    for company, path in (
        (globex, f"contact/{ada['id']}"),
        (globex, f"account/{account_id}"),
        (acme, f"contact/{uuid.uuid4()}"),
        (acme, f"account/{ada['id']}"),
    ):
        r = await client.get(f"/api/v1/records/{path}", headers=company.auth("member"))
        assert (r.status_code, r.json()["code"]) == (404, "NotFound"), (path, r.text)
    assert (await client.get("/api/v1/records/opportunity", headers=acme.auth())).status_code == 422

    # An account that is gone reads as none on its contacts.
    async with pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM crm_accounts WHERE company_id = $1 AND id = $2", uuid.UUID(acme.id), uuid.UUID(account_id)
        )
    assert (await records(client, acme, f"contact/{ada['id']}"))["account"] is None
    assert all(c["account"] is None for c in (await records(client, acme, "contact", q="analytical"))["items"])
