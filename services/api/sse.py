"""Server-sent events of job progress, by polling the job rows (PostgreSQL is the system of record).

Each connection polls every ``sse_poll_interval_s`` and sends an event when what a viewer sees of a
job changed: ``progress`` while it runs, ``final`` once its status is final. Polling keeps the API
stateless (any instance serves any connection, no subscription to the status topic per process);
one short indexed query per connection per interval is cheap at dashboard scale.

Each poll also checks that the caller's API key is still live (a primary-key lookup): once it is
revoked the stream sends a ``revoked`` event and ends, within one poll interval, instead of
streaming on for as long as the connection stays open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from services.core.db import tenant
from services.jobs import keys
from services.jobs import repository as jobs
from services.jobs.queries import progress_document, signature

__all__ = ["format_event", "job_stream", "company_stream", "LOOKBACK"]

# A job write commits a little after the now() it stamps into updated_at: look back this far each
# poll so a late commit is still seen (events are deduplicated by what changed, so none repeat).
LOOKBACK = dt.timedelta(seconds=5)


def format_event(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One SSE message; data is one line of JSON."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data, default=str) + b"\n\n"


def _revoked(key_id: str) -> bytes:
    return format_event("revoked", {"key_id": key_id, "message": "the API key was revoked; the stream ends"})


def _event_name(row: asyncpg.Record) -> str:
    return "final" if row["job_status"] in jobs.FINAL_STATUSES else "progress"


async def job_stream(
    pool: asyncpg.Pool,
    key_id: str,
    company_id: str,
    job_id: str,
    interval_s: float,
    keepalive_s: float,
) -> AsyncIterator[bytes]:
    """Events of one job until its status is final or the key ``key_id`` is revoked (then the stream ends)."""
    last: tuple[Any, ...] | None = None
    quiet_since = time.monotonic()
    yield b"retry: 2000\n\n"
    while True:
        # The key check shares the poll's connection and transaction: no extra pool round trip.
        async with tenant(pool, company_id) as conn:
            live = await keys.key_is_live(conn, key_id)
            row = await jobs.get_job(conn, company_id, job_id) if live else None
        if not live:
            yield _revoked(key_id)
            return
        if row is None:  # deleted by retention while watched
            yield format_event("gone", {"id": job_id})
            return
        sig = signature(row)
        if sig != last:
            last, quiet_since = sig, time.monotonic()
            yield format_event(_event_name(row), progress_document(row), str(row["updated_at"].timestamp()))
            if row["job_status"] in jobs.FINAL_STATUSES:
                return
        elif time.monotonic() - quiet_since >= keepalive_s:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"  # a comment: keeps proxies from closing an idle stream
        await asyncio.sleep(interval_s)


async def company_stream(
    pool: asyncpg.Pool, key_id: str, company_id: str, interval_s: float, keepalive_s: float
) -> AsyncIterator[bytes]:
    """Events of every job of the company that changes after the connection opened; ends only when the key
    ``key_id`` is revoked."""
    async with tenant(pool, company_id) as conn:
        cursor: dt.datetime = await conn.fetchval("SELECT now()")
    seen: dict[Any, tuple[dt.datetime, tuple[Any, ...]]] = {}
    quiet_since = time.monotonic()
    yield b"retry: 2000\n\n"
    while True:
        async with tenant(pool, company_id) as conn:
            live = await keys.key_is_live(conn, key_id)
            rows = await jobs.changed_jobs(conn, company_id, cursor - LOOKBACK) if live else []
        if not live:
            yield _revoked(key_id)
            return
        for row in rows:
            sig = signature(row)
            if seen.get(row["id"], (None, None))[1] != sig:
                seen[row["id"]] = (row["updated_at"], sig)
                quiet_since = time.monotonic()
                yield format_event(_event_name(row), progress_document(row), str(row["updated_at"].timestamp()))
            cursor = max(cursor, row["updated_at"])
        # Forget jobs that fell out of the look-back window: they are not fetched again unless they change.
        horizon = cursor - 2 * LOOKBACK
        for key in [k for k, (at, _) in seen.items() if at < horizon]:
            del seen[key]
        if time.monotonic() - quiet_since >= keepalive_s:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(interval_s)
