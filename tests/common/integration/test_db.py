"""Engines under a database restart: a connection the server dropped costs one transient error, never more."""

from __future__ import annotations

import pytest

from cxm_common.db import create_engine, driver, is_transient_db_error, set_tenant
from cxm_common.embedded import EmbeddedPostgres


async def _scoped_transaction(engine: object) -> None:
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await set_tenant(conn, None)
        await (await driver(conn)).fetchval("SELECT 1")


@pytest.mark.fault
async def test_a_connection_dropped_by_a_restart_fails_once_and_is_replaced(own_postgres: EmbeddedPostgres) -> None:
    engine = create_engine(own_postgres.url, "public", pool_size=1, max_overflow=0)
    try:
        await _scoped_transaction(engine)
        own_postgres.stop("immediate")
        own_postgres.start()
        failures = []
        for _ in range(3):
            try:
                await _scoped_transaction(engine)
            except Exception as exc:
                failures.append(exc)
        assert len(failures) <= 1
        assert all(is_transient_db_error(f) for f in failures), failures
    finally:
        await engine.dispose()


@pytest.mark.fault
async def test_a_pooled_connection_seen_closed_is_replaced_before_it_is_lent(own_postgres: EmbeddedPostgres) -> None:
    engine = create_engine(own_postgres.url, "public", pool_size=1, max_overflow=0)
    try:
        await _scoped_transaction(engine)
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.dbapi_connection._connection.close()  # closed behind the pool's back
        await _scoped_transaction(engine)
    finally:
        await engine.dispose()
