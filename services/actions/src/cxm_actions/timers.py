"""Actions' schedulers: SLA breaches raised on time, and impact measured again as new feedback arrives.

Both take a `Clock`, so tests move time instead of sleeping. A round runs under a Postgres advisory lock, so with
several replicas exactly one fires each timer; breach event ids derive from (item, due time), so a breach is raised
once even if a round is repeated.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_actions import contracts as c
from cxm_actions import items
from cxm_actions.queries import impact
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.eventstore import ANY_VERSION
from cxm_common.ids import deterministic_uuid

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("5d2e7c1a-8b3f-4e6a-9c0d-1f2a3b4c5d6e")


class Clock:
    """The time the schedulers see: the wall clock, shifted by whatever a test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move time forward (tests)."""
        self.offset += delta


class SlaWatch:
    """Raises `actions.action.sla_breached` for every item past its due time."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    async def round(self) -> int:
        """Raise the breaches due now; return how many."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended('cxm-actions-sla', 0))"):
                return 0
            due = await pg.fetch(
                "SELECT tenant_id, id, due_at FROM actions WHERE breached_at IS NULL AND due_at <= $1 "
                "AND status NOT IN ('resolved', 'verified', 'wont_fix') ORDER BY due_at LIMIT 500",
                now,
            )
            for row in due:
                tenant, action_id = row["tenant_id"], row["id"]
                await set_tenant(conn, tenant)
                stream = items.stream_of(action_id)
                data = {
                    "action_id": str(action_id),
                    "due_at": row["due_at"].isoformat(),
                    "breached_at": now.isoformat(),
                }
                event = items.event(c.ACTION_SLA_BREACHED, tenant, stream, data)
                event = dataclasses.replace(event, id=deterministic_uuid(NAMESPACE, str(action_id), data["due_at"]))
                await items.append(conn, stream, [event], ANY_VERSION)
            if due:
                log.info("%d SLA breach(es) raised", len(due))
            return len(due)


class ImpactWatch:
    """Measures resolved improvement items again while their after-window fills, recording each new result."""

    def __init__(self, engine: AsyncEngine, clock: Clock, window: timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.window = window

    async def round(self) -> int:
        """Measure every item whose after-window is open (or just closed); return how many results changed."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT tenant_id, id FROM actions WHERE kind = 'improvement' AND resolved_at IS NOT NULL "
                "AND resolved_at >= $1 AND (links ? 'topic' OR links ? 'stage')",
                now - 2 * self.window,
            )
        changed = 0
        for row in rows:
            changed += await self.measure(row["tenant_id"], row["id"])
        return changed

    async def measure(self, tenant: uuid.UUID, action_id: uuid.UUID) -> int:
        """Measure one item and record the result if it changed; return 1 if it did."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"im:{action_id}"):
                return 0
            state, events = await items.state_of(conn, tenant, action_id)
            result = await impact(conn, tenant, state, None, self.window)
            if result is None:
                return 0
            data = {"action_id": str(action_id), "window_days": self.window.days, **dataclasses.asdict(result)}
            stored = await pg.fetchval(
                "SELECT result::text FROM impacts WHERE tenant_id = $1 AND action_id = $2", tenant, action_id
            )
            if stored is not None:
                before = orjson.loads(stored)
                if before.get("did") == result.did and before.get("n") == result.n:
                    return 0  # nothing new since the last measurement
            stream = items.stream_of(action_id)
            await items.append(conn, stream, [items.event(c.IMPACT_MEASURED, tenant, stream, data)], len(events))
            return 1
