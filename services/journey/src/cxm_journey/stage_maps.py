"""Changing the stage map: a new version, then a re-derivation of history as new events, resumable, with progress."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.db import ALL_TENANTS, driver, lock_ids, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many, stream_version
from cxm_common.ids import uuid7
from cxm_common.projections import project
from cxm_journey import contracts as c
from cxm_journey.domain.stages import parse_stage_map, stage_map_to_dict, stage_of
from cxm_journey.projections import JOURNEY_READ_MODELS, RECOMPUTED
from cxm_journey.timeline import STEPS_LOCK, StageMaps, Timeline, event

BATCH = 200


async def put_stage_map(
    conn: AsyncConnection, stage_maps: StageMaps, tenant: uuid.UUID, body: dict[str, Any]
) -> dict[str, Any]:
    """Save a new stage map version and start re-deriving history with it (ValueError if the map is invalid)."""
    current = await stage_maps.current(conn, tenant)
    stage_map = parse_stage_map(body, current.version + 1)
    stream = f"stagemap-{tenant}"
    data = {"version": stage_map.version, "map": stage_map_to_dict(stage_map)}
    e = Envelope(type=c.STAGE_MAP_UPDATED, source=c.SOURCE, subject=stream, tenant_id=tenant, data=data)
    stored = await append_many(conn, [PendingAppend(stream, [e], await stream_version(conn, stream))])
    await project(conn, [JOURNEY_READ_MODELS], stored)
    pg = await driver(conn)
    total = await pg.fetchval("SELECT count(*) FROM customers WHERE tenant_id = $1 AND NOT erased", tenant)
    job = uuid7()
    await pg.execute(
        "INSERT INTO rederivations (id, tenant_id, version, status, total, created_at, updated_at) "
        "VALUES ($1, $2, $3, 'running', $4, now(), now())",
        job, tenant, stage_map.version, total,
    )  # fmt: skip
    return {**data["map"], "version": stage_map.version, "rederivation_id": job}


async def rederivation(conn: AsyncConnection, tenant: uuid.UUID, job: uuid.UUID) -> dict[str, Any] | None:
    """A re-derivation's progress."""
    row = await (await driver(conn)).fetchrow(
        "SELECT id, version, status, total, done, created_at, updated_at FROM rederivations "
        "WHERE tenant_id = $1 AND id = $2",
        tenant, job,
    )  # fmt: skip
    if row is None:
        return None
    return {**dict(row), "progress": round(row["done"] / row["total"], 4) if row["total"] else 1.0}


class Rederiver:
    """Applies a new stage map to customers' histories, batch by batch."""

    def __init__(self, engine: AsyncEngine, stage_maps: StageMaps, timeline: Timeline) -> None:
        self.engine = engine
        self.stage_maps = stage_maps
        self.timeline = timeline

    async def running(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, job) of every unfinished re-derivation."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT tenant_id, id FROM rederivations WHERE status = 'running' ORDER BY created_at"
            )
            return [(r["tenant_id"], r["id"]) for r in rows]

    async def step(self, tenant: uuid.UUID, job: uuid.UUID) -> int | None:
        """Re-derive the next batch of customers; None once finished (or superseded, or held by another replica)."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"rd:{job}"):
                return None
            row = await pg.fetchrow(
                "SELECT version, status, cursor_id FROM rederivations WHERE tenant_id = $1 AND id = $2", tenant, job
            )
            if row is None or row["status"] != "running":
                return None
            stage_map = await self.stage_maps.current(conn, tenant)
            if stage_map.version != row["version"]:
                await pg.execute("UPDATE rederivations SET status = 'superseded' WHERE id = $1", job)
                return None
            customers = [
                r["id"]
                for r in await pg.fetch(
                    "SELECT id FROM customers WHERE tenant_id = $1 AND NOT erased "
                    "AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    tenant, row["cursor_id"], BATCH,
                )
            ]  # fmt: skip
            if not customers:
                await pg.execute("UPDATE rederivations SET status = 'done', updated_at = now() WHERE id = $1", job)
                return None
            # As when steps are recorded: an erasure of one of them waits, and so does a consumer recording steps.
            await lock_ids(conn, customers, shared=True)
            await lock_ids(conn, customers, scope=STEPS_LOCK)
            steps = await pg.fetch(
                "SELECT id, customer_id, kind, name, touchpoint, stage FROM steps WHERE tenant_id = $1 "
                "AND customer_id = ANY($2::uuid[])",
                tenant, customers,
            )  # fmt: skip
            changes: dict[uuid.UUID, dict[str, str | None]] = {customer: {} for customer in customers}
            for s in steps:
                stage = stage_of(stage_map, kind=s["kind"], name=s["name"], touchpoint=s["touchpoint"])
                if stage != s["stage"]:
                    changes[s["customer_id"]][s["id"]] = stage
            before = {
                r["id"]: r
                for r in await pg.fetch(
                    "SELECT id, current_stage, last_seen, risk_level FROM customers WHERE tenant_id = $1 "
                    "AND id = ANY($2::uuid[])",
                    tenant, customers,
                )
            }  # fmt: skip
            events = [
                event(c.CUSTOMER_REDERIVED, tenant, str(customer),
                      {"customer_id": str(customer), "stage_map_version": stage_map.version, "stages": stages})
                for customer, stages in changes.items()
                if stages
            ]  # fmt: skip
            if events:
                conn.info.pop(RECOMPUTED, None)
                stored = await append_many(
                    conn, [PendingAppend(f"customer-{e.subject}", [e], ANY_VERSION) for e in events]
                )
                await project(conn, [JOURNEY_READ_MODELS], stored)
                moved = [uuid.UUID(e.subject) for e in events]
                await self.timeline.follow_up(conn, tenant, moved, before)
            await pg.execute(
                "UPDATE rederivations SET done = done + $2, cursor_id = $3, updated_at = now() WHERE id = $1",
                job, len(customers), customers[-1],
            )  # fmt: skip
            return len(customers)

    async def run(self, tenant: uuid.UUID, job: uuid.UUID, stop: asyncio.Event | None = None) -> None:
        """Run a re-derivation to its end."""
        while stop is None or not stop.is_set():
            if await self.step(tenant, job) is None:
                return
