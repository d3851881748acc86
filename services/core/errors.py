"""Error types of crmio. The type says what to do with an error; callers never match strings.

- ``retriable``: the same call may succeed later (back off and try again).
- ``http_status``: how the HTTP API answers it.
Invalid *records* are not exceptions: they are data (see ``services.cleansing.cleaning.Issue``) and are
reported per row; exceptions are for whole files, jobs, configuration and infrastructure.
"""

from __future__ import annotations

__all__ = [
    "CrmioError",
    "ConfigurationError",
    "InputFileError",
    "UnsupportedFileType",
    "FileTooLarge",
    "MappingError",
    "ValidationRulesError",
    "ValueMappingError",
    "LimitExceeded",
    "StorageQuotaExceeded",
    "JobStateError",
    "NotFound",
    "TransientError",
    "StackError",
    "CustomFieldError",
]


class CrmioError(Exception):
    """Root of crmio's errors."""

    retriable: bool = False
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(CrmioError):
    """Settings or deployment are wrong: fail at start and fix the configuration."""


class InputFileError(CrmioError):
    """A file cannot be read as declared: refuse it before a job starts; the user fixes the file.

    Names the file and, where known, the row (1-based data row, header excluded) and field.
    """

    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        offset: int | None = None,
    ) -> None:
        where = [
            p
            for p in (
                f"file {file!r}" if file else None,
                f"row {row}" if row is not None else None,
                f"field {field!r}" if field else None,
                f"byte offset {offset}" if offset is not None else None,
            )
            if p
        ]
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.file, self.row, self.field, self.offset = file, row, field, offset


class UnsupportedFileType(InputFileError):
    """The content is not the declared format (or no supported format at all)."""

    http_status = 415


class FileTooLarge(InputFileError):
    """The file exceeds the configured size or row limit."""

    http_status = 413


class MappingError(CrmioError):
    """The field mapping is unusable (required fields unmapped, unknown fields): fix the mapping."""

    http_status = 422

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class ValidationRulesError(CrmioError):
    """A job's validation_rules are malformed (unknown rule, bad regex): fix the rules."""

    http_status = 422


class CustomFieldError(CrmioError):
    """A custom field definition is refused (a taken or malformed name, an unknown type): change the definition."""

    http_status = 422


class ValueMappingError(CrmioError):
    """A job's value_mapping or unknown_values is unusable (a target not in the picklist): fix the value map."""

    http_status = 422


class LimitExceeded(CrmioError):
    """A configured limit refuses the request; the message names the limit and its value.

    413: what is over the limit is the request's content (a file's rows, bytes). 429 is kept for rate limits,
    which the client waits out (Retry-After); waiting never brings a file under a limit.
    """

    http_status = 413


class StorageQuotaExceeded(LimitExceeded):
    """Storing a file would pass the company's storage quota (max_storage_bytes).

    413, not 429 or 507: the same request cannot succeed until space is freed or the quota is raised,
    and a 5xx invites clients to retry blindly. The message says what is in use and how to free space.
    """

    http_status = 413


class JobStateError(CrmioError):
    """The job's state does not allow this (e.g. cancelling a completed job); the message says which states do."""

    http_status = 409


class NotFound(CrmioError):
    """No such object for this company (another company's objects are reported the same way)."""

    http_status = 404


class TransientError(CrmioError):
    """Infrastructure hiccup (database or broker unreachable): retry with backoff."""

    retriable = True
    http_status = 503


class StackError(CrmioError):
    """The local Kafka/PostgreSQL stack could not be started or reached; the message says why."""
