"""Every statement on crm_idempotency_keys: a company's Idempotency-Keys with the first answer each one got."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

__all__ = ["StoredKey", "Answer", "reserve", "complete", "release", "take_over"]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    media_type: str | None
    location: str | None


@dataclass(frozen=True)
class StoredKey:
    """A key the company sent before: the request it came with and, once answered, its first answer."""

    method: str
    path: str
    fingerprint: str
    age_s: float
    answer: Answer | None  # None while the first request is still being answered


async def reserve(
    conn: asyncpg.Connection,
    company_id: str,
    key: str,
    *,
    method: str,
    path: str,
    fingerprint: str,
    retention_s: float,
) -> StoredKey | None:
    """Claim ``key`` for this request (None: claimed, answer it), or the key as stored before.

    The company's expired keys go first, so an expired key is claimed anew like one never sent.
    """
    cid = uuid.UUID(company_id)
    await conn.execute(
        "DELETE FROM crm_idempotency_keys WHERE company_id = $1 AND created_at < now() - make_interval(secs => $2)",
        cid,
        retention_s,
    )
    claimed = await conn.fetchval(
        "INSERT INTO crm_idempotency_keys (company_id, idempotency_key, method, path, fingerprint) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        cid,
        key,
        method,
        path,
        fingerprint,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT method, path, fingerprint, status, body, media_type, location, "
        "extract(epoch FROM now() - created_at)::float8 AS age_s "
        "FROM crm_idempotency_keys WHERE company_id = $1 AND idempotency_key = $2",
        cid,
        key,
    )
    if row is None:  # released by its first request between the two statements: claim it now
        return await reserve(
            conn, company_id, key, method=method, path=path, fingerprint=fingerprint, retention_s=retention_s
        )
    answer = None
    if row["status"] is not None:
        answer = Answer(row["status"], bytes(row["body"]), row["media_type"], row["location"])
    return StoredKey(row["method"], row["path"], row["fingerprint"], row["age_s"], answer)


async def take_over(conn: asyncpg.Connection, company_id: str, key: str, older_than_s: float) -> bool:
    """Claim a key whose first request has stayed unanswered longer than ``older_than_s`` (its process died)."""
    taken = await conn.fetchval(
        "UPDATE crm_idempotency_keys SET created_at = now() WHERE company_id = $1 AND idempotency_key = $2 "
        "AND status IS NULL AND created_at < now() - make_interval(secs => $3) RETURNING true",
        uuid.UUID(company_id),
        key,
        older_than_s,
    )
    return bool(taken)


async def complete(conn: asyncpg.Connection, company_id: str, key: str, answer: Answer) -> None:
    await conn.execute(
        "UPDATE crm_idempotency_keys SET status = $3, body = $4, media_type = $5, location = $6, "
        "completed_at = now() WHERE company_id = $1 AND idempotency_key = $2",
        uuid.UUID(company_id),
        key,
        answer.status,
        answer.body,
        answer.media_type,
        answer.location,
    )


async def release(conn: asyncpg.Connection, company_id: str, key: str) -> None:
    """Forget a claim whose request failed: nothing was created, so the same key may be sent again."""
    await conn.execute(
        "DELETE FROM crm_idempotency_keys WHERE company_id = $1 AND idempotency_key = $2 AND status IS NULL",
        uuid.UUID(company_id),
        key,
    )
