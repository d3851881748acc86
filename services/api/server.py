"""How the API is served: uvicorn's h11 protocol with a deadline on request headers, and a cap on connections.

Uvicorn (0.55) has no header read timeout: ``timeout_keep_alive`` only runs between requests and any byte
cancels it, so a client that sends its request headers a byte every few seconds holds a connection (and a
slot of ``limit_concurrency``) for hours; a connection that sends nothing at all is never closed. An ASGI
middleware cannot help: it runs once the headers are complete. ``HeaderDeadlineProtocol`` gives every
request's headers ``request_header_timeout_s`` from the moment the connection opened, or the previous
response ended, however slowly they trickle in; then it answers 408 and closes the connection. The body's
own timeout is the Guards middleware's (``request_read_timeout_s``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from services.api.correlation import CORRELATION_HEADER, new_correlation_id
from services.api.guards import SECURITY_HEADERS
from services.api.problems import PROBLEM_MEDIA_TYPE, problem_bytes
from services.core.settings import Settings

__all__ = ["ApiServerConfig", "HeaderDeadlineProtocol", "server_config"]

log = logging.getLogger("uvicorn.error")


class ApiServerConfig(uvicorn.Config):
    """A uvicorn Config that serves with ``HeaderDeadlineProtocol`` and carries its deadline."""

    def __init__(self, app: ASGIApp, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, http=HeaderDeadlineProtocol, **kwargs)
        self.header_timeout_s = header_timeout_s


def server_config(app: ASGIApp, settings: Settings, *, host: str, port: int, log_level: str) -> ApiServerConfig:
    """The API's server: headers within ``request_header_timeout_s``, at most ``api_max_connections``
    connections and requests at once (more get uvicorn's 503)."""
    return ApiServerConfig(
        app,
        header_timeout_s=settings.request_header_timeout_s,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
        limit_concurrency=settings.api_max_connections,
        lifespan="on",
    )


def _timeout_response(timeout_s: float, cid: str) -> bytes:
    body = problem_bytes(
        408,
        "RequestTimeout",
        f"the request headers did not arrive within {timeout_s:g} s of the connection opening (or of the "
        "previous response); send each request's headers at once",
        correlation_id=cid,
    )
    head = [
        b"HTTP/1.1 408 Request Timeout",
        b"content-type: " + PROBLEM_MEDIA_TYPE.encode(),
        CORRELATION_HEADER.encode() + b": " + cid.encode(),
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *(name + b": " + value for name, value in SECURITY_HEADERS.items()),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's headers that no byte resets.

    The deadline is armed while the connection waits for a request (h11's client state IDLE): when it
    opens, and when a response ended and the next request may come. It is disarmed once a request's
    headers are parsed. When it passes, the client gets a 408 and the connection is closed.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(config, ApiServerConfig):
            raise TypeError("HeaderDeadlineProtocol needs an ApiServerConfig (services.api.server.server_config)")
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = config.header_timeout_s
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow_state()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow_state(self) -> None:
        """Armed while a request's headers are awaited; an armed deadline is kept as it is (bytes never reset it)."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._disarm()
        elif self.header_deadline is None:
            self.header_deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _expired(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        cid = new_correlation_id()  # no request was read: the 408 gets an id of its own, logged here
        log.info(
            "%s sent no complete request headers within %g s; closing the connection [correlation_id=%s]",
            client,
            self.header_timeout_s,
            cid,
        )
        if self.conn.our_state is h11.IDLE:
            self.transport.write(_timeout_response(self.header_timeout_s, cid))
        self.transport.close()
