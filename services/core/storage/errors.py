"""Storage's error types: the type says what to do (retry later, or fix the setting the message names)."""

from __future__ import annotations

from services.core.errors import ConfigurationError, TransientError

__all__ = ["StorageUnavailable", "StorageMisconfigured"]


class StorageUnavailable(TransientError):
    """Object storage did not answer, or answered with a server error: retry later. The message names the
    endpoint and its setting (CRMIO_S3_ENDPOINT_URL), in case it is wrong rather than down."""


class StorageMisconfigured(ConfigurationError):
    """Object storage refuses crmio's settings (no such bucket, refused credentials, a malformed endpoint):
    fix the setting the message names, then start again."""
