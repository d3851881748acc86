"""botocore's failures as crmio's error types, each message naming the setting to check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from services.core.errors import CrmioError, NotFound
from services.core.settings import Settings
from services.core.storage.errors import StorageMisconfigured, StorageUnavailable

__all__ = ["S3Errors", "BROKEN_BODY"]

# A body that broke mid-read: the range is asked for again (range_reader), then StorageUnavailable.
BROKEN_BODY: tuple[type[BaseException], ...] = (
    OSError,
    Urllib3Error,
    IncompleteReadError,
    ResponseStreamingError,
    ReadTimeoutError,
    ConnectionClosedError,
)
_UNAVAILABLE: tuple[type[BaseException], ...] = (EndpointConnectionError, BotoCoreError, *BROKEN_BODY)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_CREDENTIALS = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


class S3Errors:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint_url or f"AWS S3 ({settings.s3_region})"

    def unavailable(self, what: str, exc: BaseException) -> StorageUnavailable:
        return StorageUnavailable(
            f"object storage at {self.endpoint} did not answer while {what} ({type(exc).__name__}: {exc}); "
            "retry later, and check CRMIO_S3_ENDPOINT_URL if it persists"
        )

    def misconfigured(self, problem: str) -> StorageMisconfigured:
        return StorageMisconfigured(f"object storage at {self.endpoint}: {problem}")

    def _client_error(self, what: str, exc: ClientError) -> CrmioError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "NoSuchBucket" or (what == "checking the bucket" and code in ("404", "NotFound")):
            return self.misconfigured(f"bucket {self.bucket!r} does not exist; create it or set CRMIO_S3_BUCKET")
        if code in _MISSING:
            return NotFound(f"no stored file while {what}")
        if code in _CREDENTIALS or status == 403:
            return self.misconfigured(
                f"access to bucket {self.bucket!r} was refused ({code or status}) while {what}; check "
                "CRMIO_S3_ACCESS_KEY_ID and CRMIO_S3_SECRET_ACCESS_KEY (and the key's rights on the bucket), "
                "and CRMIO_S3_REGION"
            )
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            return self.unavailable(what, exc)
        return self.misconfigured(
            f"{what} was refused ({code or status}: {error.get('Message', exc)}); check CRMIO_S3_ENDPOINT_URL, "
            "CRMIO_S3_BUCKET, CRMIO_S3_REGION and CRMIO_S3_PATH_STYLE"
        )

    @contextlib.contextmanager
    def translate(self, what: str) -> Iterator[None]:
        """Inside the block, botocore's errors become NotFound, StorageMisconfigured or StorageUnavailable."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(what, exc) from None
        except NoCredentialsError:
            raise self.misconfigured(
                "no credentials: set CRMIO_S3_ACCESS_KEY_ID and CRMIO_S3_SECRET_ACCESS_KEY "
                "(or the AWS_* variables or an instance role)"
            ) from None
        except ValueError as exc:  # botocore refuses a malformed endpoint URL or region as it builds the client
            raise self.misconfigured(f"{exc}; check CRMIO_S3_ENDPOINT_URL and CRMIO_S3_REGION") from None
        except _UNAVAILABLE as exc:
            raise self.unavailable(what, exc) from None
