"""Read models: projections applied in the writer's transaction and rebuilt from the store by `replay`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.db import ALL_TENANTS, check_schema, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import read_all

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Projection:
    """A read model: the tables it owns and how one of the service's own events changes them."""

    name: str
    tables: Sequence[str]
    apply: Callable[[AsyncConnection, Envelope], Awaitable[None]]
    apply_many: Callable[[AsyncConnection, Sequence[Envelope]], Awaitable[None]] | None = None
    """Optional: the same effect for many events at once (bulk statements), used when it is given."""


async def project(conn: AsyncConnection, projections: Sequence[Projection], events: Sequence[Envelope]) -> None:
    """Apply freshly appended events to every projection, in the caller's transaction."""
    for projection in projections:
        if projection.apply_many is not None:
            await projection.apply_many(conn, events)
        else:
            for event in events:
                await projection.apply(conn, event)


async def replay(
    engine: AsyncEngine,
    projections: Sequence[Projection],
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Rebuild the projections from the service's own event store in one transaction; return events applied."""
    tables = [check_schema(t) for p in projections for t in p.tables]
    applied = 0
    async with engine.begin() as conn:
        await set_tenant(conn, ALL_TENANTS)
        # TRUNCATE takes an exclusive lock: writers wait until the rebuilt read models are committed, then apply
        # their own events on top, so no event is lost or applied twice across the swap.
        if tables:
            await conn.execute(text(f"TRUNCATE {', '.join(tables)}"))
        position = 0
        while True:
            batch = await read_all(conn, position, batch_size)
            if not batch:
                break
            await project(conn, projections, batch)
            applied += len(batch)
            position = batch[-1].position or position
            if progress:
                progress(applied)
    log.info("replayed %d events into %s", applied, ", ".join(p.name for p in projections) or "no projections")
    return applied
