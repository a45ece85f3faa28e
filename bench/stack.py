"""The bench's own Postgres and NATS servers, on free ports in a temporary folder, stopped at the end."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
import nats

from cxm_common.embedded import EmbeddedNats, EmbeddedPostgres, free_port

# Ports of servers someone else may run on this machine; the bench never uses (or touches) them.
_RESERVED_PORTS = frozenset({5432, 4222})

DATABASE = "bench"
PEER_DATABASE = "bench_eventsourcing"


def bench_port() -> int:
    """Return a free loopback port other than the well-known Postgres and NATS ones."""
    while True:
        port = free_port()
        if port not in _RESERVED_PORTS:
            return port


@dataclass
class Stack:
    """A durable Postgres and a JetStream-enabled NATS that this process starts and stops itself."""

    root: Path = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)
    nats: EmbeddedNats = field(init=False)
    admin_url: str = field(init=False, default="")
    nats_url: str = field(init=False, default="")

    def start(self) -> Stack:
        """Start both servers and create the bench databases."""
        self.root = Path(tempfile.mkdtemp(prefix="cxm-bench-"))
        self.root.chmod(0o755)  # Postgres runs as a dedicated user when we are root: it must reach its folder.
        self.postgres = EmbeddedPostgres(self.root / "postgres", bench_port(), durable=True)
        self.nats = EmbeddedNats(self.root / "nats", bench_port())
        self.admin_url = self.postgres.start()
        self.nats_url = self.nats.start()
        return self

    def stop(self) -> None:
        """Stop the servers this stack started and delete their folder."""
        if hasattr(self, "nats"):
            self.nats.stop()
        if hasattr(self, "postgres"):
            self.postgres.stop("fast")
        if hasattr(self, "root"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def server_pids(self) -> list[int | None]:
        """Return the pids of the Postgres postmaster and the NATS server (None when not running)."""
        nats_pid = self.nats.process.pid if self.nats.process is not None else None
        return [self.postgres.pid(), nats_pid]

    def url(self, database: str = DATABASE) -> str:
        """Return the superuser URL of one database on the bench's Postgres."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres.port}/{database}"

    async def create_databases(self) -> None:
        """Create the database for the kit and raw scenarios, and a separate one for the peer library."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            for name in (DATABASE, PEER_DATABASE):
                await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    async def server_info(self) -> dict[str, str]:
        """Return the servers' versions and the Postgres settings that shape commit cost."""
        conn = await asyncpg.connect(self.admin_url)
        try:
            info = {"postgres": str(await conn.fetchval("SHOW server_version"))}
            for setting in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers"):
                info[f"postgres_{setting}"] = str(await conn.fetchval(f"SHOW {setting}"))
        finally:
            await conn.close()
        nc = await nats.connect(self.nats_url)
        try:
            version = nc.connected_server_version
            info["nats_server"] = f"{version.major}.{version.minor}.{version.patch}"
        finally:
            await nc.close()
        info["nats_jetstream_sync_interval"] = "always" if self.nats.sync_always else "2m"
        return info
