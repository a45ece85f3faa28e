"""Journey's schedulers: friction detection over recent journeys, and the churn-risk sweep (risk moves with time).

Both run under advisory locks, so with several replicas one does the work; friction ids derive from (tenant, kind,
key, day), so a repeated round raises nothing new.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many
from cxm_common.ids import deterministic_uuid
from cxm_common.projections import project
from cxm_journey import contracts as c
from cxm_journey.config import Settings
from cxm_journey.domain.friction import friction_points
from cxm_journey.projections import JOURNEY_READ_MODELS, RECOMPUTED
from cxm_journey.queries import stages
from cxm_journey.timeline import StageMaps, Timeline

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("b6a1b7e4-2f63-4b4a-9a59-d3b7f3c0c9a1")
SWEEP_BATCH = 500


class FrictionDetector:
    """Finds the friction points of each active tenant's recent journeys and records the ones that matter."""

    def __init__(self, engine: AsyncEngine, stage_maps: StageMaps, settings: Settings) -> None:
        self.engine = engine
        self.stage_maps = stage_maps
        self.settings = settings

    async def tenants(self, since: datetime) -> list[uuid.UUID]:
        """Tenants with steps in the window."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT DISTINCT tenant_id FROM customers WHERE last_seen >= $1", since
            )
            return [r["tenant_id"] for r in rows]

    async def detect(self, tenant: uuid.UUID, now: datetime | None = None) -> int:
        """Record the tenant's friction points above the minimum impact; return how many are new today."""
        now = now or datetime.now(UTC)
        s = self.settings
        since = now - timedelta(days=s.friction_window_days)
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"fr:{tenant}"):
                return 0
            stage_map = await self.stage_maps.current(conn, tenant)
            computed = await stages(
                conn, tenant, stage_map, since, now, now, timedelta(hours=s.abandon_after_h),
                timedelta(hours=s.repeat_window_h),
            )  # fmt: skip
            found = [p for p in friction_points(computed) if p.impact >= s.friction_min_impact]
            events = []
            for point in found:
                friction_id = deterministic_uuid(NAMESPACE, str(tenant), point.kind, point.key, now.date().isoformat())
                exists = await pg.fetchval("SELECT 1 FROM friction WHERE id = $1", friction_id)
                if exists:
                    continue
                data: dict[str, Any] = {
                    "friction_id": str(friction_id), "kind": point.kind, "key": point.key,
                    "impact": round(point.impact, 4), "traffic": point.traffic, "value_at_stake": point.value_at_stake,
                    "evidence": point.evidence, "window": {"from": since.isoformat(), "to": now.isoformat()},
                }  # fmt: skip
                events.append(
                    Envelope(
                        type=c.FRICTION_DETECTED,
                        source=c.SOURCE,
                        subject=str(friction_id),
                        tenant_id=tenant,
                        data=data,
                        id=deterministic_uuid(NAMESPACE, "event", str(friction_id)),
                    )
                )
            if events:
                stored = await append_many(conn, [PendingAppend(f"friction-{e.subject}", [e], 0) for e in events])
                await project(conn, [JOURNEY_READ_MODELS], stored)
            return len(events)

    async def round(self) -> int:
        """Detect friction for every tenant active in the window."""
        now = datetime.now(UTC)
        found = 0
        for tenant in await self.tenants(now - timedelta(days=self.settings.friction_window_days)):
            found += await self.detect(tenant, now)
        return found


class RiskSweep:
    """Re-scores customers whose risk may have moved only because time passed (inactivity, signals ageing out)."""

    def __init__(self, engine: AsyncEngine, timeline: Timeline) -> None:
        self.engine = engine
        self.timeline = timeline

    async def round(self) -> int:
        """Re-score every customer, a batch per transaction; return how many batches ran."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            tenants = [
                r["tenant_id"] for r in await (await driver(conn)).fetch("SELECT DISTINCT tenant_id FROM customers")
            ]
        batches = 0
        for tenant in tenants:
            after: uuid.UUID | None = None
            while True:
                async with self.engine.begin() as conn:
                    await set_tenant(conn, tenant)
                    pg = await driver(conn)
                    if not await pg.fetchval(
                        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"rs:{tenant}"
                    ):
                        break
                    rows = await pg.fetch(
                        "SELECT id, current_stage, last_seen, risk_level FROM customers WHERE tenant_id = $1 "
                        "AND NOT erased AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
                        tenant, after, SWEEP_BATCH,
                    )  # fmt: skip
                    if not rows:
                        break
                    conn.info.pop(RECOMPUTED, None)
                    await self.timeline.follow_up(conn, tenant, [r["id"] for r in rows], {r["id"]: r for r in rows})
                    after = rows[-1]["id"]
                    batches += 1
        return batches
