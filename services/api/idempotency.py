"""Idempotency-Key on the API's creating POSTs (uploads, jobs, retries, rollbacks, templates, schedules, custom
fields, picklist values).

A request with an ``Idempotency-Key`` header claims the key for its company before it does anything. A repeat
of the same request (same method, path and body: a JSON body by its content, an upload by its file's bytes,
name and form fields) with the same key answers the first answer again, status, body and Location, marked
``Idempotent-Replayed: true``, and creates nothing. The same key with another request is refused (422); a repeat
while the first is still being answered gets a 409 (send it again once that one ended). A request that failed
gives its key back, so a client may send it again with the same key. Keys last ``idempotency_key_retention_s``.
A first request whose process died before it answered leaves its key claimed for ``idempotency_in_progress_s``,
after which a repeat takes it over and runs the request again: whatever the dead process created before dying
stays (it was never answered, so the client knows nothing of it).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Header, Request
from starlette.responses import Response

from services.core.db import tenant
from services.core.errors import CrmioError
from services.core.runtime import Runtime
from services.jobs import idempotency_repository as repo

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "IdempotencyKey",
    "IdempotencyKeyReused",
    "IdempotencyKeyInUse",
    "once",
    "json_fingerprint",
    "upload_fingerprint",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=r"^[\x21-\x7e]{1,255}$",  # visible ASCII: a UUID, a ULID, a client's own token
        description="a key of your own (e.g. a UUID) for this request: the same key with the same request answers "
        "the first answer again and creates nothing; with another request it is refused (422). Kept "
        "idempotency_key_retention_s (24 h) per company.",
    ),
]
_CHUNK = 1024 * 1024

log = logging.getLogger("uvicorn.error.crmio")  # as services.api.http's: the API's log


class IdempotencyKeyReused(CrmioError):
    """The Idempotency-Key was sent before with another request: a new request needs a new key."""

    http_status = 422


class IdempotencyKeyInUse(CrmioError):
    """The first request with this Idempotency-Key is still being answered: send the repeat once it ended."""

    http_status = 409


def json_fingerprint(doc: Any) -> str:
    """A JSON body by its content: key order and spacing do not make another request."""
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def upload_fingerprint(path: Path, filename: str, fields: Mapping[str, str]) -> str:
    """An upload by its file's bytes, name and form fields (a repeat's multipart boundary differs). Blocking."""
    digest = hashlib.sha256(orjson.dumps({"filename": filename, "fields": dict(fields)}, option=orjson.OPT_SORT_KEYS))
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _replay(answer: repo.Answer) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if answer.location:
        headers["Location"] = answer.location
    return Response(answer.body, answer.status, headers, media_type=answer.media_type)


async def once(
    request: Request,
    res: Runtime,
    company_id: str,
    key: str | None,
    fingerprint: Callable[[], Awaitable[str]],
    answer: Callable[[], Awaitable[Response]],
) -> Response:
    """``answer()``, at most once per Idempotency-Key of the company (every time without the header)."""
    if key is None:
        return await answer()
    settings = res.settings
    method, path, print_ = request.method, request.url.path, await fingerprint()
    async with tenant(res.pool, company_id) as conn:
        stored = await repo.reserve(
            conn,
            company_id,
            key,
            method=method,
            path=path,
            fingerprint=print_,
            retention_s=settings.idempotency_key_retention_s,
        )
        if stored is not None:
            if (stored.method, stored.path, stored.fingerprint) != (method, path, print_):
                raise IdempotencyKeyReused(
                    f"the {IDEMPOTENCY_HEADER} {key!r} was sent {stored.age_s:,.0f} s ago with another request "
                    f"({stored.method} {stored.path}{' with another body' if stored.path == path else ''}); "
                    "send a new key for a new request"
                )
            if stored.answer is not None:
                return _replay(stored.answer)
            if not await repo.take_over(conn, company_id, key, settings.idempotency_in_progress_s):
                raise IdempotencyKeyInUse(
                    f"the first request with the {IDEMPOTENCY_HEADER} {key!r} is still being answered (sent "
                    f"{stored.age_s:,.0f} s ago); send this again once it has ended, to get its answer"
                )
    try:
        response = await answer()
    except BaseException:
        with contextlib.suppress(Exception):  # the key stays claimed until it expires if this fails too
            async with tenant(res.pool, company_id) as conn:
                await repo.release(conn, company_id, key)
        raise
    stored_answer = repo.Answer(
        response.status_code, bytes(response.body), response.media_type, response.headers.get("location")
    )
    try:
        async with tenant(res.pool, company_id) as conn:
            await repo.complete(conn, company_id, key, stored_answer)
    except Exception as exc:  # noqa: BLE001 - what was created stands, and the client gets its answer
        log.warning(
            "%s %s: the answer for Idempotency-Key %r was not stored (%s); a repeat is refused (409) for "
            "idempotency_in_progress_s, then runs again",
            method,
            path,
            key,
            exc,
        )
    return response
