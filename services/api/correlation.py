"""Each request's correlation id: taken from its X-Correlation-ID or X-Request-ID header (when it is a sane
token) or made up, kept in the request's scope for error answers and logs, and sent back in X-Correlation-ID."""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CORRELATION_HEADER", "CorrelationIds", "correlation_id", "new_correlation_id"]

CORRELATION_HEADER = "X-Correlation-ID"
_INCOMING = (b"x-correlation-id", b"x-request-id")
# A caller's id is echoed into headers and logs: only a short token of safe characters is taken as it is.
_SANE = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def _incoming(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    for name in _INCOMING:
        value: bytes = headers.get(name, b"").strip()
        if _SANE.fullmatch(value):
            return value.decode()
    return new_correlation_id()


def correlation_id(request: Request) -> str:
    """The request's id (one is made up for a request that did not pass the middleware)."""
    state = request.scope.setdefault("state", {})
    if "correlation_id" not in state:
        state["correlation_id"] = new_correlation_id()
    value: str = state["correlation_id"]
    return value


class CorrelationIds:
    """The outermost middleware: every answer, refusals of the other middleware included, carries the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = _incoming(scope)
        scope.setdefault("state", {})["correlation_id"] = cid
        header = (CORRELATION_HEADER.lower().encode(), cid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
