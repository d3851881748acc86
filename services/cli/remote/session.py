"""One remote command's context: the API client, the remote settings, and the company the key belongs to."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from services.cli.remote.client import ApiClient
from services.cli.remote.config import RemoteSettings
from services.core.errors import ConfigurationError
from services.core.settings import Settings

__all__ = ["Remote", "check_company"]


@dataclass
class Remote:
    api: ApiClient
    settings: RemoteSettings
    _me: dict[str, Any] | None = field(default=None, init=False)

    def me(self) -> dict[str, Any]:
        """The calling key: its company_id, role, label and key_id (GET /api/v1/me), asked once."""
        if self._me is None:
            self._me = dict(self.api.call("GET", "/me"))
        return self._me


def check_company(remote: Remote, args: argparse.Namespace, settings: Settings) -> None:
    """The key names the company; a --company (or CRMIO_COMPANY_ID) naming another one is refused, never ignored."""
    named = getattr(args, "company", None) or settings.company_id
    if not named:
        return
    own = str(remote.me()["company_id"])
    if own != named:
        source = "--company" if getattr(args, "company", None) else "CRMIO_COMPANY_ID"
        raise ConfigurationError(
            f"CRMIO_API_KEY belongs to company {own}, not {named} ({source}): use a key of company {named}, "
            f"or leave out {source} (the key names its company)"
        )
