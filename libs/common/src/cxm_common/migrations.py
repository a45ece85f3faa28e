"""Alembic helpers: each service's version table lives in its own schema; roles get least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from cxm_common.db import check_schema
from cxm_common.settings import normalise_database_url
from cxm_common.tables import KIT_DDL_V1, tenant_rls_ddl

VERSION_TABLE = "alembic_version"


def alembic_config(script_location: str | Path, schema: str) -> Config:
    """Return an Alembic config for one service's migrations folder and schema."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["schema"] = check_schema(schema)
    return cfg


def run_env(context: Any) -> None:
    """Body of every service's `env.py`: migrate on the connection handed in, versioned in the service schema."""
    cfg = context.config
    schema = cfg.attributes["schema"]
    connection: Connection = cfg.attributes["connection"]
    connection.execute(text(f"SET search_path TO {schema}"))
    context.configure(connection=connection, version_table_schema=schema, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


def create_kit_tables(op: Any) -> None:
    """Create the kit's tables (events, outbox, inbox, dead_letters) in the current migration's schema."""
    for statement in KIT_DDL_V1:
        op.execute(statement)


def enable_tenant_rls(op: Any, table: str) -> None:
    """Put a tenant-owned table under row-level security (the tenant is set per transaction)."""
    for statement in tenant_rls_ddl(check_schema(table)):
        op.execute(statement)


async def upgrade(database_url: str, schema: str, script_location: str | Path, *, role: str | None = None) -> None:
    """Create the schema if needed, apply every migration, and grant the runtime role its privileges."""
    engine = create_async_engine(normalise_database_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {check_schema(schema)}"))
            await conn.run_sync(_upgrade_sync, schema, str(script_location))
            if role:
                await grant_runtime_role(conn, schema, role)
    finally:
        await engine.dispose()


def _upgrade_sync(connection: Connection, schema: str, script_location: str) -> None:
    cfg = alembic_config(script_location, schema)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def ensure_role(conn: AsyncConnection, role: str, password: str | None = None) -> bool:
    """Create a login role if it is missing and this connection may create roles; return whether it exists."""
    check_schema(role)
    exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if exists:
        return True
    may_create = await conn.scalar(text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user"))
    if not may_create:
        return False
    quoted = password.replace("'", "''") if password else None
    await conn.execute(text(f"CREATE ROLE {role} LOGIN" + (f" PASSWORD '{quoted}'" if quoted else "")))
    return True


async def grant_runtime_role(conn: AsyncConnection, schema: str, role: str) -> None:
    """Give `role` data access to `schema` only; the event store stays append-only for it."""
    check_schema(schema)
    check_schema(role)
    await conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
    await conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    await conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
    await conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.events FROM {role}"))
    await conn.execute(text(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.{VERSION_TABLE} FROM {role}"))


def script_head(script_location: str | Path) -> str | None:
    """Return the newest revision shipped with the code."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return ScriptDirectory.from_config(cfg).get_current_head()


async def applied_revision(conn: AsyncConnection, schema: str) -> str | None:
    """Return the revision the database is at (None before the first migration)."""

    def _read(sync_conn: Connection) -> str | None:
        return MigrationContext.configure(sync_conn, opts={"version_table_schema": schema}).get_current_revision()

    return await conn.run_sync(_read)
