"""Migrations: each service's schema and version table, and a runtime role limited to its own schema."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from cxm_cli.stack import with_user_and_database
from cxm_common.db import ALL_TENANTS, create_engine, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append, append_now
from cxm_common.migrations import applied_revision, script_head, upgrade
from tests.common.integration.conftest import MIGRATIONS


async def test_upgrade_creates_the_schema_and_records_the_revision_in_it(database_url: str) -> None:
    await upgrade(database_url, "sample", MIGRATIONS)
    await upgrade(database_url, "sample", MIGRATIONS)  # idempotent
    engine = create_engine(database_url, "sample")
    async with engine.connect() as conn:
        assert await applied_revision(conn, "sample") == script_head(MIGRATIONS) == "0001"
        tables = set(
            await conn.scalars(text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'sample'"))
        )
    await engine.dispose()
    assert {"events", "outbox", "inbox", "dead_letters", "alembic_version", "notes"} <= tables


async def test_the_runtime_role_may_append_but_never_rewrite_events_nor_read_other_schemas(
    database_url: str, runtime_role: str
) -> None:
    await upgrade(database_url, "sample", MIGRATIONS, role=runtime_role)
    admin = create_engine(database_url, "public")
    async with admin.begin() as conn:
        await conn.execute(text("CREATE SCHEMA other"))
        await conn.execute(text("CREATE TABLE other.secrets (x int)"))
    await admin.dispose()
    runtime = create_engine(with_user_and_database(database_url, user=runtime_role), "sample")
    try:
        async with runtime.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            await conn.execute(
                text(
                    "INSERT INTO events (id, stream_id, version, type, source, tenant_id, time, data) "
                    "VALUES (gen_random_uuid(), 's', 1, 'sample.a.b.v1', 'sample', gen_random_uuid(), now(), '{}')"
                )
            )
            await conn.execute(text("INSERT INTO notes VALUES (gen_random_uuid(), gen_random_uuid(), 'x')"))
            await conn.execute(text("DELETE FROM notes"))
        for forbidden in (
            "UPDATE events SET data = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
            "SELECT * FROM other.secrets",
            "UPDATE alembic_version SET version_num = 'x'",
        ):
            with pytest.raises(ProgrammingError, match="permission denied"):
                async with runtime.begin() as conn:
                    await conn.execute(text(forbidden))
    finally:
        await runtime.dispose()


async def test_row_level_security_shows_a_runtime_role_only_the_tenant_of_its_transaction(
    database_url: str, runtime_role: str
) -> None:
    await upgrade(database_url, "sample", MIGRATIONS, role=runtime_role)
    runtime = create_engine(with_user_and_database(database_url, user=runtime_role), "sample")
    a, b = uuid.uuid4(), uuid.uuid4()
    try:
        for tenant in (a, b):
            async with runtime.begin() as conn:
                await set_tenant(conn, tenant)
                await append(conn, f"s-{tenant}", [Envelope("sample.a.b.v1", "sample", "s", tenant, {})], 0)
        async with runtime.begin() as conn:
            await set_tenant(conn, a)
            assert set(await conn.scalars(text("SELECT tenant_id FROM events"))) == {a}
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                async with conn.begin_nested():
                    await append(conn, "forged", [Envelope("sample.a.b.v1", "sample", "s", b, {})], 0)
        await append_now(runtime, f"now-{a}", [Envelope("sample.a.b.v1", "sample", "s", a, {})], 0)
        async with runtime.begin() as conn:  # a transaction that forgot to set its tenant sees nothing
            assert await conn.scalar(text("SELECT count(*) FROM events")) == 0
        async with runtime.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            assert await conn.scalar(text("SELECT count(*) FROM events")) == 3
    finally:
        await runtime.dispose()
