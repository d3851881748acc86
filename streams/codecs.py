"""Faust codecs: crmio's Avro events (Confluent framing) as ``avro-<schema>``, and the job-progress table's values."""

from __future__ import annotations

from typing import Any, NamedTuple

from faust.serializers import codecs

from schemas import avro
from schemas.progress import decode_job_progress, encode_job_progress

__all__ = ["Undecodable", "codec_name", "register", "JOB_PROGRESS"]

JOB_PROGRESS = "job-progress"


class Undecodable(NamedTuple):
    """An event that is not Avro of its topic's schema (another system wrote it): agents log and drop
    it. Raising instead would crash the agent, and Faust restarting a crashed agent stops what it runs."""

    schema: str
    error: str


class AvroCodec(codecs.Codec):
    def __init__(self, schema_name: str, **kwargs: Any) -> None:
        super().__init__(schema_name=schema_name, **kwargs)
        self.schema_name = schema_name

    def _dumps(self, obj: Any) -> bytes:
        return avro.encode(self.schema_name, obj)

    def _loads(self, s: bytes) -> Any:
        try:
            return avro.decode(self.schema_name, s)
        except Exception as exc:  # noqa: BLE001 - any malformed input: see Undecodable
            return Undecodable(self.schema_name, f"{type(exc).__name__}: {exc}")


class JobProgressCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return encode_job_progress(obj)

    def _loads(self, s: bytes) -> Any:
        return decode_job_progress(s)


def codec_name(schema_name: str) -> str:
    return f"avro-{schema_name}"


def register() -> None:
    for name in avro.LATEST:
        codecs.register(codec_name(name), AvroCodec(name))
    codecs.register(JOB_PROGRESS, JobProgressCodec())
