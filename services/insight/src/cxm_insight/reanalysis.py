"""Re-analysis: apply the current models and taxonomy to history as new analysis events, throttled and resumable.

A job walks the tenant's analysed feedback in (occurred_at, feedback_id) order; each batch is one transaction
that appends the new analyses and moves the job's cursor, so a job stopped at any point resumes where it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.ids import uuid7
from cxm_insight.analysis import Analysis, Feedback
from cxm_insight.queries import open_sections

BATCH = 64
log = logging.getLogger(__name__)


async def create(conn: AsyncConnection, tenant: uuid.UUID, since: datetime | None, rate: float) -> dict[str, Any]:
    """Start a re-analysis of the tenant's feedback since a time (all of it by default)."""
    pg = await driver(conn)
    total = await pg.fetchval(
        "SELECT count(*) FROM analyses WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2)",
        tenant, since,
    )  # fmt: skip
    job_id = uuid7()
    await pg.execute(
        "INSERT INTO reanalyses (id, tenant_id, since, rate, status, total, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, 'running', $5, now(), now())",
        job_id, tenant, since, rate, total,
    )  # fmt: skip
    found = await get(conn, tenant, job_id)
    assert found is not None
    return found


async def get(conn: AsyncConnection, tenant: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any] | None:
    """A job and its progress."""
    row = await (await driver(conn)).fetchrow(
        "SELECT id, since, rate, status, total, done, changed, created_at, updated_at, error FROM reanalyses "
        "WHERE tenant_id = $1 AND id = $2",
        tenant, job_id,
    )  # fmt: skip
    if row is None:
        return None
    out = dict(row)
    out["progress"] = round(row["done"] / row["total"], 4) if row["total"] else 1.0
    return out


class Reanalyzer:
    """Runs re-analysis jobs batch by batch at their rate."""

    def __init__(self, engine: AsyncEngine, analysis: Analysis, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.analysis = analysis
        self.clock = clock

    async def running(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, job) of every unfinished job."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT tenant_id, id FROM reanalyses WHERE status = 'running' ORDER BY created_at"
            )
            return [(r["tenant_id"], r["id"]) for r in rows]

    async def step(self, tenant: uuid.UUID, job_id: uuid.UUID) -> int | None:
        """Re-analyse the job's next batch; return how many (None when the job is finished or held elsewhere)."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"re:{job_id}"):
                return None
            job = await pg.fetchrow(
                "SELECT since, status, cursor_time, cursor_id, rate FROM reanalyses WHERE tenant_id = $1 AND id = $2",
                tenant, job_id,
            )  # fmt: skip
            if job is None or job["status"] != "running":
                return None
            batch = max(1, min(BATCH, int(job["rate"])))
            rows = await pg.fetch(
                "SELECT feedback_id, customer_id, channel, source, touchpoint, occurred_at, nps, csat, ces, "
                "pii::text AS pii FROM analyses WHERE tenant_id = $1 "
                "AND ($2::timestamptz IS NULL OR occurred_at >= $2) "
                "AND ($3::timestamptz IS NULL OR (occurred_at, feedback_id) > ($3, $4::uuid)) "
                "ORDER BY occurred_at, feedback_id LIMIT $5",
                tenant, job["since"], job["cursor_time"], job["cursor_id"], batch,
            )  # fmt: skip
            if not rows:
                await pg.execute(
                    "UPDATE reanalyses SET status = 'done', updated_at = now() WHERE tenant_id = $1 AND id = $2",
                    tenant, job_id,
                )  # fmt: skip
                return None
            opened = await open_sections(conn, self.analysis.keyring, [r["pii"] for r in rows])
            feedback = [
                Feedback(
                    feedback_id=r["feedback_id"], customer_id=r["customer_id"], channel=r["channel"],
                    source=r["source"], touchpoint=r["touchpoint"], occurred_at=r["occurred_at"],
                    scores={"nps": r["nps"], "csat": r["csat"], "ces": r["ces"]}, text=o.get("text"),
                )
                for r, o in zip(rows, opened, strict=True)
                # An erased customer's feedback keeps its last analysis: there is no text left to read.
                if o
            ]  # fmt: skip
            changed = await self.analysis.analyze_in(conn, tenant, feedback) if feedback else 0
            last = rows[-1]
            await pg.execute(
                "UPDATE reanalyses SET done = done + $3, changed = changed + $4, cursor_time = $5, cursor_id = $6, "
                "updated_at = now() WHERE tenant_id = $1 AND id = $2",
                tenant, job_id, len(rows), changed, last["occurred_at"], last["feedback_id"],
            )  # fmt: skip
            return len(rows)

    async def run(self, tenant: uuid.UUID, job_id: uuid.UUID, stop: asyncio.Event | None = None) -> None:
        """Run a job to its end at its rate (or until `stop`)."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, tenant)
            rate = float(
                await (await driver(conn)).fetchval(
                    "SELECT rate FROM reanalyses WHERE tenant_id = $1 AND id = $2", tenant, job_id
                )
                or 50.0
            )
        while stop is None or not stop.is_set():
            started = self.clock()
            done = await self.step(tenant, job_id)
            if done is None:
                return
            # Throttle: a batch of n takes at least n / rate seconds, leaving the CPU to live analysis.
            pause = done / rate - (self.clock() - started)
            if pause > 0:
                await asyncio.sleep(pause)


async def reanalyze_command(
    engine: AsyncEngine,
    *,
    since: datetime | None,
    tenant: uuid.UUID | None,
    rate: float,
    progress: Callable[[int, int], None],
    poll_s: float = 0.5,
) -> int:
    """`cxm reanalyze insight`: start a job per tenant (or resume the unfinished ones) and follow them to the end.

    The running insight service does the work (it holds the keys that open the redacted texts); stopping this
    command leaves the jobs running, and running it again follows them instead of starting new ones.
    """
    async with engine.begin() as conn:
        await set_tenant(conn, ALL_TENANTS)
        pg = await driver(conn)
        jobs = [
            (r["tenant_id"], r["id"])
            for r in await pg.fetch(
                "SELECT tenant_id, id FROM reanalyses WHERE status = 'running' "
                "AND ($1::uuid IS NULL OR tenant_id = $1)",
                tenant,
            )
        ]
        if not jobs:
            tenants = [
                r["tenant_id"]
                for r in await pg.fetch(
                    "SELECT DISTINCT tenant_id FROM analyses WHERE $1::uuid IS NULL OR tenant_id = $1", tenant
                )
            ]
            for t in tenants:
                await set_tenant(conn, t)
                job = await create(conn, t, since, rate)
                jobs.append((t, job["id"]))
    ids = [j for _, j in jobs]
    while True:
        async with engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            row = await (await driver(conn)).fetchrow(
                "SELECT coalesce(sum(done), 0) AS done, coalesce(sum(total), 0) AS total, "
                "count(*) FILTER (WHERE status = 'running') AS running FROM reanalyses WHERE id = ANY($1::uuid[])",
                ids,
            )
        progress(int(row["done"]), int(row["total"]))
        if not row["running"]:
            return len(ids)
        await asyncio.sleep(poll_s)
