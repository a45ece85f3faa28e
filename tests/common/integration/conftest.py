"""Fixtures for the kit's integration tests: the kit's tables in a fresh schema, and a JetStream context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.db import create_engine
from cxm_common.jetstream import ensure_stream
from cxm_common.tables import KIT_DDL_V1

SCHEMA = "kit"
SERVICE = "kit"
MIGRATIONS = Path(__file__).parents[1] / "sample_service" / "migrations"


async def create_kit_schema(engine: AsyncEngine) -> None:
    """Create the kit's tables plus a small read model used by the tests."""
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        for statement in KIT_DDL_V1:
            await conn.execute(text(statement))
        await conn.execute(text("CREATE TABLE counts (stream_id text PRIMARY KEY, n integer NOT NULL)"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding the kit's tables in schema `kit`."""
    eng = create_engine(database_url, SCHEMA, pool_size=12, max_overflow=4)
    await create_kit_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A NATS connection to the session's server."""
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc: Client, nats_prefix: str) -> str:
    """This test's stream for the `kit` service."""
    config = await ensure_stream(nc.jetstream(), SERVICE, prefix=nats_prefix, max_age_s=3600, duplicate_window_s=120)
    assert config.name is not None
    return config.name
