"""Structured logs: with ``log_format`` "json" every log line is one JSON object carrying the job, company and
partition the work is about, read from context variables that the worker's agents and job runs and the API's
key check set (``log_context``). Plain stdlib logging: only the formatter changes."""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

from services.core.settings import Settings

__all__ = ["JsonFormatter", "log_context", "unbound", "bind", "logging_config", "configure"]

# Context variables follow asyncio tasks: a job's background run and each lane's apply task see the values set
# where they were created, and a value set inside one task never leaks into another.
_FIELDS: dict[str, ContextVar[Any]] = {
    "job_id": ContextVar("crmio_job_id", default=None),
    "company_id": ContextVar("crmio_company_id", default=None),
    "partition": ContextVar("crmio_partition", default=None),
}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Log lines inside the block carry these fields (job_id, company_id, partition); None leaves a field as is."""
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in fields.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextmanager
def unbound() -> Iterator[None]:
    """Log lines inside the block carry none of the fields: work for many jobs started while handling one."""
    tokens = [(var, var.set(None)) for var in _FIELDS.values()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**fields: Any) -> None:
    """Sets fields for the rest of the current asyncio task (an API request's: each runs in a task of its own)."""
    for name, value in fields.items():
        _FIELDS[name].set(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the context's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _FIELDS.items():
            value = var.get()
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=str).decode()


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """A dictConfig for ``log_format`` json (stderr, the worker's log level); None keeps each program's own."""
    if settings.log_format != "json":
        return None
    level = settings.worker_log_level.upper()
    return {
        "version": 1,
        # Module loggers exist before this runs (logging.getLogger at import): they must keep logging.
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"}},
        "root": {"level": level, "handlers": ["json"]},
        # uvicorn's own loggers keep their names but go through the root's JSON handler.
        "loggers": {
            name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(settings: Settings) -> bool:
    """Installs the JSON logging of ``settings`` (the API; Faust takes ``logging_config`` itself); False for text."""
    config = logging_config(settings)
    if config is None:
        return False
    logging.config.dictConfig(config)
    return True
