"""API keys: create (shown once), verify (hashed, constant-time), list, revoke; every key belongs to one company.

A company is never left without a live admin key by accident: revoking its last one is refused
(:class:`LastAdminKey`, a 409), under a lock on the company's admin keys so two concurrent revokes
cannot each see the other's key as the one left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from services.core.errors import CrmioError, NotFound

__all__ = [
    "ROLES",
    "Role",
    "ApiKey",
    "KeyInfo",
    "LastAdminKey",
    "KEY_PREFIX",
    "generate_key",
    "hash_key",
    "create_key",
    "verify_key",
    "revoke_key",
    "list_keys",
    "revoke_company_key",
    "key_is_live",
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


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a listing shows of a key: never its secret, nor its hash."""

    id: str
    role: Role
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked": self.revoked_at is not None,
        }


class LastAdminKey(CrmioError):
    """Revoking the company's last live admin key would lock its admins out."""

    http_status = 409


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise CrmioError(f"{what} must be a UUID, not {value!r}") from None


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


async def list_keys(conn: asyncpg.Connection, company_id: str) -> list[KeyInfo]:
    """The company's keys, live and revoked, oldest first; never a secret or a hash."""
    rows = await conn.fetch(
        "SELECT id, role, label, created_at, revoked_at FROM crm_api_keys WHERE company_id = $1 "
        "ORDER BY created_at, id",
        _uuid(company_id, "company"),
    )
    return [KeyInfo(str(r["id"]), r["role"], r["label"], r["created_at"], r["revoked_at"]) for r in rows]


async def revoke_company_key(conn: asyncpg.Connection, company_id: str, key_id: str) -> KeyInfo:
    """Revoke one of the company's keys and return it; call inside a transaction.

    NotFound when the company has no such key (another company's key included); revoking a revoked
    key is a no-op that returns it; LastAdminKey when it is the company's last live admin key.
    """
    company = _uuid(company_id, "company")
    try:
        key = str(uuid.UUID(str(key_id)))
    except ValueError:
        raise NotFound(f"no API key {key_id}") from None
    # Lock the company's live admin keys first (always in id order): two revokes of its last two admin
    # keys then run one after the other, and the second sees the first's revoke.
    admins = await conn.fetch(
        "SELECT id FROM crm_api_keys WHERE company_id = $1 AND role = 'admin' AND revoked_at IS NULL "
        "ORDER BY id FOR UPDATE",
        company,
    )
    row = await conn.fetchrow(
        "SELECT id, role, label, created_at, revoked_at FROM crm_api_keys WHERE company_id = $1 AND id = $2",
        company,
        key,
    )
    if row is None:
        raise NotFound(f"no API key {key_id}")
    if row["revoked_at"] is None:
        if row["role"] == "admin" and len(admins) <= 1:
            raise LastAdminKey(
                f"key {key} is the company's last live admin key: create another admin key first "
                "(crmio keys create --role admin), then revoke this one"
            )
        await revoke_key(conn, company, key)
        row = await conn.fetchrow("SELECT id, role, label, created_at, revoked_at FROM crm_api_keys WHERE id = $1", key)
        assert row is not None
    return KeyInfo(str(row["id"]), row["role"], row["label"], row["created_at"], row["revoked_at"])


async def key_is_live(conn: asyncpg.Connection, key_id: str) -> bool:
    """Whether the key still exists unrevoked (one primary-key lookup: cheap enough for every SSE poll)."""
    live: bool | None = await conn.fetchval(
        "SELECT revoked_at IS NULL FROM crm_api_keys WHERE id = $1", uuid.UUID(str(key_id))
    )
    return bool(live)
