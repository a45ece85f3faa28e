"""Async engines and sessions bound to one service's schema, and per-transaction tenant scoping."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cxm_common.settings import normalise_database_url

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def json_rows(rows: Iterable[Any]) -> str:
    """Rows (or single values) as one JSON array, for a `jsonb_array_elements($n::jsonb)` parameter.

    Bulk statements take their rows this way rather than as one array parameter per column: asyncpg checks every
    element of an array parameter in Python, and that cost the consumers more than the statements themselves.
    Naive datetimes are written as UTC; non-finite floats become `null`.
    """
    return orjson.dumps(
        rows if isinstance(rows, list) else list(rows), default=_json_default, option=orjson.OPT_NAIVE_UTC
    ).decode()


def _json_default(value: Any) -> str:
    # orjson writes `uuid.UUID` itself but not its subclasses, such as the uuids asyncpg returns.
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def check_schema(schema: str) -> str:
    """Return `schema` if it is a safe unquoted Postgres identifier, else raise ValueError."""
    if not SCHEMA_RE.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


def create_engine(
    url: str,
    schema: str,
    *,
    application_name: str = "cxm",
    pool_size: int = 10,
    max_overflow: int = 5,
    pool_timeout: float = 5.0,
) -> AsyncEngine:
    """Create an asyncpg engine whose connections resolve unqualified names in `schema` only."""
    check_schema(schema)
    engine = create_async_engine(
        normalise_database_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # No pre-ping: it costs a round trip on every checkout. A connection broken by a database restart raises
        # a transient error at most once (answered 503 / retried by consumers) and the pool replaces it.
        pool_recycle=1800,
        connect_args={
            "server_settings": {"search_path": schema, "application_name": application_name},
            "timeout": 5,
            "command_timeout": 60,
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # The kit runs most statements on the driver directly, past SQLAlchemy's disconnect handling: a connection the
    # server dropped (a restart) would go back to the pool and fail every transaction it is lent to. asyncpg knows
    # locally that its socket closed, so the check costs no round trip; the pool replaces the connection.
    if dbapi_connection._connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside the same transaction (begun if SQLAlchemy has not yet).

    The kit's hot statements (append, inbox claim, relay) run on it directly: SQLAlchemy's execution path costs
    more CPU per statement than the statement itself.
    """
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if conn.in_transaction() and adapted._transaction is None and adapted.isolation_level != "autocommit":
        # SQLAlchemy begins lazily, on its first statement; begin now so the driver's statement is inside.
        try:
            await adapted._start_transaction()
        except Exception as exc:
            if is_transient_db_error(exc):
                await conn.invalidate()  # dropped by the server: the pool must not lend it again
            raise
    return adapted._connection  # type: ignore[no-any-return]


async def lock_ids(conn: AsyncConnection, ids: Iterable[uuid.UUID], *, shared: bool = False, scope: str = "") -> None:
    """Take a transaction-scoped advisory lock per id, in sorted order; shared holders never wait for each other.

    Without a `scope` the locks are the ones every service takes on a customer for erasure (`crypto`): services may
    share a database, so a service that needs exclusive locks of its own names a scope instead.
    """
    wanted = sorted(set(ids))
    if wanted:
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await (await driver(conn)).execute(
            f"SELECT {function}(hashtextextended($2 || id::text, 0)) FROM unnest($1::uuid[]) AS t(id) ORDER BY id",
            wanted, scope,
        )  # fmt: skip


ALL_TENANTS = "*"


async def set_tenant(conn: AsyncConnection, tenant_id: uuid.UUID | str | None) -> None:
    """Scope row-level security to one tenant (or `ALL_TENANTS` for system work) for the current transaction."""
    await (await driver(conn)).execute(
        "SELECT set_config('cxm.tenant_id', $1, true)", str(tenant_id) if tenant_id else ""
    )


DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError, EmulatedDBAPIException, SQLAlchemyTimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
    ConnectionError,
)  # fmt: skip
"""The exception classes a database call raises (transient or not: `is_transient_db_error` tells)."""

# Errors that say the database (not the statement) failed: the work should be retried later.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "25006"})  # serialization, deadlock, read-only (failover)
# Connection exceptions, insufficient resources, operator intervention, system errors: the server, not the input.
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "58")


def is_transient_db_error(exc: BaseException) -> bool:
    """Say whether `exc` means the database was unavailable rather than the input being wrong."""
    from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, ConnectionError)):
        return True
    if isinstance(exc, EmulatedDBAPIException):
        # The driver adapter's own error, raised unwrapped where the kit drives the adapter directly (`driver()`
        # beginning a transaction on a connection the server dropped): the asyncpg error is its cause.
        return exc.__cause__ is not None and is_transient_db_error(exc.__cause__)
    if isinstance(exc, asyncpg.InterfaceError):  # raised by statements run on the driver directly
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return _transient_sqlstate(getattr(exc, "sqlstate", None))
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return _transient_sqlstate(sqlstate)
    return False


ROLLBACK_SQLSTATES = frozenset({"40001", "40P01"})
"""Serialization failure and deadlock: the transaction lost a race and may simply be run again."""


def is_lost_race(exc: BaseException) -> bool:
    """Say whether `exc` (or what caused it) is a deadlock or serialization failure."""
    seen: BaseException | None = exc
    while seen is not None:
        sqlstate = getattr(seen, "sqlstate", None) or getattr(getattr(seen, "orig", None), "sqlstate", None)
        if sqlstate in ROLLBACK_SQLSTATES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transient_sqlstate(sqlstate: str | None) -> bool:
    if not sqlstate:
        return False
    return sqlstate in TRANSIENT_SQLSTATES or sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES
