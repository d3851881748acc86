"""The OpenAPI document as the API answers: FastAPI's document of the routes, with every error response a
problem (application/problem+json, services.api.problems.Problem), the errors every /api/v1 operation may
answer whatever it does (no key, a bad parameter, too many requests at once, a service away), Location on what
creating answers, and the correlation id header on every answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.api.correlation import CORRELATION_HEADER
from services.api.problems import PROBLEM_MEDIA_TYPE, Problem

__all__ = ["problems", "operation_id", "openapi_document", "install_contract"]

_DESCRIPTIONS = {
    400: "The request is malformed (not a multipart upload, no file part, a bad header)",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role may not do this",
    404: "No such object in the caller's company",
    408: "The request's body stopped arriving",
    409: "The object's state does not allow this, or the first request with this Idempotency-Key is still running",
    413: "A file or body over a limit; the problem names the limit",
    415: "The file's content is no supported format",
    422: "A parameter or body member is invalid, or names things that do not fit; `errors` names each field",
    429: "The API key holds the most requests and event streams it may hold at once; wait Retry-After seconds",
    500: "The API failed; the correlation id finds the failure in its log",
    503: "Kafka, PostgreSQL or object storage is unavailable right now; try again",
}
# What any /api/v1 operation may answer, whatever it does.
_EVERY_V1 = (401, 422, 429, 500, 503)
_WITH_BODY = (408, 413)
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def operation_id(route: APIRoute) -> str:
    """The route function's name (create_upload, get_job): what a generated client calls the operation, instead
    of FastAPI's name + path + method. Names are unique across the routes (tests/unit/test_api_contract.py)."""
    return route.name


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own error responses (``responses=``); their content is a problem, filled in by the document."""
    return {status: {"description": _DESCRIPTIONS[status]} for status in statuses}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _complete(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if path.startswith("/api/v1"):
        wanted = list(_EVERY_V1)
        if "requestBody" in operation:
            wanted += _WITH_BODY
        for status in wanted:
            responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers[CORRELATION_HEADER] = _header(
            "this request's correlation id (the caller's X-Correlation-ID or X-Request-ID, or a new one)"
        )
        if code == "422" and response.get("description") == "Validation Error":  # FastAPI's own, answered as a problem
            response.pop("content", None)
            response["description"] = _DESCRIPTIONS[422]
        if code.startswith(("4", "5")) and "content" not in response:  # /readyz's 503 documents its own body
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
        if code == "429":
            headers["Retry-After"] = {"description": "seconds to wait", "schema": {"type": "integer"}}
        if code == "401":
            headers["WWW-Authenticate"] = _header("Bearer")
        if code in ("201", "202"):
            headers["Location"] = _header("the URL to GET what was created")
        if code == "200" or code == "201":
            if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
                headers["Idempotent-Replayed"] = _header("true when this is the stored answer to a repeated request")


def openapi_document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, servers=app.servers
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, which the API never answers
        schemas.pop(name, None)
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            _complete(path, operation)
    return doc


def install_contract(app: FastAPI) -> None:
    """Serve the completed document at the app's openapi_url (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
