"""The remote CLI's plain parts without a server: API errors as one-line messages, download names, the settings."""

from __future__ import annotations

import argparse

import httpx
import orjson
import pytest

from services.cli.remote import commands
from services.cli.remote.client import ApiClient
from services.cli.remote.config import RemoteSettings, remote_settings
from services.cli.remote.errors import ApiError, ApiUnreachable, api_error
from services.cli.remote.files import attachment_name
from services.core.errors import ConfigurationError

URL = "https://crmio.example.com"


def _error(status: int, body: bytes, headers: dict[str, str] | None = None) -> ApiError:
    return api_error(URL, "GET", "/api/v1/jobs", status, body, headers or {})


def _problem(status: int, code: str, detail: str, **extra: str) -> bytes:
    """A problem body as the API answers (services.api.problems)."""
    return orjson.dumps(
        {"type": f"/api/problems/{code}", "title": code, "status": status, "detail": detail, "code": code, **extra}
    )


def test_the_api_s_message_is_the_cli_s_message() -> None:
    e = _error(409, _problem(409, "JobNotCancellable", "job 1 is already completed;\n only ..."))
    assert str(e) == "job 1 is already completed; only ..." and e.status == 409 and e.kind == "JobNotCancellable"
    # The body of APIs before problem details reads the same.
    e = _error(409, b'{"error": {"type": "JobNotCancellable", "message": "job 1 is already completed;\\n only ..."}}')
    assert str(e) == "job 1 is already completed; only ..." and e.status == 409


def test_a_refused_key_names_the_setting_and_what_to_do() -> None:
    e = _error(401, _problem(401, "Unauthorized", "the API key is unknown or revoked"))
    assert str(e).startswith(f"the API at {URL} refused CRMIO_API_KEY (the API key is unknown or revoked)")
    assert "crmio keys create" in str(e)


def test_an_answer_that_is_not_crmio_s_points_at_the_url() -> None:
    assert "is CRMIO_API_URL the address" in str(_error(502, b"<html>Bad gateway</html>"))
    missing_route = _error(404, _problem(404, "HTTPError", "no route /api/v1/jobs in crmio's API"))
    assert "has no GET /api/v1/jobs" in str(missing_route)
    assert str(_error(404, _problem(404, "NotFound", "no job 7"))) == "no job 7"


def test_rate_limits_and_server_errors_say_when_and_where() -> None:
    limited = _error(429, _problem(429, "TooManyRequests", "too many requests"), {"retry-after": "2"})
    assert str(limited) == "too many requests (retry after 2 s)"
    failed = _error(503, _problem(503, "TransientError", "try again", correlation_id="c0ffee"))
    assert str(failed) == f"try again (HTTP 503 from the API at {URL}, correlation id c0ffee)"


def test_the_client_turns_transport_failures_into_one_line() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    remote = RemoteSettings(api_url=URL + "/api/v1/", api_key="k")
    with ApiClient(remote, transport=httpx.MockTransport(refuse)) as api, pytest.raises(ApiUnreachable) as got:
        api.call("GET", "/jobs")
    assert (
        str(got.value)
        == f"cannot reach the API at {URL} (Connection refused): check CRMIO_API_URL and that `crmio api` runs there"
    )


def test_the_client_sends_the_key_and_leaves_out_empty_parameters() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    with ApiClient(RemoteSettings(api_url=URL, api_key="secret"), transport=httpx.MockTransport(answer)) as api:
        assert api.call("GET", "/jobs", params={"job_type": None, "limit": 5}) == {"items": []}
    assert str(seen[0].url) == f"{URL}/api/v1/jobs?limit=5" and seen[0].headers["authorization"] == "Bearer secret"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="leads-errors.csv"', "leads-errors.csv"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ("attachment; filename=..\\..\\evil.csv", "evil.csv"),
        ('attachment; filename=".bashrc"', "fallback.csv"),
        (None, "fallback.csv"),
    ],
)
def test_a_download_is_named_by_a_bare_name_only(header: str | None, name: str) -> None:
    assert attachment_name(header, "fallback.csv") == name


def test_half_the_remote_settings_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    remote_settings.cache_clear()
    monkeypatch.setenv("CRMIO_API_URL", URL)
    monkeypatch.delenv("CRMIO_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CRMIO_API_URL is set but CRMIO_API_KEY is not"):
        remote_settings()
    remote_settings.cache_clear()
    monkeypatch.setenv("CRMIO_API_KEY", "k")
    monkeypatch.setenv("CRMIO_API_URL", "crmio.example.com")
    with pytest.raises(ConfigurationError, match="must start with http"):
        remote_settings()
    remote_settings.cache_clear()


@pytest.mark.parametrize(
    ("command", "action", "remote"),
    [
        ("import", None, True),
        ("schedules", "list", True),
        ("limits", "show", True),
        ("limits", "set", False),
        ("keys", "list", True),
        ("keys", "create", False),
        ("migrate", None, False),
        ("stack", "up", False),
        ("demo", None, False),
    ],
)
def test_which_commands_go_through_the_api(command: str, action: str | None, remote: bool) -> None:
    assert (commands.handler(argparse.Namespace(command=command, action=action)) is not None) is remote
