"""Request dependencies: the app's resources (settings, pool, producer) and the calling API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.http import Forbidden, Unauthorized
from services.core.settings import Settings
from services.jobs import keys

__all__ = ["ApiResources", "resources", "caller", "Caller", "Res", "require_admin"]


@dataclass
class ApiResources:
    settings: Settings
    pool: asyncpg.Pool  # the service role: every use scoped to the caller's company (services.core.db.tenant)
    producer: AIOKafkaProducer
    admin: AIOKafkaAdminClient
    system: asyncpg.Pool  # the owner role: API-key lookup and company-less metrics only


def resources(request: Request) -> ApiResources:
    res: ApiResources = request.app.state.resources
    return res


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer crmio_...`")


async def caller(
    res: Annotated[ApiResources, Depends(resources)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> keys.ApiKey:
    """The API key of the request; 401 without one or with an unknown or revoked one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    async with res.system.acquire() as conn:  # the key names the company: no tenant is known before it
        key = await keys.verify_key(conn, credentials.credentials)
    if key is None:
        raise Unauthorized("the API key is unknown or revoked")
    return key


Caller = Annotated[keys.ApiKey, Depends(caller)]
Res = Annotated[ApiResources, Depends(resources)]


def require_admin(key: keys.ApiKey, what: str) -> None:
    if key.role != "admin":
        raise Forbidden(f"only an admin key may {what}")
