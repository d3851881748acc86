"""Which way `crmio` works: through the HTTP API (CRMIO_API_URL and CRMIO_API_KEY) or on the database and Kafka.

The remote settings are their own small frozen object: the CLI's, read once like services.core.settings.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.errors import ConfigurationError
from services.core.settings import Settings

__all__ = ["RemoteSettings", "remote_settings", "has_local_settings", "LOCAL_SETTINGS"]

# What an operator command needs set explicitly when the remote settings are set too.
LOCAL_SETTINGS = ("database_url", "system_database_url", "kafka_bootstrap")


class RemoteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMIO_", frozen=True, extra="ignore")

    # The API's address, e.g. https://crmio.example.com (a trailing /api/v1 is accepted too).
    api_url: str | None = None
    # A key of the user's company (`crmio keys create` on the deployment).
    api_key: SecretStr | None = None
    # The longest wait for one answer (an upload is inspected before it is answered), and the
    # time to connect.
    api_timeout_s: float = 600.0
    api_connect_timeout_s: float = 10.0
    # How often --wait asks for the job.
    api_poll_interval_s: float = 0.5

    def base_url(self) -> str:
        url = (self.api_url or "").strip().rstrip("/")
        return url.removesuffix("/api/v1").rstrip("/")

    def key(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""


@lru_cache(maxsize=1)
def remote_settings() -> RemoteSettings | None:
    """The remote settings when both are set; None when neither is; a ConfigurationError for one alone or a bad URL."""
    remote = RemoteSettings()
    url, key = bool(remote.api_url and remote.api_url.strip()), bool(remote.key().strip())
    if not url and not key:
        return None
    if url != key:
        have, lack = ("CRMIO_API_URL", "CRMIO_API_KEY") if url else ("CRMIO_API_KEY", "CRMIO_API_URL")
        raise ConfigurationError(
            f"{have} is set but {lack} is not: set both to work through the HTTP API, or neither to work on "
            "the database and Kafka directly"
        )
    if not remote.base_url().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"CRMIO_API_URL must start with http:// or https://, e.g. https://crmio.example.com (it is {remote.api_url!r})"
        )
    return remote


def has_local_settings(settings: Settings) -> bool:
    """Whether the environment names the database or Kafka (not only the local defaults)."""
    return bool(settings.model_fields_set & set(LOCAL_SETTINGS))
