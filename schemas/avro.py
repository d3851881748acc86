"""Avro contracts of every event, framed the Confluent way (magic 0, 4-byte schema id, Avro body).

Without a schema registry, a static id -> schema map replaces one: every schema version ever written
keeps its id here forever, so any consumer can read any event; readers resolve to the latest version.
With one, a process installs a ``Framing`` whose ids are the registry's (services/core/schema_registry.py):
this module only holds the schemas and the codec, never the I/O.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import crmio_native
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "SCHEMA_IDS",
    "LATEST",
    "Framing",
    "STATIC",
    "encode",
    "decode",
    "schema",
    "schema_id",
    "schema_text",
    "use",
    "versions",
]

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

# The schema versions a compiled codec (native/, crmio_native) reads and writes: crm.import.records' events,
# which carry every row of every import (fastavro's per-value cost was about 5 µs a row of 12 values, encoded
# and decoded; the compiled codec's 1.2, bench/bench_avro.py). Other schemas, and events another writer schema
# framed, go through fastavro.
_NATIVE = {
    "record_batch.v1": (crmio_native.encode_record_batch, crmio_native.decode_record_batch),
}


@cache
def schema(schema_id: int) -> Any:
    """The parsed schema with this id (KeyError for an unknown id)."""
    with (_DIR / f"{SCHEMA_IDS[schema_id]}.avsc").open("rb") as f:
        return parse_schema(json.load(f))


def schema_id(name: str) -> int:
    """Id of the latest version of the schema called ``name`` (e.g. ``record_batch``)."""
    return LATEST[name]


def schema_text(schema_id: int) -> str:
    """The schema with this static id as compact JSON text, as a registry is given it."""
    with (_DIR / f"{SCHEMA_IDS[schema_id]}.avsc").open("rb") as f:
        return json.dumps(json.load(f), separators=(",", ":"))


def versions(name: str) -> list[int]:
    """Static ids of every version of schema ``name``, oldest first (the last is the latest)."""
    return [sid for sid, file in sorted(SCHEMA_IDS.items()) if file.split(".v")[0] == name]


class Framing(Protocol):
    """Which id frames the latest version of a schema, and which writer schema an id in a frame names."""

    def writer_id(self, name: str) -> int: ...

    def writer_schema(self, schema_id: int) -> Any: ...


class _StaticIds:
    def writer_id(self, name: str) -> int:
        return LATEST[name]

    def writer_schema(self, schema_id: int) -> Any:
        if schema_id not in SCHEMA_IDS:
            raise ValueError(f"not a crmio Avro event (magic 0, schema id {schema_id})")
        return schema(schema_id)


STATIC: Framing = _StaticIds()
_framing: Framing = STATIC


def use(framing: Framing) -> Framing:
    """Frame and read every event of this process with ``framing`` from now on; returns the one it replaces."""
    global _framing
    previous, _framing = _framing, framing
    return previous


def encode(name: str, record: Mapping[str, Any]) -> bytes:
    """Frame ``record`` with the latest version of schema ``name``."""
    frame = header(name)
    native = _NATIVE.get(latest_version(name))
    if native is not None and type(record) is dict:
        return native[0](record, frame)
    buf = io.BytesIO()
    buf.write(frame)
    schemaless_writer(buf, schema(LATEST[name]), record, strict_allow_default=True)
    return buf.getvalue()


def header(name: str) -> bytes:
    """The frame an event of the latest version of ``name`` starts with (magic byte, schema id)."""
    return _HEADER.pack(0, _framing.writer_id(name))


def latest_version(name: str) -> str:
    """The file name of the latest version of schema ``name`` ("record_batch.v1")."""
    return SCHEMA_IDS[LATEST[name]]


def decode(name: str, data: bytes) -> dict[str, Any]:
    """Read an event written with any version of ``name`` the framing knows, resolved to the latest version."""
    magic, sid = _HEADER.unpack_from(data)
    if magic != 0:
        raise ValueError(f"not a crmio Avro event (magic {magic}, schema id {sid})")
    writer = _framing.writer_schema(sid)
    reader = schema(LATEST[name])
    native = _NATIVE.get(latest_version(name))
    if native is not None and (writer is reader or _same(writer, reader)):
        return native[1](data, _HEADER.size)
    buf = io.BytesIO(data)
    buf.seek(_HEADER.size)
    record = schemaless_reader(buf, writer) if writer is reader else schemaless_reader(buf, writer, reader)
    if not isinstance(record, dict):  # every crmio schema is a record
        raise ValueError(f"{name} event of schema id {sid} is not a record")
    return record


def _same(writer: Any, reader: Any) -> bool:
    """A registry's copy of a schema is parsed apart from ours: the same schema when its canonical form is."""
    hit = _SAME.get(id(writer))
    if hit is None or hit[0] is not writer or hit[1] is not reader:  # held, so an id is never another's
        same = to_parsing_canonical_form(writer) == to_parsing_canonical_form(reader)
        hit = _SAME[id(writer)] = (writer, reader, same)
    return hit[2]


_SAME: dict[int, tuple[Any, Any, bool]] = {}
