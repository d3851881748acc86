"""API keys: create (shown once), verify (hashed, constant-time), revoke; every key belongs to one company."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg

from services.core.errors import CrmioError

__all__ = [
    "ROLES",
    "Role",
    "ApiKey",
    "KEY_PREFIX",
    "generate_key",
    "hash_key",
    "create_key",
    "verify_key",
    "revoke_key",
]

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")
# Marks the string as a crmio key in logs and secret scanners; the 32 random bytes follow.
KEY_PREFIX = "crmio_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    company_id: str
    role: Role
    label: str | None


def generate_key() -> str:
    """A new random key: 256 bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A plain sha256 suffices: the key has 256 bits of entropy, so no salt or slow hash is needed.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_key(
    conn: asyncpg.Connection, company_id: str, role: str, label: str | None = None
) -> tuple[str, ApiKey]:
    """Store a new key's hash; returns the key (never stored, show it once) and its record."""
    if role not in ROLES:
        raise CrmioError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    try:
        company = str(uuid.UUID(str(company_id)))
    except ValueError:
        raise CrmioError(f"company must be a UUID, not {company_id!r}") from None
    key = generate_key()
    key_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO crm_api_keys (id, company_id, role, key_hash, label) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        company,
        role,
        hash_key(key),
        label,
    )
    return key, ApiKey(key_id, company, role, label)


async def verify_key(conn: asyncpg.Connection, key: str) -> ApiKey | None:
    """The live key ``key`` is, or None (unknown, revoked or malformed)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key)
    row = await conn.fetchrow(
        "SELECT id, company_id, role, label, key_hash FROM crm_api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    # The index lookup compares hashes, which leak nothing useful about the key; the constant-time
    # compare keeps the final check free of timing differences all the same.
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    return ApiKey(str(row["id"]), str(row["company_id"]), row["role"], row["label"])


async def revoke_key(conn: asyncpg.Connection, company_id: str, key_id: str) -> bool:
    """Revoke one of the company's keys; False when it has no such live key."""
    status: str = await conn.execute(
        "UPDATE crm_api_keys SET revoked_at = now() WHERE company_id = $1 AND id = $2 AND revoked_at IS NULL",
        company_id,
        key_id,
    )
    return status.endswith(" 1")
