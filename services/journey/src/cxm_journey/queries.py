"""Journey's read side: timelines, paths, funnels, stage metrics, friction, customers at risk."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.db import driver
from cxm_journey.domain.churn import backtest
from cxm_journey.domain.contacts import repeat_contacts
from cxm_journey.domain.friction import StageStats, friction_points, stage_stats
from cxm_journey.domain.funnels import FunnelStep
from cxm_journey.domain.paths import Step
from cxm_journey.domain.stages import StageMap
from cxm_journey.projections import journeys_of
from cxm_journey.timeline import FEEDBACK_NAME_PREFIX

MAX_CUSTOMERS = 50_000
"""The most customers a stage or friction analysis reads (the most recently active)."""


async def timeline(conn: AsyncConnection, tenant: uuid.UUID, customer: uuid.UUID) -> dict[str, Any] | None:
    """A customer's steps in the order they happened, their stays in stages, current stage and churn risk."""
    pg = await driver(conn)
    row = await pg.fetchrow(
        "SELECT c.id, c.current_stage, c.path, c.first_seen, c.last_seen, c.risk_score, c.risk_level, "
        "c.risk_reasons::text AS reasons, c.risk_at, c.erased, p.segment, p.value FROM customers c "
        "LEFT JOIN profiles p ON p.id = c.id WHERE c.tenant_id = $1 AND c.id = $2",
        tenant, customer,
    )  # fmt: skip
    if row is None:
        return None
    steps = await pg.fetch(
        "SELECT id, at, kind, name, channel, touchpoint, stage, nps, csat, ces, sentiment_score, sentiment_label, "
        "intent, topics FROM steps WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at, id",
        tenant, customer,
    )  # fmt: skip
    visits = await pg.fetch(
        "SELECT stage, entered_at, exited_at, next_stage FROM visits WHERE tenant_id = $1 AND customer_id = $2 "
        "ORDER BY seq",
        tenant, customer,
    )  # fmt: skip
    return {
        "customer_id": row["id"],
        "segment": row["segment"],
        "value": row["value"],
        "current_stage": row["current_stage"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "erased": row["erased"],
        "churn_risk": {
            "score": row["risk_score"] if row["risk_score"] is not None else 0.0,
            "level": row["risk_level"] or "low",
            "reasons": orjson.loads(row["reasons"]),
            "as_of": row["risk_at"],
        },
        "visits": [dict(v) for v in visits],
        "steps": [_step_out(s) for s in steps],
    }


def _step_out(s: Any) -> dict[str, Any]:
    out = {k: s[k] for k in ("id", "at", "kind", "name", "channel", "touchpoint", "stage", "intent")}
    out["topics"] = list(s["topics"])
    out["scores"] = {"nps": s["nps"], "csat": s["csat"], "ces": s["ces"]}
    out["sentiment"] = (
        {"label": s["sentiment_label"], "score": s["sentiment_score"]} if s["sentiment_label"] is not None else None
    )
    out["feedback_id"] = s["id"][2:] if s["kind"] == "feedback" else None
    out["interaction_id"] = s["id"][2:] if s["kind"] == "interaction" else None
    return out


async def paths(
    conn: AsyncConnection, tenant: uuid.UUID, since: date, until: date, segment: str | None, top: int
) -> dict[str, Any]:
    """Stage-to-stage transitions in [since, until) (Sankey edges with counts) and the most common whole paths."""
    pg = await driver(conn)
    edges = await pg.fetch(
        "SELECT from_stage, to_stage, sum(count)::int AS count FROM transition_days WHERE tenant_id = $1 "
        "AND day >= $2 AND day < $3 AND ($4::text IS NULL OR segment = $4) GROUP BY 1, 2 HAVING sum(count) > 0 "
        "ORDER BY 3 DESC, 1, 2",
        tenant, since, until, segment,
    )  # fmt: skip
    paths_ = await pg.fetch(
        "SELECT path, count(*)::int AS customers FROM customers WHERE tenant_id = $1 AND NOT erased "
        "AND path IS NOT NULL AND last_seen >= $2 AND first_seen < $3 AND ($4::text IS NULL OR segment = $4) "
        "GROUP BY path ORDER BY 2 DESC, 1 LIMIT $5",
        tenant, since, until, segment, top,
    )  # fmt: skip
    return {
        "from": since,
        "to": until,
        "segment": segment,
        "edges": [dict(e) for e in edges],
        "top_paths": [{"stages": p["path"].split(">"), "customers": p["customers"]} for p in paths_],
    }


def _match(step: FunnelStep, alias: str, arg: str) -> str:
    if step.kind == "stage":
        return f"{alias}.stage = {arg}"
    # Only a name that feedback steps also take needs the kind: the name index does not hold it.
    kind = f" AND {alias}.kind = 'interaction'" if step.value.startswith(FEEDBACK_NAME_PREFIX) else ""
    return f"{alias}.name = {arg}{kind}"


def funnel_sql(steps: Sequence[FunnelStep]) -> str:
    """The funnel statement: $1 tenant, $2 since, $3 until, $4 window in microseconds, then each step's value.

    Step i's customers (f<i>) are ordered by customer: each step is a merge join of the previous step's customers with
    the name (or stage) index, which also yields each customer's occurrences in time order, so DISTINCT ON keeps the
    first. Per step: customers, and the lower and upper middle time from the previous step.
    """
    ctes = []
    for i, step in enumerate(steps, start=1):
        value = f"${i + 4}"
        if i == 1:
            # A window of days would follow the session's time zone across a DST change; microseconds are absolute.
            ctes.append(
                "f1 AS (SELECT DISTINCT ON (s.customer_id) s.customer_id, s.at AS t, "
                "s.at + $4::bigint * interval '1 microsecond' AS deadline FROM steps s "
                f"WHERE s.tenant_id = $1 AND {_match(step, 's', value)} AND s.at >= $2 AND s.at < $3 "
                "ORDER BY s.customer_id, s.at)"
            )
        else:
            ctes.append(
                f"f{i} AS (SELECT DISTINCT ON (p.customer_id) p.customer_id, s.at AS t, p.deadline, s.at - p.t AS dt "
                f"FROM f{i - 1} p JOIN steps s ON s.tenant_id = $1 AND s.customer_id = p.customer_id "
                f"AND {_match(step, 's', value)} AND s.at > p.t AND s.at <= p.deadline ORDER BY p.customer_id, s.at)"
            )
    # The two middle times from one sort (an array in time order): their mean is the median, as statistics.median.
    selects = [
        "SELECT 1 AS i, count(*)::int AS n, NULL::interval AS lower_middle, NULL::interval AS upper_middle FROM f1"
    ]
    selects += [
        f"SELECT {i}, n, d[(n + 1) / 2], d[n / 2 + 1] FROM (SELECT count(*)::int AS n, array_agg(dt ORDER BY dt) AS d "
        f"FROM f{i}) AS m{i}"
        for i in range(2, len(steps) + 1)
    ]
    return f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)} ORDER BY i"


async def funnel(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    steps: Sequence[FunnelStep],
    within: timedelta,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """Customers reaching each step in order within `within` of entering: counts, conversion, median time, drop-off.

    A customer enters at the first step-1 occurrence in the period; each next step counts at its first occurrence
    strictly after the previous one and within `within` of the entry — the same rule as `domain.funnels.funnel`.
    """
    pg = await driver(conn)
    # Each step's customers are kept for the next step and for the counts: in memory, not spilled to disk. The plan
    # is made for the values at hand: the generic plan a prepared statement switches to after five runs knows neither
    # the period nor how common each step is, and ran several times slower.
    await pg.execute("SET LOCAL work_mem = '64MB'; SET LOCAL plan_cache_mode = force_custom_plan")
    rows = await pg.fetch(
        funnel_sql(steps), tenant, since, until, within // timedelta(microseconds=1), *(s.value for s in steps)
    )
    counts = [r["n"] for r in rows]
    out = []
    for i, (step, row) in enumerate(zip(steps, rows, strict=True)):
        previous = counts[i - 1] if i else None
        # As statistics.median of the seconds: the mean of the two middle ones (the middle one twice for an odd count).
        median = (
            (row["lower_middle"].total_seconds() + row["upper_middle"].total_seconds()) / 2 if i and row["n"] else None
        )
        out.append(
            {
                "step": {"kind": step.kind, "value": step.value},
                "entered": row["n"],
                "conversion_rate": round(row["n"] / previous, 4) if previous else None,
                "median_seconds_to_convert": median,
                "drop_off": row["n"] - counts[i + 1] if i + 1 < len(counts) else 0,
            }
        )
    overall = round(counts[-1] / counts[0], 4) if counts and counts[0] else None
    return {"from": since, "to": until, "within_seconds": within.total_seconds(), "steps": out,
            "overall_conversion": overall}  # fmt: skip


async def journeys_in(
    conn: AsyncConnection, tenant: uuid.UUID, since: datetime, until: datetime, lookback: timedelta
) -> tuple[dict[str, list[Step]], dict[str, float]]:
    """The journeys of customers active in a period (at most MAX_CUSTOMERS, most recent first) and their values."""
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT c.id, p.value FROM customers c LEFT JOIN profiles p ON p.id = c.id WHERE c.tenant_id = $1 "
        "AND NOT c.erased AND c.last_seen >= $2 AND c.first_seen < $3 ORDER BY c.last_seen DESC LIMIT $4",
        tenant, since - lookback, until, MAX_CUSTOMERS,
    )  # fmt: skip
    ids = [r["id"] for r in rows]
    journeys = await journeys_of(conn, tenant, ids)
    values = {str(r["id"]): float(r["value"]) for r in rows if r["value"] is not None}
    return {str(k): v for k, v in journeys.items()}, values


async def stages(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    stage_map: StageMap,
    since: datetime,
    until: datetime,
    now: datetime,
    abandon_after: timedelta,
    contact_window: timedelta,
) -> list[StageStats]:
    """Per-stage metrics of visits entered in the period."""
    journeys, values = await journeys_in(conn, tenant, since, until, abandon_after)
    return stage_stats(
        journeys, stage_map, since=since, until=until, now=now, abandon_after=abandon_after,
        contact_window=contact_window, values=values,
    )  # fmt: skip


async def contacts(
    conn: AsyncConnection, tenant: uuid.UUID, stage_map: StageMap, since: datetime, until: datetime, window: timedelta
) -> dict[str, Any]:
    """First-contact resolution over the period's support contacts."""
    journeys, _ = await journeys_in(conn, tenant, since, until, window)
    stats = repeat_contacts(journeys, stage_map, window=window, since=since, until=until)
    return dataclasses.asdict(stats)


def stats_out(s: StageStats) -> dict[str, Any]:
    """The public shape of a stage's metrics."""
    return dataclasses.asdict(s)


async def friction(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    stage_map: StageMap,
    since: datetime,
    until: datetime,
    now: datetime,
    abandon_after: timedelta,
    contact_window: timedelta,
) -> list[dict[str, Any]]:
    """Friction points of the period, largest impact first, with their evidence."""
    computed = await stages(conn, tenant, stage_map, since, until, now, abandon_after, contact_window)
    return [dataclasses.asdict(p) for p in friction_points(computed)]


async def at_risk(conn: AsyncConnection, tenant: uuid.UUID, level: str | None, limit: int) -> list[dict[str, Any]]:
    """Customers at risk of churning, riskiest first, with reasons and value at stake."""
    rows = await (await driver(conn)).fetch(
        "SELECT c.id, c.current_stage, c.risk_score, c.risk_level, c.risk_reasons::text AS reasons, c.risk_at, "
        "c.last_seen, p.value, p.segment FROM customers c LEFT JOIN profiles p ON p.id = c.id "
        "WHERE c.tenant_id = $1 AND NOT c.erased AND c.risk_level IS NOT NULL AND c.risk_level <> 'low' "
        "AND ($2::text IS NULL OR c.risk_level = $2) ORDER BY c.risk_score DESC, c.id LIMIT $3",
        tenant, level, limit,
    )  # fmt: skip
    return [
        {
            "customer_id": r["id"], "score": r["risk_score"], "level": r["risk_level"],
            "reasons": orjson.loads(r["reasons"]), "as_of": r["risk_at"], "current_stage": r["current_stage"],
            "last_seen": r["last_seen"], "value": r["value"], "segment": r["segment"],
        }
        for r in rows
    ]  # fmt: skip


async def risk_backtest(
    conn: AsyncConnection, tenant: uuid.UUID, stage_map: StageMap, cutoff: datetime, horizon: timedelta, threshold: str
) -> dict[str, Any]:
    """How well the risk as of `cutoff` foresaw the customers who churned within `horizon` after it."""
    journeys, _ = await journeys_in(conn, tenant, cutoff - timedelta(days=365), cutoff + horizon, timedelta(0))
    result = backtest(journeys, stage_map, cutoff=cutoff, horizon=horizon, threshold=threshold)
    return dataclasses.asdict(result)
