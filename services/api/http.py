"""JSON responses via orjson, the API's own error types, and one problem answer (RFC 9457) for every failure."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import orjson
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.api.correlation import CORRELATION_HEADER, correlation_id
from services.api.problems import HTTP_PROBLEM, PROBLEM_MEDIA_TYPE, problem_body
from services.core.errors import CrmioError, InputFileError, MappingError

__all__ = [
    "OrjsonResponse",
    "Unauthorized",
    "Forbidden",
    "BadRequest",
    "Unprocessable",
    "ProblemResponse",
    "created",
    "install_error_handlers",
]

# A child of uvicorn's error logger: `crmio api` configures only uvicorn's loggers, so its lines land in the API's log.
log = logging.getLogger("uvicorn.error.crmio")


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (UUIDs, datetimes and dataclasses natively; anything else as its text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def created(doc: Any, location: str, status: int = 201) -> OrjsonResponse:
    """What creating answers: the new resource's document, and the URL to GET it in Location."""
    return OrjsonResponse(doc, status, {"Location": location})


class ProblemResponse(OrjsonResponse):
    media_type = PROBLEM_MEDIA_TYPE


class Unauthorized(CrmioError):
    """No API key, or one that is unknown or revoked."""

    http_status = 401


class Forbidden(CrmioError):
    """The key's role may not do this (only ever for the caller's own company's objects)."""

    http_status = 403


class BadRequest(CrmioError):
    """The request itself is malformed (not a multipart upload, no file part)."""

    http_status = 400


class Unprocessable(CrmioError):
    """The request is well formed but names things that do not fit together (a template of another model)."""

    http_status = 422


def _answer(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> ProblemResponse:
    """The problem answer, logged with the request's correlation id so the log line and the answer meet."""
    cid = correlation_id(request)
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "%s %s answered %d %s [correlation_id=%s]: %s",
        request.method,
        request.url.path,
        status,
        code,
        cid,
        detail,
    )
    body = problem_body(status, code, detail, correlation_id=cid, instance=request.url.path, **extra)
    return ProblemResponse(body, status, {**(headers or {}), CORRELATION_HEADER: cid})


def _crmio_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, CrmioError)
    extra: dict[str, Any] = {}
    if isinstance(exc, MappingError) and exc.missing:
        extra["missing"] = exc.missing
        extra["errors"] = [
            {"field": f, "message": "no column of the file is mapped to this field"} for f in exc.missing
        ]
    if isinstance(exc, InputFileError):
        extra.update(file=exc.file, row=exc.row, field=exc.field)
        if exc.field or exc.row is not None:
            extra["errors"] = [{"field": exc.field, "row": exc.row, "message": exc.message}]
    field = getattr(exc, "field", None)  # ExportError names its field too
    if isinstance(field, str):
        extra["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return _answer(request, exc.http_status, type(exc).__name__, str(exc) or exc.message, headers, **extra)


def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    first = errors[0]["field"] if errors else None
    return _answer(request, 422, "RequestValidationError", detail, field=first, errors=errors)


def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":  # the router's: no route has this path
        detail = f"no route {request.url.path} in crmio's API; its operations are listed at /api/docs"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
        headers = {**(headers or {}), "Allow": allowed}
    return _answer(request, exc.status_code, HTTP_PROBLEM, detail, headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's Allow names the methods of the first route that matched the path only, while several routes
    # share a path (GET and POST /api/v1/jobs): each method is asked of the router instead.
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def _kafka_error(request: Request, exc: Exception) -> ProblemResponse:
    return _answer(request, 503, "TransientError", f"Kafka is not available right now ({exc}); try again")


def _data_error(request: Request, exc: Exception) -> ProblemResponse:
    # SQLSTATE class 22 (and asyncpg's own encoding checks): a value from the request that PostgreSQL
    # cannot take, such as a NUL character in text or a number beyond bigint. The caller's to fix.
    return _answer(request, 422, "InvalidValue", f"a value in the request cannot be used ({exc})")


def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    # Starlette's outermost middleware calls this, then re-raises for the server to log the traceback;
    # the line logged here carries the correlation id the client sees.
    cid = correlation_id(request)
    log.error("%s %s failed [correlation_id=%s]", request.method, request.url.path, cid, exc_info=exc)
    return _answer(
        request,
        500,
        "InternalError",
        f"the API failed to answer this request; tell the operator its correlation id {cid}, which finds the "
        "failure in the API's log",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers a problem (application/problem+json) with the status its type names."""
    app.add_exception_handler(CrmioError, _crmio_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(KafkaError, _kafka_error)
    app.add_exception_handler(asyncpg.DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
