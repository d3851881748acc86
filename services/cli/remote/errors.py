"""The API's answers as the CLI's one-line messages: its problem bodies (RFC 9457, and the `{"error": {...}}` of
APIs before them), a refused key, an unreachable URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.core.errors import CrmioError

__all__ = ["ApiError", "ApiUnreachable", "api_error", "unreachable"]


class ApiError(CrmioError):
    """The API refused or failed a request; the message is what the API said and what to do."""

    def __init__(self, message: str, status: int, kind: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


class ApiUnreachable(CrmioError):
    """No answer from CRMIO_API_URL (nothing listening, a wrong host, a timeout, TLS)."""

    retriable = True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_of(body: bytes) -> tuple[str, str, str | None] | None:
    """(message, kind, correlation id) of a crmio error body, None for anything else (a proxy's page)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("detail"), str) and isinstance(doc.get("status"), int):  # application/problem+json
        return doc["detail"], str(doc.get("code") or doc.get("title") or ""), doc.get("correlation_id")
    error: Any = doc.get("error")  # the body of crmio's API before problem details
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"], str(error.get("type") or ""), None
    return None


def api_error(base_url: str, method: str, path: str, status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The error an answer of ``status`` with ``body`` is, worded for a person at a terminal."""
    error = _error_of(body)
    if error is None:
        return ApiError(
            f"the API at {base_url} answered {method} {path} with HTTP {status} and no crmio error: "
            "is CRMIO_API_URL the address crmio's API is served at (e.g. https://crmio.example.com)?",
            status,
        )
    message, kind, correlation = _one_line(error[0]), error[1], error[2]
    if status == 401:
        return ApiError(
            f"the API at {base_url} refused CRMIO_API_KEY ({message}): set CRMIO_API_KEY to a live key of "
            "your company (an admin or operator makes one with `crmio keys create`)",
            status,
            kind,
        )
    if status == 404 and kind == "HTTPError":  # no such route: not crmio's API, or another version of it
        return ApiError(
            f"the API at {base_url} has no {method} {path}: is CRMIO_API_URL crmio's API, of a version "
            "this crmio knows?",
            status,
            kind,
        )
    if status == 429 and headers.get("retry-after"):
        return ApiError(f"{message} (retry after {headers['retry-after']} s)", status, kind)
    if status >= 500:
        # The correlation id finds the failure in the API's log: worth quoting to the operator.
        ref = f", correlation id {correlation}" if correlation else ""
        return ApiError(f"{message} (HTTP {status} from the API at {base_url}{ref})", status, kind)
    return ApiError(message, status, kind)


def unreachable(base_url: str, exc: Exception) -> ApiUnreachable:
    """What an httpx transport error means for the user."""
    import httpx

    detail = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        what = f"the API at {base_url} did not answer in time ({type(exc).__name__})"
    else:
        what = f"cannot reach the API at {base_url} ({detail})"
    return ApiUnreachable(f"{what}: check CRMIO_API_URL and that `crmio api` runs there")
