"""What every HTTP response and request goes through: security headers, a JSON body limit, a body read timeout,
and a cap on the requests one API key holds at once.

ASGI middleware, so a refusal happens before a route reads or parses anything (a 45 MB JSON body
was parsed whole; a client that sends its body a byte a minute held a request open forever; one key's
hundreds of event streams held every connection of the process). The request headers' own deadline is
the server's (services/api/server.py): this middleware runs once they are complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.correlation import new_correlation_id
from services.api.problems import PROBLEM_MEDIA_TYPE, problem_bytes
from services.core.runtime import Runtime

__all__ = ["Guards", "SECURITY_HEADERS"]

log = logging.getLogger("uvicorn.error.crmio")  # as services.api.http's: the API's log


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then whatever the connection says next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


# Every response carries these unless its route set its own (the web UI's files set a CSP of their own).
SECURITY_HEADERS: dict[bytes, bytes] = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'",
}


# Seconds a client refused for holding too many requests is told to wait (a slot frees when one ends).
RETRY_AFTER_S = 1


def _with_security_headers(send: Send) -> Send:
    """A send that adds the security headers the response did not set itself."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return secured


class _Refused(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def _credential(headers: dict[bytes, bytes]) -> bytes | None:
    """A digest of the request's bearer credential (verified or not: that is services.api.deps' job)."""
    scheme, _, value = headers.get(b"authorization", b"").strip().partition(b" ")
    if scheme.lower() != b"bearer" or not value.strip():
        return None
    return hashlib.sha256(value.strip()).digest()


def _per_key_limit(scope: Scope) -> int | None:
    """The app's ``max_requests_per_key`` (from the settings its Runtime was opened with); None before its
    lifespan opened one, when no key can be verified and no route that needs one answers anyway."""
    runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
    return runtime.settings.max_requests_per_key if runtime is not None else None


class Guards:
    """Security headers on every response; JSON bodies up to ``max_json_bytes``; no body chunk waited for
    longer than ``read_timeout_s``; at most ``max_requests_per_key`` requests (event streams included, while
    open) per bearer credential at once."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, read_timeout_s: float) -> None:
        self.app, self.max_json_bytes, self.read_timeout_s = app, max_json_bytes, read_timeout_s
        self.open_per_key: Counter[bytes] = Counter()  # a key's digest -> its requests in progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = _credential(headers)
        limit = _per_key_limit(scope) if key is not None else None
        if key is None or limit is None:
            await self._guarded(scope, receive, send, headers)
            return
        if self.open_per_key[key] >= limit:
            await self._refuse(scope, _with_security_headers(send), self._too_many(limit))
            return
        self.open_per_key[key] += 1
        try:
            await self._guarded(scope, receive, send, headers)
        finally:
            self.open_per_key[key] -= 1
            if self.open_per_key[key] <= 0:
                del self.open_per_key[key]

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> None:
        is_json = headers.get(b"content-type", b"").split(b";")[0].strip().lower().endswith(b"json")
        started = False

        secured = _with_security_headers(send)

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await secured(message)

        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if is_json:
            # A JSON body is small by rule: read it whole here, bounded in size and time, then hand it on.
            if declared > self.max_json_bytes:
                await self._refuse(scope, send_with_headers, _Refused(413, "RequestTooLarge", self._too_large()))
                return
            try:
                body = await self._read_json_body(receive)
            except _Refused as refused:
                await self._refuse(scope, send_with_headers, refused)
                return
            await self.app(scope, _replay(body, receive), send_with_headers)
            return
        timed_out = body_done = False

        async def timed_receive() -> Message:
            nonlocal timed_out, body_done
            if body_done:
                # The body is read: what comes next is the client leaving, which an event stream waits
                # for as long as it is open (timing that out ended every stream after read_timeout_s).
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                timed_out = True  # the route sees the client gone and stops reading
                return {"type": "http.disconnect"}
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send_with_headers)
        if timed_out and not started:
            await self._refuse(scope, send_with_headers, self._timeout())

    async def _read_json_body(self, receive: Receive) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                raise self._timeout() from None
            if message["type"] != "http.request":
                return b"".join(parts)  # the client went away: the route sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_json_bytes:
                raise _Refused(413, "RequestTooLarge", self._too_large())
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _timeout(self) -> _Refused:
        return _Refused(
            408, "RequestTimeout", f"the request body stopped arriving for {self.read_timeout_s:g} s; send it again"
        )

    def _too_many(self, limit: int) -> _Refused:
        return _Refused(
            429,
            "TooManyRequests",
            f"this API key already has {limit} requests or event streams open, the most one key may hold at "
            "once; close an event stream you no longer watch or wait for a request to finish, then send this "
            "again (or use another key)",
            ((b"retry-after", str(RETRY_AFTER_S).encode()),),
        )

    def _too_large(self) -> str:
        return (
            f"the JSON body is larger than {self.max_json_bytes:,} bytes; send less, or upload a file "
            "(POST /api/v1/uploads) for data"
        )

    @staticmethod
    async def _refuse(scope: Scope, send: Any, refused: _Refused) -> None:
        # The correlation id of services.api.correlation, the outer middleware, which also sends it back.
        cid = str(scope.get("state", {}).get("correlation_id") or new_correlation_id())
        log.info(
            "%s %s refused %d %s [correlation_id=%s]", scope["method"], scope["path"], refused.status, refused.kind, cid
        )
        body = problem_bytes(refused.status, refused.kind, refused.message, correlation_id=cid, instance=scope["path"])
        await send(
            {
                "type": "http.response.start",
                "status": refused.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *refused.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
