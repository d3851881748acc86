"""PostgreSQL access: the asyncpg pool, JSON codecs, transient-error classification, migrations."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import orjson
from crmio_native import CopyEncoder

import schemas
from services.core.errors import NotFound, StackError, TransientError

__all__ = [
    "connect_pool",
    "tenant",
    "set_tenant",
    "copy_rows",
    "MappedRows",
    "migrate",
    "is_transient",
    "with_retry",
    "json_dumps",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(schemas.__file__).with_name("migrations")

# Serials of failures that go away by themselves: lost connection, server restarting,
# serialization failure / deadlock (retry the transaction), too many connections.
_TRANSIENT_SQLSTATES = {
    "40001",
    "40P01",
    "53300",
    "57P01",
    "57P02",
    "57P03",
    "08000",
    "08003",
    "08006",
    "08001",
    "08004",
}


def json_dumps(value: Any) -> str:
    # Decimal and other non-JSON types are stored as their text form.
    return orjson.dumps(value, default=str).decode()


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value, default=str)  # jsonb binary format: version byte 1, then the text


def _jsonb_decode(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary codecs, so that COPY (copy_records_to_table) can carry jsonb too.
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=json_dumps, decoder=orjson.loads, schema="pg_catalog")


async def set_tenant(conn: asyncpg.Connection, company_id: Any) -> None:
    """Scope the current transaction to one company: row-level security (migration 006) then shows
    and accepts only its rows. A bound parameter, local to the transaction."""
    try:
        company = str(uuid.UUID(str(company_id)))
    except ValueError:
        raise NotFound(f"{company_id!r} is not a company id (a UUID)") from None
    await conn.execute("SELECT set_config('crmio.company_id', $1, true)", company)


@asynccontextmanager
async def tenant(pool: asyncpg.Pool, company_id: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction scoped to ``company_id``: every tenant read and write goes through one."""
    async with pool.acquire() as conn, conn.transaction():
        await set_tenant(conn, company_id)
        yield conn


@dataclass(frozen=True, slots=True)
class MappedRows:
    """Rows a caller holds as dicts (a plan's records), for copy_rows: row i is ``ids[i]``, then ``constant``'s
    values, then ``values[i].get(name)`` for each of ``names``, then ``extra[i]``'s values (when given)."""

    ids: list[Any]
    constant: tuple[Any, ...]
    values: list[dict[str, Any]]
    names: list[str]
    extra: list[tuple[Any, ...]] | None = None

    def tuples(self) -> list[Sequence[Any]]:
        extra = self.extra if self.extra is not None else [()] * len(self.ids)
        return [
            (i, *self.constant, *[v.get(n) for n in self.names], *e) for i, v, e in zip(self.ids, self.values, extra)
        ]


async def copy_rows(
    conn: asyncpg.Connection,
    table: str,
    *,
    columns: Sequence[str],
    records: Iterable[Sequence[Any]] | MappedRows,
) -> None:
    """COPY rows into a tenant table inside a transaction.

    PostgreSQL refuses COPY FROM into a table under row-level security, so the rows are copied
    into the connection's temporary table of the same shape (emptied at commit), then inserted with one
    statement, which the table's policy checks row by row. Binary COPY stays the transport: several times
    faster than INSERT ... VALUES for large batches. The compiled writer (native/src/copy.rs) writes its bytes
    when it can take every value as it is; otherwise asyncpg encodes the rows, as it always did.
    """
    stage = f"crmio_stage_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    encoder = await _copy_encoder(conn, table, tuple(columns))
    payload: bytes | None = None
    rows: list[Sequence[Any]]
    if isinstance(records, MappedRows):
        if encoder is not None:
            payload = encoder.encode_mapped(records.ids, records.constant, records.values, records.names, records.extra)
        rows = records.tuples() if payload is None else []
    else:
        rows = records if isinstance(records, list) else list(records)
        payload = encoder.encode(rows) if encoder is not None else None
    if payload is None:
        await conn.copy_records_to_table(stage, columns=list(columns), records=rows)
    else:
        # A memoryview, as bytes would be taken for a file's path.
        await conn.copy_to_table(stage, source=memoryview(payload), columns=list(columns), format="binary")
    cols = ", ".join(columns)
    await conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}; DELETE FROM {stage}")


# (table, columns) -> the compiled writer of their types, or None when one has none. A table's column types change
# only by a migration, which the workers of a deployment are restarted for.
_ENCODERS: dict[tuple[str, tuple[str, ...]], CopyEncoder | None] = {}


async def _copy_encoder(conn: asyncpg.Connection, table: str, columns: tuple[str, ...]) -> CopyEncoder | None:
    key = (table, columns)
    if key not in _ENCODERS:
        types = dict(
            await conn.fetch(
                "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                table,
            )
        )
        try:
            _ENCODERS[key] = CopyEncoder([types[c] for c in columns], _jsonb_encode)
        except (KeyError, ValueError):  # a column it has no writer for: asyncpg's COPY, which knows them all
            _ENCODERS[key] = None
    return _ENCODERS[key]


async def connect_pool(dsn: str, *, min_size: int = 1, max_size: int = 4, timeout_s: float = 30.0) -> asyncpg.Pool:
    """Open a pool, retrying while the server starts; StackError names the DSN's host when it never answers."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                host = dsn.rsplit("@", 1)[-1]
                raise StackError(
                    f"PostgreSQL at {host} is not reachable ({exc}); start it with `crmio stack up` "
                    "or set CRMIO_DATABASE_URL"
                ) from exc
            await asyncio.sleep(0.5)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same transaction later may succeed."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES


async def with_retry(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    max_delay_s: float = 5.0,
    give_up_after_s: float | None = None,
) -> T:
    """Run ``op`` until it succeeds, backing off on transient errors; other errors propagate."""
    delay = 0.1
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            return await op()
        except Exception as exc:  # noqa: BLE001 - classified right below
            if not is_transient(exc):
                raise
            if give_up_after_s is not None and loop.time() - started > give_up_after_s:
                raise TransientError(f"{what}: still failing after {give_up_after_s:.0f} s: {exc}") from exc
            log.warning("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)


def _migration_files() -> list[tuple[str, str]]:
    files = sorted(MIGRATIONS.glob("*.sql"))
    return [(p.stem, p.read_text(encoding="utf-8")) for p in files]


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply pending SQL migrations in order, each in its own transaction; returns those applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        # One migrator at a time, whichever process (workers and API may start together).
        await conn.execute("SELECT pg_advisory_lock(727274)")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS crmio_schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM crmio_schema_migrations")}
            for version, sql in _migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO crmio_schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
                log.info("applied migration %s", version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(727274)")
    return applied
