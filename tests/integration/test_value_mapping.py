"""Choice values through company picklists and value maps, and invalid optional values as warnings, on the real
broker, database and worker (issue 12)."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.cleansing.picklists import new_value_name
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    Company,
    api_settings,
    base_url,
    client,
    new_company,
    upload,
    wait_final,
)

pytestmark = pytest.mark.integration

# 20 words the picklist knows (values, labels, synonyms, plurals, any case) and 20 it does not.
KNOWN = {
    "Web": "web",
    "website": "web",
    "Referral": "referral",
    "Word of mouth": "referral",
    "Partner": "partner",
    "Event": "event",
    "Webinars": "event",
    "Conference": "event",
    "Advertisement": "advertisement",
    "PPC": "advertisement",
    "Cold Call": "cold_call",
    "cold-calling": "cold_call",
    "Email Campaign": "email_campaign",
    "Newsletter": "email_campaign",
    "Social Media": "social_media",
    "Trade Show": "trade_show",
    "TRADESHOW": "trade_show",
    "Expo": "trade_show",
    "Other": "other",
    "misc": "other",
}
# Outside the picklist: some with a suggestion the preview makes (fuzzy or a word inside), some with none.
SUGGESTED = {
    "Google Ads": "advertisement",
    "Website Form": "web",
    "Refferal": "referral",
    "Partner Portal": "partner",
    "Trade Show Booth": "trade_show",
    "Social Media Ad": "social_media",
}
UNSUGGESTED = [
    "Podcast",
    "Chatbot",
    "Purchased List",
    "Billboard",
    "Radio",
    "TV Spot",
    "Direct Mail",
    "Yelp",
    "Hackathon",
    "Influencer",
    "Sponsorship",
    "Print Magazine",
    "Door to door",
    "Flyer",
]
WORDS = [*KNOWN, *SUGGESTED, *UNSUGGESTED]
ROWS_PER_WORD = 5


def lead_file(words: list[str]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["First Name", "Last Name", "Email", "Source"])
    n = 0
    for word in words:
        for _ in range(ROWS_PER_WORD):
            n += 1
            w.writerow([f"First{n}", f"Last{n}", f"lead{n}@example.com", word])
    return out.getvalue().encode()


MAPPING = {"First Name": "first_name", "Last Name": "last_name", "Email": "email", "Source": "lead_source"}


async def stored_sources(pool: asyncpg.Pool, company: str) -> dict[str, str | None]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT email, lead_source FROM crm_leads WHERE company_id = $1", company)
    return {r["email"]: r["lead_source"] for r in rows}


def word_of_row(n: int) -> str:
    return WORDS[(n - 1) // ROWS_PER_WORD]


async def import_with(client: httpx.AsyncClient, company: Company, upload_id: str, **body: Any) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={"job_type": "import", "upload_id": upload_id, "target_model": "lead", **body},
    )
    assert r.status_code == 201, r.text
    return await wait_final(client, company, r.json()["id"])


async def test_preview_lists_every_distinct_value_with_counts_and_suggestions(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    up = (await upload(client, company, "leads.csv", lead_file(WORDS))).json()
    r = await client.post(
        f"/api/v1/uploads/{up['id']}/preview", headers=company.auth(), json={"target_model": "lead", "mapping": MAPPING}
    )
    assert r.status_code == 200, r.text
    [values] = r.json()["values"]
    assert values["field"] == "lead_source" and values["column"] == "Source" and values["complete"]
    assert values["distinct"] == 40 and len(values["items"]) == 40
    by_word = {i["value"]: i for i in values["items"]}
    assert all(i["count"] == ROWS_PER_WORD for i in values["items"])
    for word, value in KNOWN.items():
        assert by_word[word]["known"] and by_word[word]["suggestion"]["value"] == value, by_word[word]
    for word, value in SUGGESTED.items():
        item = by_word[word]
        assert not item["known"] and item["suggestion"]["value"] == value and item["suggestion"]["accepted"], item
    for word in UNSUGGESTED:
        assert by_word[word]["suggestion"]["value"] is None, by_word[word]
    assert "podcast" not in {c["value"] for c in values["choices"]}


@pytest.mark.parametrize("policy", ["add", "map:other", "empty", "fail"])
async def test_a_value_map_from_the_suggestions_lands_every_row_and_unknown_values_follow_the_policy(
    client: httpx.AsyncClient, pool: asyncpg.Pool, policy: str
) -> None:
    company = await new_company(pool)
    up = (await upload(client, company, "leads.csv", lead_file(WORDS))).json()
    preview = (
        await client.post(
            f"/api/v1/uploads/{up['id']}/preview",
            headers=company.auth(),
            json={"target_model": "lead", "mapping": MAPPING},
        )
    ).json()
    # The user takes every suggestion the preview marks as sure, and changes one: Podcast -> event.
    value_map = {
        i["value"]: i["suggestion"]["value"]
        for i in preview["values"][0]["items"]
        if i["suggestion"]["accepted"] and not i["known"]
    }
    value_map["Podcast"] = "event"
    job = await import_with(
        client,
        company,
        up["id"],
        mapping=MAPPING,
        value_mapping={"lead_source": value_map},
        options={"unknown_values": policy},
    )
    unknown = [w for w in UNSUGGESTED if w != "Podcast"]
    bad_rows = len(unknown) * ROWS_PER_WORD
    total = len(WORDS) * ROWS_PER_WORD
    assert job["job_status"] == "completed" and job["total_records"] == total, job
    if policy == "fail":
        assert (job["success_records"], job["error_records"], job["warning_records"]) == (total - bad_rows, bad_rows, 0)
    elif policy == "empty":
        assert (job["success_records"], job["error_records"], job["warning_records"]) == (total, 0, bad_rows)
    else:
        assert (job["success_records"], job["error_records"], job["warning_records"]) == (total, 0, 0)
    stored = await stored_sources(pool, company.id)
    assert len(stored) == (total - bad_rows if policy == "fail" else total)
    for n in range(1, total + 1):
        word, email = word_of_row(n), f"lead{n}@example.com"
        if word in KNOWN:
            want: str | None = KNOWN[word]
        elif word in value_map:
            want = value_map[word]
        elif policy == "add":
            want = new_value_name(word)
        elif policy == "map:other":
            want = "other"
        else:
            want = None
        if policy == "fail" and word in unknown:
            assert email not in stored
        else:
            assert stored[email] == want, (n, word, stored[email], want)
    picklist = (await client.get("/api/v1/picklists/lead_source", headers=company.auth())).json()
    values = {v["value"]: v for v in picklist["values"]}
    if policy == "add":
        for word in unknown:
            assert values[new_value_name(word)]["label"] == word and values[new_value_name(word)]["active"]
    else:
        assert not set(map(new_value_name, unknown)) & set(values)
    if policy in ("empty", "fail"):
        level = "warning" if policy == "empty" else "error"
        logs = (
            await client.get(
                f"/api/v1/jobs/{job['id']}/logs", headers=company.auth(), params={"level": level, "limit": 500}
            )
        ).json()["items"]
        assert len(logs) == bad_rows
        for log in logs:
            word = word_of_row(log["record_number"])
            assert log["field"] == "lead_source" and repr(word) in log["message"], log
            assert "not a value of the lead_source picklist" in log["message"]


async def test_a_template_keeps_the_value_map_and_the_next_import_asks_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    up = (await upload(client, company, "leads.csv", lead_file(WORDS))).json()
    preview = (
        await client.post(
            f"/api/v1/uploads/{up['id']}/preview",
            headers=company.auth(),
            json={"target_model": "lead", "mapping": MAPPING},
        )
    ).json()
    decided = {
        i["value"]: i["suggestion"]["value"] if i["suggestion"]["accepted"] else "other"
        for i in preview["values"][0]["items"]
        if not i["known"]
    }
    r = await client.post(
        "/api/v1/templates",
        headers=company.auth(),
        json={
            "template_name": "trade fair leads",
            "target_model": "lead",
            "template_type": "import",
            "field_mapping": MAPPING,
            "value_mapping": {"lead_source": decided},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["value_mapping"] == {"lead_source": decided}
    # A second file of the same kind, other rows, the template alone.
    again = (await upload(client, company, "more-leads.csv", lead_file(list(reversed(WORDS))))).json()
    preview = (
        await client.post(
            f"/api/v1/uploads/{again['id']}/preview", headers=company.auth(), json={"template_id": r.json()["id"]}
        )
    ).json()
    assert all(i["known"] or i["chosen"] for i in preview["values"][0]["items"])
    job = await import_with(client, company, again["id"], template_id=r.json()["id"], target_model=None)
    total = len(WORDS) * ROWS_PER_WORD
    assert (job["success_records"], job["error_records"], job["warning_records"]) == (total, 0, 0), job
    counts = Counter((await stored_sources(pool, company.id)).values())
    assert None not in counts and sum(counts.values()) == total
    assert counts["other"] == ROWS_PER_WORD * (1 + sum(1 for w in UNSUGGESTED) + 1)  # Other, misc, the unsuggested


async def test_an_unknown_value_map_target_is_refused_before_a_job_exists(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    company = await new_company(pool)
    up = (await upload(client, company, "leads.csv", lead_file(WORDS[:2]))).json()
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up["id"],
            "target_model": "lead",
            "mapping": MAPPING,
            "value_mapping": {"lead_source": {"Web": "website_form"}},
        },
    )
    assert r.status_code == 422, r.text
    assert "'website_form', which is not an active value of the lead_source picklist" in r.json()["detail"]
    r = await client.post(
        "/api/v1/jobs",
        headers=company.auth(),
        json={
            "job_type": "import",
            "upload_id": up["id"],
            "target_model": "lead",
            "mapping": MAPPING,
            "options": {"unknown_values": "map:podcast"},
        },
    )
    assert r.status_code == 422, r.text
    assert "'podcast' is not an active value of any picklist of this model" in r.json()["detail"]
    assert (await client.get("/api/v1/jobs", headers=company.auth())).json()["total"] == 0


# --------------------------------------------------------------------------- warnings

BAD = {
    "phone": "call reception",
    "website": "http://exa mple .com",
    "annual_revenue": "lots of money",
    "converted_date": "the 45th of Smarch",
}


def warning_file(path: Path, n: int, rate: float, seed: int = 12) -> dict[int, str]:
    """``n`` lead rows; about ``rate`` of them carry one bad optional value. Returns row -> the bad field."""
    rng = random.Random(seed)
    bad: dict[int, str] = {}
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["First Name", "Last Name", "Email", "Phone", "Website", "Annual Revenue", "Converted Date"])
        for i in range(1, n + 1):
            row = {
                "phone": "+1 415 555 0132",
                "website": f"https://company{i}.example",
                "annual_revenue": "1,200.50",
                "converted_date": "2024-03-04",
            }
            if rng.random() < rate:
                field = rng.choice(list(BAD))
                row[field] = BAD[field]
                bad[i] = field
            w.writerow(
                [
                    f"First{i}",
                    f"Last{i}",
                    f"w{i}@example.com",
                    row["phone"],
                    row["website"],
                    row["annual_revenue"],
                    row["converted_date"],
                ]
            )
    return bad


WARNING_MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone": "phone",
    "Website": "website",
    "Annual Revenue": "annual_revenue",
    "Converted Date": "converted_date",
}


@pytest.mark.parametrize("strict", [False, True])
async def test_invalid_optional_values_are_warnings_and_strict_fails_exactly_those_rows(
    tmp_path: Path, pool: asyncpg.Pool, run_import: Any, strict: bool
) -> None:
    import uuid

    company = str(uuid.uuid4())
    rows = 20_000
    bad = warning_file(tmp_path / "leads.csv", rows, 0.03)
    assert 500 <= len(bad) <= 700 and set(bad.values()) == set(BAD)
    job = await run_import(
        tmp_path / "leads.csv",
        company=company,
        mapping=WARNING_MAPPING,
        duplicates="skip",
        options={"strict": True} if strict else None,
    )
    assert job["job_status"] == "completed" and job["total_records"] == rows, job
    async with pool.acquire() as conn:
        logs = await conn.fetch(
            "SELECT record_number, log_level, field, message, record_data FROM crm_import_export_logs "
            "WHERE company_id = $1 AND job_id = $2",
            uuid.UUID(company),
            uuid.UUID(job["id"]),
        )
        records = {
            r["email"]: r
            for r in await conn.fetch(
                "SELECT email, phone, website, annual_revenue, converted_date FROM crm_leads WHERE company_id = $1",
                uuid.UUID(company),
            )
        }
    assert {r["record_number"] for r in logs} == set(bad) and len(logs) == len(bad)
    for log in logs:
        field = bad[log["record_number"]]
        assert log["field"] == field and repr(BAD[field]) in log["message"], dict(log)
        assert log["log_level"] == ("error" if strict else "warning")
    if strict:
        assert (job["success_records"], job["error_records"], job["warning_records"]) == (rows - len(bad), len(bad), 0)
        assert len(records) == rows - len(bad)
        return
    assert (job["success_records"], job["error_records"], job["warning_records"]) == (rows, 0, len(bad))
    assert len(records) == rows
    for number, field in bad.items():
        record = records[f"w{number}@example.com"]
        # A phone number it cannot recognize is kept as written (and named in the warning); other bad values are left out.
        assert record[field] == (BAD[field] if field == "phone" else None), (number, field, dict(record))
        assert all(record[f] is not None for f in BAD if f != field), dict(record)
