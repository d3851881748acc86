"""Problem details (RFC 9457): the body every error of the API answers with, its media type and its schema.

A problem's ``type`` is ``/api/problems/<code>``, a URI reference the API serves (routes_docs) with the
type's description; ``code`` is the same name alone (a crmio error type such as ``FileTooLarge``), for
clients that switch on it. Errors that are HTTP's own (no such route, method not allowed) are
``about:blank`` with the status phrase as their title, as RFC 9457 asks.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from services.core.errors import CrmioError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemError",
    "problem_body",
    "problem_bytes",
    "problem_type",
    "known_problems",
    "HTTP_PROBLEM",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
HTTP_PROBLEM = "HTTPError"  # the code of HTTP's own errors (type about:blank)
_TYPE_PREFIX = "/api/problems/"


class ProblemError(BaseModel):
    """One thing wrong with the request: the field (a body path such as ``body.target_model``, a file's
    field), the file's row where there is one, and what is wrong."""

    model_config = ConfigDict(extra="allow")
    field: str | None = None
    row: int | None = None
    message: str


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details, ``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="what kind of problem: /api/problems/<code> (GET it for its description)")
    title: str = Field(description="a short summary of the problem type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what is wrong in this request and what to do about it")
    instance: str | None = Field(None, description="the request path")
    code: str = Field(description="the problem type's name, e.g. FileTooLarge, MappingError, NotFound")
    correlation_id: str = Field(description="this request's id: in the X-Correlation-ID header and the API's logs")
    field: str | None = Field(None, description="the field at fault, when one is")
    row: int | None = Field(None, description="the file's data row at fault (1-based, header excluded)")
    file: str | None = Field(None, description="the file at fault")
    missing: list[str] | None = Field(None, description="MappingError: required fields no column is mapped to")
    errors: list[ProblemError] | None = Field(None, description="every field at fault, when there are several")


def problem_type(code: str) -> str:
    return "about:blank" if code == HTTP_PROBLEM else _TYPE_PREFIX + code


def _title(code: str, status: int) -> str:
    if code == HTTP_PROBLEM:
        return _phrase(status)
    known = known_problems().get(code)
    return known["title"] if known else _phrase(status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def problem_body(
    status: int, code: str, detail: str, *, correlation_id: str, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """The problem document; extension members that are None are left out."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": _title(code, status),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "correlation_id": correlation_id,
    }
    body.update(extensions)
    return {k: v for k, v in body.items() if v is not None}


def problem_bytes(status: int, code: str, detail: str, *, correlation_id: str, **extensions: Any) -> bytes:
    return orjson.dumps(problem_body(status, code, detail, correlation_id=correlation_id, **extensions), default=str)


def _subclasses(cls: type[CrmioError]) -> list[type[CrmioError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


_EXTRA: dict[str, tuple[int, str]] = {
    "RequestValidationError": (422, "The request's parameters or JSON body do not fit the operation's schema."),
    "InvalidValue": (422, "A value in the request cannot be stored (a NUL character, a number beyond its type)."),
    "RequestTooLarge": (413, "The JSON body is larger than the API takes."),
    "RequestTimeout": (408, "The request's headers or body stopped arriving."),
    "TooManyRequests": (429, "The API key holds the most requests and event streams it may hold at once."),
    "InternalError": (500, "The API failed to answer; the correlation id finds the failure in its logs."),
}


def known_problems() -> dict[str, dict[str, Any]]:
    """Every problem code the API answers with: its title and usual status (what /api/problems/<code> serves)."""
    found: dict[str, dict[str, Any]] = {}
    for cls in _subclasses(CrmioError):
        if cls.http_status >= 400 and cls.__module__.startswith("services") and ".cli." not in cls.__module__:
            doc = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())  # its first paragraph
            found[cls.__name__] = {"title": doc, "status": cls.http_status}
    for code, (status, title) in _EXTRA.items():
        found[code] = {"title": title, "status": status}
    return found
