"""Avro contracts of every event, framed the Confluent way (magic 0, 4-byte schema id, Avro body).

A static id -> schema map replaces a registry: every schema version ever written keeps its id
here forever, so any consumer can read any event; readers resolve to the latest version.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

__all__ = ["SCHEMA_IDS", "LATEST", "encode", "decode", "schema", "schema_id"]

_DIR = Path(__file__).with_name("avro")

# Never reuse or renumber an id: events on disk in Kafka refer to them.
SCHEMA_IDS: dict[int, str] = {
    1: "job_request.v1",
    2: "record_batch.v1",
    3: "import_result.v1",
    4: "job_status.v1",
    5: "job_request.v2",
}
LATEST: dict[str, int] = {}
for _id, _file in sorted(SCHEMA_IDS.items()):
    LATEST[_file.split(".v")[0]] = _id

_HEADER = struct.Struct(">bI")


@cache
def schema(schema_id: int) -> Any:
    """The parsed schema with this id (KeyError for an unknown id)."""
    with (_DIR / f"{SCHEMA_IDS[schema_id]}.avsc").open("rb") as f:
        return parse_schema(json.load(f))


def schema_id(name: str) -> int:
    """Id of the latest version of the schema called ``name`` (e.g. ``record_batch``)."""
    return LATEST[name]


def encode(name: str, record: Mapping[str, Any]) -> bytes:
    """Frame ``record`` with the latest version of schema ``name``."""
    sid = LATEST[name]
    buf = io.BytesIO()
    buf.write(_HEADER.pack(0, sid))
    schemaless_writer(buf, schema(sid), record, strict_allow_default=True)
    return buf.getvalue()


def decode(name: str, data: bytes) -> dict[str, Any]:
    """Read an event written with any known version of ``name``, resolved to the latest version."""
    magic, sid = _HEADER.unpack_from(data)
    if magic != 0 or sid not in SCHEMA_IDS:
        raise ValueError(f"not a crmio Avro event (magic {magic}, schema id {sid})")
    writer = schema(sid)
    latest = LATEST[name]
    buf = io.BytesIO(data)
    buf.seek(_HEADER.size)
    record = schemaless_reader(buf, writer) if sid == latest else schemaless_reader(buf, writer, schema(latest))
    if not isinstance(record, dict):  # every crmio schema is a record
        raise ValueError(f"{name} event of schema id {sid} is not a record")
    return record
