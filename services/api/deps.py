"""Request dependencies: the app's Runtime (settings, pools, Kafka clients) and the calling API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.http import Forbidden, Unauthorized
from services.core import logs
from services.core.runtime import Runtime
from services.jobs import keys

__all__ = ["resources", "caller", "Caller", "Res", "require_admin"]


def resources(request: Request) -> Runtime:
    res: Runtime = request.app.state.runtime
    return res


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer crmio_...`")


async def caller(
    res: Annotated[Runtime, Depends(resources)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> keys.ApiKey:
    """The API key of the request; 401 without one or with an unknown or revoked one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    async with res.system.acquire() as conn:  # the key names the company: no tenant is known before it
        key = await keys.verify_key(conn, credentials.credentials)
    if key is None:
        raise Unauthorized("the API key is unknown or revoked")
    logs.bind(company_id=key.company_id)  # the request's log lines (CRMIO_LOG_FORMAT=json) name its company
    return key


Caller = Annotated[keys.ApiKey, Depends(caller)]
Res = Annotated[Runtime, Depends(resources)]


def require_admin(key: keys.ApiKey, what: str) -> None:
    if key.role != "admin":
        raise Forbidden(f"only an admin key may {what}")
