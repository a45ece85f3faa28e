"""Journey's read models, applied in the writer's transaction and rebuilt by `cxm replay journey`.

A customer's visits and transitions are a function of their ordered steps: whenever steps of a customer change
(a new one, a late one, a re-derived stage), the customer's visits are recomputed from all their steps and the
transition counts move by the difference, so arrival order never changes the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.consumer import LANE
from cxm_common.db import driver, json_rows, lock_ids
from cxm_common.envelope import Envelope
from cxm_common.projections import Projection
from cxm_journey import contracts as c
from cxm_journey.domain.paths import Step, transitions, visits

# Every statement below writes all its rows at once from one JSON array of rows (`json_rows`).
_STEPS_SQL = """
    INSERT INTO steps (id, tenant_id, customer_id, at, kind, name, channel, touchpoint, stage, nps, csat, ces,
                       sentiment_score, sentiment_label, intent, topics)
    SELECT r->>0, $1, (r->>1)::uuid, (r->>2)::timestamptz, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::smallint,
           (r->>9)::smallint, (r->>10)::smallint, (r->>11)::real, r->>12, r->>13,
           ARRAY(SELECT jsonb_array_elements_text(r->14))
    FROM jsonb_array_elements($2::jsonb) AS t(r)
    ON CONFLICT (id) DO UPDATE SET
        at = excluded.at, stage = excluded.stage, nps = excluded.nps, csat = excluded.csat, ces = excluded.ces,
        sentiment_score = excluded.sentiment_score, sentiment_label = excluded.sentiment_label,
        intent = excluded.intent, topics = excluded.topics
"""
# A recompute's writes in one statement: the customers' visits that changed (and those past their new last one
# removed), the transition counts moved, counted on the row of the consumer lane the transaction belongs to (lanes
# of one batch never wait on each other's counters; readers sum over lanes), and the customers' summaries.
_RECOMPUTED_SQL = """
    WITH trimmed AS (
        DELETE FROM visits v USING jsonb_array_elements($3::jsonb) AS t(r)
        WHERE v.tenant_id = $1 AND v.customer_id = (r->>0)::uuid AND v.seq >= (r->>1)::int
    ),
    changed_visits AS (
        INSERT INTO visits (tenant_id, customer_id, seq, stage, entered_at, exited_at, next_stage, segment)
        SELECT $1, (r->>0)::uuid, (r->>1)::int, r->>2, (r->>3)::timestamptz, (r->>4)::timestamptz, r->>5, r->>6
        FROM jsonb_array_elements($4::jsonb) AS t(r)
        ON CONFLICT (tenant_id, customer_id, seq) DO UPDATE SET stage = excluded.stage,
            entered_at = excluded.entered_at, exited_at = excluded.exited_at, next_stage = excluded.next_stage,
            segment = excluded.segment
    ),
    counted AS (
        INSERT INTO transition_days (tenant_id, lane, day, from_stage, to_stage, segment, count)
        SELECT $1, $2, (r->>0)::date, r->>1, r->>2, r->>3, (r->>4)::int FROM jsonb_array_elements($5::jsonb) AS t(r)
        ON CONFLICT (tenant_id, day, from_stage, to_stage, segment, lane)
        DO UPDATE SET count = transition_days.count + excluded.count
    )
    INSERT INTO customers (id, tenant_id, segment, current_stage, path, first_seen, last_seen)
    SELECT (r->>0)::uuid, $1, r->>1, r->>2, r->>3, (r->>4)::timestamptz, (r->>5)::timestamptz
    FROM jsonb_array_elements($6::jsonb) AS t(r)
    ON CONFLICT (id) DO UPDATE SET segment = excluded.segment, current_stage = excluded.current_stage,
        path = excluded.path, first_seen = excluded.first_seen, last_seen = excluded.last_seen
"""
_STEP_COLUMNS = (
    "customer_id, id, at, kind, name, stage, channel, nps, csat, ces, sentiment_score, sentiment_label, intent"
)
"""The customer, then a `Step`'s fields in their order."""


_RISK_SQL = """
    UPDATE customers SET risk_score = $3, risk_level = $4, risk_reasons = $5::jsonb, risk_at = $6
    WHERE tenant_id = $1 AND id = $2
"""


def _risk_row(event: Envelope) -> tuple[Any, ...]:
    d = event.data
    return (
        event.tenant_id, uuid.UUID(d["customer_id"]), float(d["score"]), d["level"],
        orjson.dumps(d["reasons"]).decode(), event.time,
    )  # fmt: skip


def step_row(event: Envelope) -> tuple[Any, ...]:
    """The `steps` row of a `journey.step.recorded` event."""
    d = event.data
    sentiment = d.get("sentiment") or {}
    return (
        d["step_id"], d["customer_id"], datetime.fromisoformat(d["at"]), d["kind"], d.get("name"),
        d.get("channel"), d.get("touchpoint"), d.get("stage"), d.get("nps"), d.get("csat"), d.get("ces"),
        sentiment.get("score"), sentiment.get("label"), d.get("intent"), d.get("topics") or [],
    )  # fmt: skip


async def insert_steps(conn: AsyncConnection, tenant: uuid.UUID, events: Sequence[Envelope]) -> None:
    """Upsert the steps of `journey.step.recorded` events of one tenant; of one step recorded twice, the last wins."""
    rows = list({row[0]: row for row in map(step_row, events)}.values())
    await (await driver(conn)).execute(_STEPS_SQL, tenant, json_rows(rows))


async def journeys_of(
    conn: AsyncConnection, tenant: uuid.UUID, customers: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Step]]:
    """The ordered steps of some customers."""
    rows = await (await driver(conn)).fetch(
        f"SELECT {_STEP_COLUMNS} FROM steps WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) "
        "ORDER BY customer_id, at, id",
        tenant, list(customers),
    )  # fmt: skip
    found: dict[uuid.UUID, list[Step]] = {c: [] for c in customers}
    for r in rows:
        found[r[0]].append(Step(*r[1:]))
    return found


RECOMPUTED = "cxm_journey.recomputed"
"""Key in the connection's `info` where `recompute` leaves what it derived, for this transaction's follow-up."""


@dataclass(slots=True)
class Recomputed:
    """A customer as `recompute` left them: ordered steps, current stage, last step's time, value at stake."""

    steps: list[Step]
    current_stage: str | None
    last_seen: datetime | None
    value: float | None


async def recompute(conn: AsyncConnection, tenant: uuid.UUID, customers: Sequence[uuid.UUID]) -> None:
    """Recompute the visits, transitions and summary of customers from their steps, moving transition counts."""
    if not customers:
        return
    pg = await driver(conn)
    ordered = sorted(set(customers))
    journeys = await journeys_of(conn, tenant, ordered)
    profiles = {
        r["id"]: r
        for r in await pg.fetch(
            "SELECT id, segment, value FROM profiles WHERE tenant_id = $1 AND id = ANY($2::uuid[])", tenant, ordered
        )
    }
    stored: dict[uuid.UUID, dict[int, tuple[Any, ...]]] = {customer: {} for customer in ordered}
    deltas: dict[tuple[date, str, str, str], int] = {}
    for r in await pg.fetch(
        "SELECT customer_id, seq, stage, entered_at, exited_at, next_stage, segment FROM visits "
        "WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])",
        tenant, ordered,
    ):  # fmt: skip
        customer, seq, *visit = r
        stored[customer][seq] = tuple(visit)
        stage, _, exited_at, next_stage, segment = visit
        if next_stage is not None:
            slot = (exited_at.date(), stage, next_stage, segment)
            deltas[slot] = deltas.get(slot, 0) - 1
    trims = []
    visit_rows = []
    summaries = []
    # The consumer's follow-up (stage entries, churn risk) needs the same customers in the same transaction.
    left: dict[uuid.UUID, Recomputed] = conn.info.setdefault(RECOMPUTED, {})
    for customer in ordered:
        steps = journeys[customer]  # ordered by (time, id)
        profile = profiles.get(customer)
        segment = (profile["segment"] if profile else None) or ""
        found = visits(steps)
        before = stored[customer]
        # Only the visits that changed are written: a new step usually closes the last visit and opens one.
        for seq, v in enumerate(found):
            visit = (v.stage, v.entered_at, v.exited_at, v.next_stage, segment)
            if before.get(seq) != visit:
                visit_rows.append((customer, seq, *visit))
        if len(before) > len(found):
            trims.append((customer, len(found)))
        for from_stage, to_stage, at in transitions(found):
            slot = (at.date(), from_stage, to_stage, segment)
            deltas[slot] = deltas.get(slot, 0) + 1
        path = ">".join(v.stage for v in found)[:2000]
        stage = found[-1].stage if found else None
        last = steps[-1].at if steps else None
        summaries.append((customer, segment or None, stage, path or None, steps[0].at if steps else None, last))
        value = profile["value"] if profile else None
        left[customer] = Recomputed(steps, stage, last, float(value) if value is not None else None)
    # In key order: concurrent transactions take the shared counters' row locks in the same order.
    changed = [(*key, n) for key, n in sorted(deltas.items()) if n]
    await pg.execute(
        _RECOMPUTED_SQL, tenant, conn.info.get(LANE, 0), json_rows(trims), json_rows(visit_rows), json_rows(changed),
        json_rows(summaries),
    )  # fmt: skip


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one of journey's own events."""
    await apply_many(conn, [event])


async def apply_many(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Apply events in order; each run of step events of one tenant is written in bulk, then recomputed once."""
    pg = await driver(conn)
    run: list[Envelope] = []

    async def flush() -> None:
        if not run:
            return
        tenant = run[0].tenant_id
        await insert_steps(conn, tenant, run)
        await recompute(conn, tenant, [uuid.UUID(e.data["customer_id"]) for e in run])
        run.clear()

    risks: list[Envelope] = []

    async def flush_risks() -> None:
        if risks:
            await pg.executemany(_RISK_SQL, [_risk_row(e) for e in risks])
            risks.clear()

    for event in events:
        if event.type == c.STEP_RECORDED:
            await flush_risks()
            if run and run[0].tenant_id != event.tenant_id:
                await flush()
            run.append(event)
            continue
        await flush()
        if event.type == c.CHURN_RISK_CHANGED:
            risks.append(event)
            continue
        await flush_risks()
        if event.type != c.STAGE_ENTERED:
            await _apply_other(conn, event)
    await flush()
    await flush_risks()


async def _apply_other(conn: AsyncConnection, event: Envelope) -> None:
    pg = await driver(conn)
    d = event.data
    t = event.tenant_id
    when = event.recorded_at or event.time
    if event.type == c.CUSTOMER_REDERIVED:
        customer = uuid.UUID(d["customer_id"])
        stages = d.get("stages") or {}
        if stages:
            await pg.executemany(
                "UPDATE steps SET stage = $3 WHERE tenant_id = $1 AND id = $2",
                [(t, step_id, stage) for step_id, stage in sorted(stages.items())],
            )
        await recompute(conn, t, [customer])
    elif event.type == c.CHURN_RISK_CHANGED:
        await pg.execute(_RISK_SQL, *_risk_row(event))
    elif event.type == c.STAGE_MAP_UPDATED:
        await pg.execute(
            "INSERT INTO stage_maps (tenant_id, version, definition, created_at) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT DO NOTHING",
            t, int(d["version"]), orjson.dumps(d["map"]).decode(), when,
        )  # fmt: skip
    elif event.type == c.FRICTION_DETECTED:
        await pg.execute(
            "INSERT INTO friction (id, tenant_id, kind, key, impact, detected_at, evidence) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT DO NOTHING",
            uuid.UUID(d["friction_id"]), t, d["kind"], d["key"], float(d["impact"]), event.time,
            orjson.dumps(d).decode(),
        )  # fmt: skip
    elif event.type == c.CUSTOMER_ERASED:
        everyone = [uuid.UUID(x) for x in [d["customer_id"], *(d.get("merged_ids") or [])]]
        # Exclusive: steps being recorded for them in another transaction commit first, and are deleted here.
        await lock_ids(conn, everyone)
        await pg.execute("DELETE FROM steps WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])", t, everyone)
        await pg.execute("DELETE FROM visits WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])", t, everyone)
        # Upserted: a customer erased before journey saw any step of theirs is marked too, so that steps still in
        # flight for them are dropped rather than starting a new journey.
        await pg.execute(
            "INSERT INTO customers (id, tenant_id, erased) SELECT id, $1, true FROM unnest($2::uuid[]) AS u(id) "
            "ON CONFLICT (id) DO UPDATE SET erased = true, segment = NULL, path = NULL, risk_reasons = '[]', "
            "risk_score = NULL, risk_level = NULL",
            t, everyone,
        )  # fmt: skip


JOURNEY_READ_MODELS = Projection(
    name="journey",
    tables=["steps", "visits", "transition_days", "customers", "stage_maps", "friction"],
    apply=apply,
    apply_many=apply_many,
)
