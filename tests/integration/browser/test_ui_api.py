"""The routes the web UI adds (services/api/routes_ui.py, routes_web.py) over real HTTP: static files served safely,
every API route behind the key and scoped to the caller's company."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest

from tests.integration.test_api import LEAD_MAPPING, Company, leads_csv, upload, wait_final

pytestmark = pytest.mark.integration

UI_ROUTES = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/models"),
    ("POST", "/api/v1/uploads/{upload}/inspect"),
    ("POST", "/api/v1/exports/count"),
    ("GET", "/api/v1/jobs/{job}/error-summary"),
    ("GET", "/api/v1/jobs/{job}/actions"),
]


async def test_the_page_and_its_files_are_served_with_a_strict_policy(api: httpx.AsyncClient) -> None:
    page = await api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/js/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    js = await api.get("/ui/js/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert (await api.get("/ui/app.css")).headers["content-type"].startswith("text/css")
    for path in ("/ui/../routes_web.py", "/ui/%2e%2e/routes_web.py", "/ui/js", "/ui/nothing.js", "/ui/js/../../app.py"):
        r = await api.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert "__all__" not in r.text and r.json()["code"] in ("NotFound", "HTTPError")


@pytest.mark.parametrize("auth", [None, "Bearer crmio_not-a-real-key"])
async def test_every_ui_route_answers_401_without_a_valid_key(api: httpx.AsyncClient, auth: str | None) -> None:
    ids = {"job": uuid.uuid4(), "upload": uuid.uuid4()}
    headers = {"Authorization": auth} if auth else {}
    for method, path in UI_ROUTES:
        r = await api.request(method, path.format(**ids), headers=headers, json={"target_model": "lead"})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.json()["code"] == "Unauthorized"


async def test_me_and_models(api: httpx.AsyncClient, company: Company) -> None:
    me = (await api.get("/api/v1/me", headers=company.auth("member"))).json()
    assert me["company_id"] == company.id and me["role"] == "member" and me["label"] == "test member"
    models = (await api.get("/api/v1/models", headers=company.auth())).json()
    lead = {f["name"]: f for f in models["models"]["lead"]["fields"]}
    assert lead["first_name"]["required"] is True and lead["email"]["required"] is False
    assert "qualified" in lead["status"]["choices"] and lead["annual_revenue"]["type"] == "decimal"
    assert models["pseudo_fields"] == ["created_at", "updated_at"] and "between" in models["filter_ops"]


async def test_inspect_reads_an_upload_again_and_is_scoped(
    api: httpx.AsyncClient, company: Company, other: Company
) -> None:
    data = "Vorname;Nachname;Mail\r\nJürgen;Groß;j@example.com\r\n".encode("cp1252")
    up = (await upload(api, company, "semi.csv", data)).json()
    again = await api.post(
        f"/api/v1/uploads/{up['id']}/inspect",
        headers=company.auth("member"),
        json={"encoding": "cp1252", "delimiter": ";"},
    )
    assert again.status_code == 200, again.text
    doc = again.json()
    assert doc["headers"] == ["Vorname", "Nachname", "Mail"] and doc["rows"] == [["Jürgen", "Groß", "j@example.com"]]
    assert doc["encoding"] == "cp1252" and doc["delimiter"] == ";"
    assert (doc["row_estimate"], doc["row_estimate_exact"]) == (1, True)
    assert {s["column"]: s["field"] for s in doc["suggested_mapping"]["lead"]}["Mail"] == "email"
    wrong = await api.post(f"/api/v1/uploads/{up['id']}/inspect", headers=company.auth(), json={"delimiter": "|"})
    assert wrong.status_code == 200 and wrong.json()["headers"] == ["Vorname;Nachname;Mail"]
    bad = await api.post(
        f"/api/v1/uploads/{up['id']}/inspect", headers=company.auth(), json={"encoding": "no-such-codec"}
    )
    assert 400 <= bad.status_code < 500 and bad.json()["detail"], bad.text
    typo = await api.post(f"/api/v1/uploads/{up['id']}/inspect", headers=company.auth(), json={"sheeet": "x"})
    assert typo.status_code == 422

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["notes"])
    book.create_sheet("Leads").append(["Vorname", "Nachname"])
    buf = io.BytesIO()
    book.save(buf)
    book.close()
    xl = (await upload(api, company, "book.xlsx", buf.getvalue())).json()
    assert xl["headers"] == ["notes"] and xl["sheet_names"] == ["Sheet", "Leads"]
    leads = (
        await api.post(f"/api/v1/uploads/{xl['id']}/inspect", headers=company.auth(), json={"sheet": "Leads"})
    ).json()
    assert leads["sheet"] == "Leads" and leads["headers"] == ["Vorname", "Nachname"]

    assert (await api.post(f"/api/v1/uploads/{up['id']}/inspect", headers=other.auth(), json={})).status_code == 404


async def test_export_count_is_scoped_and_refuses_bad_filters(
    api: httpx.AsyncClient, company: Company, other: Company
) -> None:
    up = (await upload(api, company, "leads.csv", leads_csv(40))).json()
    job = (
        await api.post(
            "/api/v1/jobs",
            headers=company.auth(),
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": LEAD_MAPPING},
        )
    ).json()
    await wait_final(api, company, job["id"])

    async def count(who: Company, filters: list[dict[str, object]] | None, model: str = "lead") -> httpx.Response:
        return await api.post(
            "/api/v1/exports/count", headers=who.auth("member"), json={"target_model": model, "filters": filters}
        )

    assert (await count(company, None)).json() == {"target_model": "lead", "count": 40}
    assert (await count(company, [{"field": "email", "op": "contains", "value": "user1"}])).json()["count"] == 11
    assert (
        await count(company, [{"field": "email", "op": "in", "value": ["user2@example.com", "nobody@x.org"]}])
    ).json()["count"] == 1
    assert (await count(company, None, "contact")).json()["count"] == 0
    assert (await count(other, None)).json()["count"] == 0  # another company's records are never counted
    for bad in (
        [{"field": "shoe_size", "op": "eq", "value": 1}],
        [{"field": "status", "op": "eq", "value": "bogus"}],
        [{"field": "number_of_employees", "op": "eq", "value": "1e99"}],
        [{"field": "email", "op": "near"}],
    ):
        r = await count(company, bad)
        assert r.status_code == 422 and r.json()["code"] == "ExportError", (bad, r.text)
    assert (
        await api.post("/api/v1/exports/count", headers=company.auth(), json={"target_model": "deal"})
    ).status_code == 422


async def test_error_summary_counts_failed_rows_per_field(
    api: httpx.AsyncClient, company: Company, other: Company
) -> None:
    up = (await upload(api, company, "bad.csv", leads_csv(60, bad_every=10))).json()
    job = (
        await api.post(
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
    ).json()
    assert (await wait_final(api, company, job["id"]))["error_records"] == 6
    summary = await api.get(f"/api/v1/jobs/{job['id']}/error-summary", headers=company.auth("member"))
    assert summary.status_code == 200, summary.text
    doc = summary.json()
    assert doc["error_records"] == 6
    by_field = {f["field"]: f for f in doc["fields"]}
    assert set(by_field) == {"last_name", "email"}
    assert by_field["last_name"]["rows"] == 6 and by_field["last_name"]["hint"] == "fill in last_name in every row"
    assert by_field["email"]["rows"] == 6 and "not a valid email" in by_field["email"]["example"]
    assert (await api.get(f"/api/v1/jobs/{job['id']}/error-summary", headers=other.auth())).status_code == 404
    assert (await api.get("/api/v1/jobs/not-a-uuid/error-summary", headers=company.auth())).status_code == 404
