"""Hostile-input table for docs/reliability.md: every case of tests/hostile.py sent to a real API, one row each.

    .venv/bin/python -m bench.hostile_table                 # starts the API in-process (stack must be up)
    .venv/bin/python -m bench.hostile_table --url URL --key KEY   # an API that is already running

The in-process API uses tests.hostile.LIMITS. A refused file shows its status, error type and message; an
accepted one shows what the preview (the import's reader and cleaner, no worker needed) reports per row.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn

from services.api import create_app, server_config
from services.core.db import connect_pool, migrate
from services.core.settings import Settings
from services.jobs import keys
from tests.hostile import CASES, GOOD_CSV, LIMITS, REQUEST_CASES, Case, RequestCase, mapping_for, multipart

__all__ = ["main"]

_EXCERPT = 150


@asynccontextmanager
async def local_api() -> AsyncIterator[tuple[str, str]]:
    """An in-process API with the hostile limits, and an admin key of a new company."""
    settings = Settings().model_copy(update=dict(LIMITS))
    pool = await connect_pool(settings.system_dsn(), max_size=2)  # the owner: migrations, and keys name their company
    try:
        await migrate(pool)
        async with pool.acquire() as conn:
            key, _ = await keys.create_key(conn, str(uuid.uuid4()), "admin", "bench.hostile_table")
    finally:
        await pool.close()
    server = uvicorn.Server(
        server_config(create_app(settings), settings, host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise SystemExit(f"the API did not start: {task.exception()}")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        await task


def _cell(text: str) -> str:
    text = text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


async def _file_row(client: httpx.AsyncClient, auth: dict[str, str], case: Case) -> tuple[str, str, str]:
    body, ctype = multipart(case.filename, case.data)
    r = await client.post("/api/v1/uploads", headers={**auth, "Content-Type": ctype}, content=body)
    if r.status_code != 201:
        error = r.json()  # a problem (docs/api.md)
        return str(r.status_code), error["code"], error["detail"]
    up = r.json()
    mapping = mapping_for(case, up["headers"])
    if case.expect.kind == "job_refused":
        j = await client.post(
            "/api/v1/jobs",
            headers=auth,
            json={"job_type": "import", "upload_id": up["id"], "target_model": "lead", "mapping": mapping},
        )
        error = j.json() if j.status_code >= 400 else {}
        return f"201, job {j.status_code}", error.get("code", ""), error.get("detail", "")
    p = await client.post(
        f"/api/v1/uploads/{up['id']}/preview",
        headers=auth,
        json={"target_model": "lead", "mapping": mapping, "rows": 200},
    )
    doc = p.json()
    if p.status_code != 200:
        return f"201, preview {p.status_code}", doc["code"], doc["detail"]
    errors = [
        f"row {row['record_number']}: " + "; ".join(i["message"] for i in row["issues"] if i["level"] == "error")
        for row in doc["rows"]
        if not row["ok"]
    ]
    summary = f"{doc['valid_rows']} rows import"
    return "201", "row errors" if errors else "accepted", "; ".join([summary, *errors])


async def _request_row(client: httpx.AsyncClient, auth: dict[str, str], case: RequestCase) -> tuple[str, str, str]:
    from tests.integration.test_hostile_input import request_body

    content, headers = request_body(case, LIMITS["max_file_bytes"])
    r = await client.post("/api/v1/uploads", headers={**auth, **headers}, content=content)
    doc = r.json()
    if r.status_code == 201:
        return "201", "accepted", f"stored under a generated name; original_filename {doc['original_filename']!r}"
    return str(r.status_code), doc["code"], doc["detail"]


async def run(url: str, key: str) -> list[tuple[str, str, str, str, str, bool]]:
    auth = {"Authorization": f"Bearer {key}"}
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        for case in [*CASES, *REQUEST_CASES]:
            if isinstance(case, Case):
                status, kind, message = await _file_row(client, auth, case)
            else:
                status, kind, message = await _request_row(client, auth, case)
            want = case.expect
            expected = str(want.status) if want.kind == "refused" else "201"
            ok = status.startswith(expected) and (want.kind != "refused" or kind == want.error)
            out.append((case.name, case.topic, status, kind, message, ok))
        health = (await client.get("/healthz")).json()
        up = await client.post("/api/v1/uploads", headers=auth, files={"file": ("after.csv", GOOD_CSV, "text/csv")})
        out.append(
            (
                "after-all: /healthz and a normal upload",
                "service",
                str(up.status_code),
                str(health.get("status")),
                f"{up.json().get('row_estimate')} rows inspected",
                up.status_code == 201 and health == {"status": "ok"},
            )
        )
    return out


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.url:
        rows = await run(args.url, args.key)
    else:
        async with local_api() as (url, key):
            rows = await run(url, key)
    command = " ".join(["python -m bench.hostile_table", *sys.argv[1:]])
    print(
        f"Produced by `{command}` on {dt.date.today().isoformat()} in {time.monotonic() - started:.0f} s "
        f"(limits: {', '.join(f'{k}={v}' for k, v in LIMITS.items())}).\n"
    )
    print("| # | case | topic | HTTP | outcome | message (excerpt) | as expected |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, topic, status, kind, message, ok) in enumerate(rows, 1):
        print(f"| {i} | {name} | {topic} | {status} | {kind} | {_cell(message)} | {'yes' if ok else '**no**'} |")
    bad = [r[0] for r in rows if not r[5]]
    print(
        f"\n{len(rows)} rows, {len(rows) - len(bad)} as expected"
        + (f"; NOT as expected: {', '.join(bad)}" if bad else ".")
    )
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running API (default: start one in-process)")
    parser.add_argument("--key", help="an admin API key for --url")
    args = parser.parse_args()
    if bool(args.url) != bool(args.key):
        parser.error("--url and --key go together")
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
