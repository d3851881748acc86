"""JSON responses via orjson, the API's own error types, and one error body for every failure."""

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

from services.core.errors import CrmioError, InputFileError, MappingError

__all__ = [
    "OrjsonResponse",
    "Unauthorized",
    "Forbidden",
    "BadRequest",
    "Unprocessable",
    "error_body",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (UUIDs, datetimes and dataclasses natively; anything else as its text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


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


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **{k: v for k, v in extra.items() if v is not None}}}


def _crmio_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, CrmioError)
    extra: dict[str, Any] = {}
    if isinstance(exc, MappingError):
        extra["missing"] = exc.missing
    if isinstance(exc, InputFileError):
        extra.update(file=exc.file, row=exc.row, field=exc.field)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return OrjsonResponse(error_body(type(exc).__name__, str(exc) or exc.message, **extra), exc.http_status, headers)


def _validation_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
    message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['message']}" for d in details) or "invalid request"
    return OrjsonResponse(error_body("RequestValidationError", message, details=details), 422)


def _http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    return OrjsonResponse(error_body("HTTPError", str(exc.detail)), exc.status_code, getattr(exc, "headers", None))


def _kafka_error(request: Request, exc: Exception) -> OrjsonResponse:
    log.warning("Kafka error answering %s %s: %s", request.method, request.url.path, exc)
    return OrjsonResponse(error_body("TransientError", f"Kafka is not available right now ({exc}); try again"), 503)


def _data_error(request: Request, exc: Exception) -> OrjsonResponse:
    # SQLSTATE class 22 (and asyncpg's own encoding checks): a value from the request that PostgreSQL
    # cannot take, such as a NUL character in text or a number beyond bigint. The caller's to fix.
    log.warning("data error answering %s %s: %s", request.method, request.url.path, exc)
    return OrjsonResponse(error_body("InvalidValue", f"a value in the request cannot be used ({exc})"), 422)


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers {"error": {"type", "message", ...}} with the status its type names."""
    app.add_exception_handler(CrmioError, _crmio_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(KafkaError, _kafka_error)
    app.add_exception_handler(asyncpg.DataError, _data_error)
