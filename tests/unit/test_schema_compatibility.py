"""Every schema in schemas/avro stays FULL_TRANSITIVE compatible: each version reads every other, both ways.

Checked twice: structurally over every path of the schemas (schemas/compatibility.py), and by writing
generated records with one version and reading them with another through fastavro.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas import avro
from schemas.compatibility import full_transitive, incompatibilities

VERSIONS = {name: avro.versions(name) for name in sorted(avro.LATEST)}


def _json(schema_id: int) -> Any:
    return json.loads(avro.schema_text(schema_id))


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_every_version_reads_every_other_structurally(name: str) -> None:
    assert full_transitive([_json(sid) for sid in VERSIONS[name]]) == []


@pytest.mark.parametrize(
    ("name", "writer", "reader"),
    [(name, w, r) for name, ids in sorted(VERSIONS.items()) for w in ids for r in ids],
)
def test_records_written_with_one_version_read_with_another(name: str, writer: int, reader: int) -> None:
    random.seed(f"{name}-{writer}")  # generate_many draws from random: the same records every run
    wschema, rschema = avro.schema(writer), avro.schema(reader)
    for record in generate_many(wschema, 200):
        buf = io.BytesIO()
        schemaless_writer(buf, wschema, record)
        buf.seek(0)
        read = schemaless_reader(buf, wschema, rschema)
        buf.seek(0)
        as_written = schemaless_reader(buf, wschema)  # logical types (timestamps) converted alike
        assert isinstance(read, dict) and isinstance(as_written, dict)
        assert set(read) == {f["name"] for f in rschema["fields"]}
        for key in set(read) & set(as_written):  # what both versions hold reads back as written
            symbols = _enum_symbols(rschema, key)
            if symbols is not None and as_written[key] not in symbols:
                assert read[key] == _enum_default(rschema, key), key  # a symbol the reader lacks
            else:
                assert read[key] == as_written[key], key


def _enum_type(schema: Any, field: str) -> Any:
    kind = next(f["type"] for f in schema["fields"] if f["name"] == field)
    return kind if isinstance(kind, dict) and kind.get("type") == "enum" else None


def _enum_symbols(schema: Any, field: str) -> list[str] | None:
    kind = _enum_type(schema, field)
    return None if kind is None else list(kind["symbols"])


def _enum_default(schema: Any, field: str) -> str:
    return str(_enum_type(schema, field)["default"])


def test_a_rollback_request_reads_as_its_job_type_default_on_a_v1_reader() -> None:
    v1, v2 = avro.versions("job_request")
    request = {
        "job_id": "j",
        "company_id": "c",
        "job_type": "rollback",
        "target_model": "lead",
        "file_format": "csv",
        "file_path": "f",
        "requested_at": 0,
        "admitted": True,
    }
    buf = io.BytesIO()
    schemaless_writer(buf, avro.schema(v2), request)
    buf.seek(0)
    read = schemaless_reader(buf, avro.schema(v2), avro.schema(v1))
    assert isinstance(read, dict) and read["job_type"] == "import" and "admitted" not in read


ENUM = {"type": "enum", "name": "Kind", "symbols": ["a", "b"]}


def _record(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "namespace": "io.crmio.test", "fields": list(fields)}


@pytest.mark.parametrize(
    ("reader", "writer", "problem"),
    [
        (_record({"name": "k", "type": ENUM}), _record({"name": "k", "type": {**ENUM, "symbols": ["a", "b", "c"]}}),
         "lacks ['c'] and has no default"),
        (_record({"name": "x", "type": "string"}), _record(), "x: the reader's field has no default"),
        (_record({"name": "x", "type": "int"}), _record({"name": "x", "type": "long"}), "long cannot be read as int"),
        (_record({"name": "x", "type": "string"}), _record({"name": "x", "type": ["null", "string"]}),
         "null cannot be read as string"),
        (_record({"name": "x", "type": {"type": "array", "items": "string"}}),
         _record({"name": "x", "type": {"type": "array", "items": "long"}}), "x[]: the writer's long"),
        ({**_record(), "name": "Other"}, _record(), "is not the reader's io.crmio.test.Other"),
    ],
)  # fmt: skip
def test_the_check_names_what_breaks(reader: Any, writer: Any, problem: str) -> None:
    found = incompatibilities(reader, writer)
    assert any(problem in p for p in found), found
    parse_schema(reader), parse_schema(writer)  # both are valid schemas: the check, not the parser, refuses


def test_what_resolution_allows_passes() -> None:
    writer = _record({"name": "n", "type": "int"}, {"name": "k", "type": {**ENUM, "symbols": ["a", "b", "c"]}})
    reader = _record(
        {"name": "n", "type": ["null", "double"]},
        {"name": "k", "type": {**ENUM, "default": "a"}},
        {"name": "added", "type": "string", "default": ""},
    )
    assert incompatibilities(reader, writer) == []
