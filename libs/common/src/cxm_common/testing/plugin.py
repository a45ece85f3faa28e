"""Pytest fixtures: real Postgres and NATS (embedded, on free ports) unless `CXM_TEST_*` names outside servers.

Isolation: every test gets its own database and its own NATS subject prefix. Fault tests use `own_nats` /
`own_postgres`, which always start servers of their own, so no test ever stops a server it did not start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cxm_common.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from cxm_common.migrations import ensure_role
from cxm_common.settings import normalise_database_url


@dataclass(frozen=True)
class TestServers:
    """URLs of the Postgres and NATS servers the test session uses."""

    database_url: str
    nats_url: str


@pytest.fixture(scope="session")
def cxm_tmp_root() -> Iterator[Path]:
    """A temporary folder for the servers this test session starts."""
    with tempfile.TemporaryDirectory(prefix="cxm-test-") as root:
        path = Path(root)
        path.chmod(0o755)
        yield path


@pytest.fixture(scope="session")
def cxm_servers(cxm_tmp_root: Path) -> Iterator[TestServers]:
    """Postgres and NATS for the session: outside servers from `CXM_TEST_*`, else embedded ones of our own."""
    database_url = os.environ.get("CXM_TEST_DATABASE_URL")
    nats_url = os.environ.get("CXM_TEST_NATS_URL")
    pg: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    try:
        if not database_url:
            pg = EmbeddedPostgres(cxm_tmp_root / "postgres", free_port(), durable=False)
            database_url = pg.start()
        if not nats_url:
            nats = EmbeddedNats(cxm_tmp_root / "nats", free_port())
            nats_url = nats.start()
        yield TestServers(database_url=database_url, nats_url=nats_url)
    finally:
        if nats is not None:
            nats.stop()
        if pg is not None:
            pg.stop("immediate")


@pytest.fixture
async def database_url(cxm_servers: TestServers) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    import asyncpg

    admin = _plain_url(cxm_servers.database_url)
    name = f"cxm_t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    yield _with_database(admin, name)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def runtime_role(database_url: str) -> AsyncIterator[str]:
    """A runtime role of this test's own (as services connect: no ownership, row-level security applies), dropped
    afterwards."""
    name = f"cxm_t_{secrets.token_hex(4)}"
    admin = create_async_engine(normalise_database_url(database_url))
    async with admin.begin() as conn:
        assert await ensure_role(conn, name)
    yield name
    async with admin.begin() as conn:
        # Roles are cluster-wide: revoke what it holds here (its only grants), then drop it.
        await conn.execute(text(f"DROP OWNED BY {name}"))
        await conn.execute(text(f"DROP ROLE {name}"))
    await admin.dispose()


@pytest.fixture
def nats_prefix() -> str:
    """A subject and stream prefix of this test's own, so tests never see each other's messages."""
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
async def nats_url(cxm_servers: TestServers, nats_prefix: str) -> AsyncIterator[str]:
    """The session's NATS URL; this test's streams (by prefix) are deleted afterwards."""
    yield cxm_servers.nats_url
    await _delete_streams(cxm_servers.nats_url, nats_prefix)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A NATS server started for this test alone, which the test may kill and restart."""
    server = EmbeddedNats(tmp_path / "own-nats", free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A Postgres server started for this test alone, which the test may stop and restart."""
    tmp_path.chmod(0o755)
    server = EmbeddedPostgres(tmp_path / "own-postgres", free_port(), durable=True)
    server.start()
    yield server
    server.stop("immediate")


async def _delete_streams(url: str, prefix: str) -> None:
    import nats

    try:
        nc = await asyncio.wait_for(nats.connect(url, connect_timeout=2, max_reconnect_attempts=0), 5)
    except Exception:
        return
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(prefix.upper() + "_"):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


def _plain_url(url: str) -> str:
    for scheme in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme) :]
    return url


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")
