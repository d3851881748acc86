"""Faust codecs: crmio's Avro events (Confluent framing) as ``avro-<schema>``, and the job-progress table's values."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

from faust.serializers import codecs

from schemas import avro
from schemas.progress import decode_job_progress, encode_job_progress
from services.core.errors import TransientError

__all__ = ["Undecodable", "codec_name", "decoded", "register", "JOB_PROGRESS"]

log = logging.getLogger(__name__)

JOB_PROGRESS = "job-progress"


class Undecodable(NamedTuple):
    """An event that is not Avro of its topic's schema (another system wrote it): agents log and drop
    it. Raising instead would crash the agent, and Faust restarting a crashed agent stops what it runs."""

    schema: str
    error: str
    # Unread only because the schema registry did not answer for the event's writer schema: read again
    # (decoded) until it does, since dropping it would lose a batch to a registry's restart.
    raw: bytes = b""
    transient: bool = False


async def decoded(value: Any, *, first_delay_s: float = 0.5, max_delay_s: float = 30.0) -> Any:
    """``value`` itself, or, for an event the registry's absence left unread, the event once the registry
    answers (the agent waits, and its later events behind it: a partition's must); an Undecodable that
    is not transient stays one."""
    delay = first_delay_s
    while isinstance(value, Undecodable) and value.transient:
        log.warning(
            "an %s event waits for the schema registry: %s; reading it again in %.1f s",
            value.schema,
            value.error,
            delay,
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
        # Off the event loop: a registry lookup is synchronous HTTP, up to its timeout.
        value = await asyncio.to_thread(_loads, value.schema, value.raw)
    return value


def _loads(schema_name: str, s: bytes) -> Any:
    try:
        return avro.decode(schema_name, s)
    except TransientError as exc:
        return Undecodable(schema_name, str(exc), s, transient=True)
    except Exception as exc:  # noqa: BLE001 - any malformed input: see Undecodable
        return Undecodable(schema_name, f"{type(exc).__name__}: {exc}")


class AvroCodec(codecs.Codec):
    def __init__(self, schema_name: str, **kwargs: Any) -> None:
        super().__init__(schema_name=schema_name, **kwargs)
        self.schema_name = schema_name

    def _dumps(self, obj: Any) -> bytes:
        return avro.encode(self.schema_name, obj)

    def _loads(self, s: bytes) -> Any:
        return _loads(self.schema_name, s)


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
