"""The HTTP client of the remote CLI: the key on every request, JSON in and out, files up and down, errors as messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from services.cli.remote.config import RemoteSettings
from services.cli.remote.errors import ApiError, api_error, unreachable
from services.cli.remote.files import attachment_name, target_path, write_whole

__all__ = ["ApiClient"]

API = "/api/v1"


class ApiClient:
    """One connection to CRMIO_API_URL for one command; ``call`` answers JSON, ``download`` writes a file."""

    def __init__(self, remote: RemoteSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = remote.base_url()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {remote.key()}", "User-Agent": "crmio-cli"},
            timeout=httpx.Timeout(remote.api_timeout_s, connect=remote.api_connect_timeout_s),
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """``method`` ``/api/v1{path}``; the answer's JSON (None for 204), or the API's error as an ApiError."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, API + path, params=query, json=json, files=files, data=data)
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None
        if response.status_code >= 400:
            raise api_error(self.base_url, method, API + path, response.status_code, response.content, response.headers)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"the API at {self.base_url} answered {method} {API + path} with no JSON: is CRMIO_API_URL crmio's API?",
                response.status_code,
            ) from None

    def download(
        self, path: str, *, params: Mapping[str, Any] | None = None, output: str | None, fallback: str
    ) -> Path:
        """GET ``/api/v1{path}`` into --output or the working directory under the name the API proposes."""
        try:
            with self._http.stream("GET", API + path, params=params) as response:
                if response.status_code >= 400:
                    body = response.read()
                    raise api_error(self.base_url, "GET", API + path, response.status_code, body, response.headers)
                target = target_path(output, attachment_name(response.headers.get("content-disposition"), fallback))
                write_whole(target, response.iter_bytes())
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None
        return target
