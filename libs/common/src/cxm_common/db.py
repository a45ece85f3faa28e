"""Async engines and sessions bound to one service's schema, and per-transaction tenant scoping."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cxm_common.settings import normalise_database_url

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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
    return create_async_engine(
        normalise_database_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "server_settings": {"search_path": schema, "application_name": application_name},
            "timeout": 5,
            "command_timeout": 60,
        },
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


ALL_TENANTS = "*"
_SET_TENANT_SQL = text("SELECT set_config('cxm.tenant_id', :tenant, true)")


async def set_tenant(conn: AsyncConnection, tenant_id: uuid.UUID | str | None) -> None:
    """Scope row-level security to one tenant (or `ALL_TENANTS` for system work) for the current transaction."""
    await conn.execute(_SET_TENANT_SQL, {"tenant": str(tenant_id) if tenant_id else ""})


# Errors that say the database (not the statement) failed: the work should be retried later.
TRANSIENT_SQLSTATES = frozenset(
    {
        "08000", "08001", "08003", "08004", "08006", "08007",  # connection exceptions
        "40001", "40P01",  # serialization failure, deadlock
        "53300", "57P01", "57P02", "57P03",  # too many connections, admin shutdown, crash, cannot connect now
    }
)  # fmt: skip


def is_transient_db_error(exc: BaseException) -> bool:
    """Say whether `exc` means the database was unavailable rather than the input being wrong."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, ConnectionError, OSError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return sqlstate in TRANSIENT_SQLSTATES
    return False
