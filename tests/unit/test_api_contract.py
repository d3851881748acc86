"""The OpenAPI document the API serves, read without a server: every response of every route has a schema, every
error response is a problem (application/problem+json), creating POSTs take an Idempotency-Key and answer
Location, downloads and event streams name their media types."""

from __future__ import annotations

from typing import Any

import pytest

from services.api import create_app
from services.core.settings import Settings

# The POSTs that create something: an Idempotency-Key, and Location on their 201 (202 for a rollback).
CREATING = {
    "/api/v1/uploads": "201",
    "/api/v1/jobs": "201",
    "/api/v1/jobs/{job_id}/retry": "201",
    "/api/v1/jobs/{job_id}/rollback": "202",
    "/api/v1/templates": "201",
    "/api/v1/schedules": "201",
    "/api/v1/fields": "201",
    "/api/v1/picklists/{picklist}/values": "201",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings()).openapi()
    return doc


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_response_of_every_route_has_a_schema(document: dict[str, Any]) -> None:
    missing = [
        (method, path, code)
        for path, method, op in _operations(document)
        for code, response in op["responses"].items()
        if code != "204"  # No Content
        and not (response.get("content") and all(media.get("schema") for media in response["content"].values()))
    ]
    assert missing == [], missing
    assert len(document["paths"]) >= 35


def test_operation_ids_are_the_route_functions_names_and_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert document["paths"]["/api/v1/uploads"]["post"]["operationId"] == "create_upload"


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"type", "title", "status", "detail", "code", "correlation_id"} <= set(schemas["Problem"]["required"])
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 body, which the API never answers
    for path, method, op in _operations(document):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")) and not (path == "/readyz" and code == "503"):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, code)
            assert "X-Correlation-ID" in response["headers"], (method, path, code)
        if path.startswith("/api/v1"):
            assert {"401", "422", "429", "500", "503"} <= set(op["responses"]), (method, path)
            assert "Retry-After" in op["responses"]["429"]["headers"]


def test_creating_posts_take_an_idempotency_key_and_answer_location(document: dict[str, Any]) -> None:
    for path, status in CREATING.items():
        op = document["paths"][path]["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"]), path
        assert "Location" in op["responses"][status]["headers"], path
    creating_posts = {
        path for path, method, op in _operations(document) if method == "post" and {"201", "202"} & set(op["responses"])
    }
    assert creating_posts == set(CREATING)
    assert "/api/v1/fields/{field_id}" in document["paths"]  # where a new field's Location points


def test_downloads_and_event_streams_name_their_media_types(document: dict[str, Any]) -> None:
    def media(path: str) -> set[str]:
        return set(document["paths"][path]["get"]["responses"]["200"]["content"])

    assert media("/api/v1/jobs/{job_id}/download") == {
        "text/csv",
        "application/json",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert media("/api/v1/jobs/{job_id}/results") == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert media("/api/v1/jobs/{job_id}/errors.csv") == {"text/csv"}
    assert media("/api/v1/jobs/{job_id}/events") == media("/api/v1/events") == {"text/event-stream"}
    assert media("/metrics") == {"text/plain"}
    upload = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["file"] == {"type": "string", "format": "binary"}
