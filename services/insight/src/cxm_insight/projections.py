"""Insight's read models, applied in the writer's transaction and rebuilt by `cxm replay insight`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import PII
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.projections import Projection
from cxm_insight import contracts as c
from cxm_insight.domain.metrics import Tally

ZERO = Tally()

TALLY_COLUMNS = (
    "count", "nps_n", "promoters", "detractors", "csat_n", "csat_sat", "ces_n", "ces_sum", "ces_easy",
    "sent_n", "sent_sum", "negative", "positive",
)  # fmt: skip
DIMENSIONS = ("all", "channel", "source", "topic", "segment", "agent", "team", "intent", "touchpoint")
# Alerts watch these dimensions (volume and negativity per topic, churn threats, the overall scores).
WATCHED = {"all", "topic", "intent"}

_ANALYSIS_SQL = """
    INSERT INTO analyses (feedback_id, tenant_id, customer_id, channel, source, touchpoint, segment, agent, team,
                          value, occurred_at, analyzed_at, nps, csat, ces, sentiment_label, sentiment_score, intent,
                          urgency, topics, result, model_version, taxonomy_version, revision, pii)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21::jsonb,
            $22, $23, $24, $25::jsonb)
    ON CONFLICT (feedback_id) DO UPDATE SET
        customer_id = excluded.customer_id, segment = excluded.segment, agent = excluded.agent, team = excluded.team,
        value = excluded.value, analyzed_at = excluded.analyzed_at, sentiment_label = excluded.sentiment_label,
        sentiment_score = excluded.sentiment_score, intent = excluded.intent, urgency = excluded.urgency,
        topics = excluded.topics, result = excluded.result, model_version = excluded.model_version,
        taxonomy_version = excluded.taxonomy_version, revision = excluded.revision, pii = excluded.pii
    WHERE analyses.revision < excluded.revision
"""
_BUCKET_SQL = f"""
    INSERT INTO metric_buckets (tenant_id, dim, key, bucket, {", ".join(TALLY_COLUMNS)})
    VALUES ($1, $2, $3, $4, {", ".join(f"${i}" for i in range(5, 5 + len(TALLY_COLUMNS)))})
    ON CONFLICT (tenant_id, dim, bucket, key) DO UPDATE SET
        {", ".join(f"{col} = metric_buckets.{col} + excluded.{col}" for col in TALLY_COLUMNS)}
"""
_DAY_SQL = f"""
    INSERT INTO metric_days (tenant_id, dim, key, day, {", ".join(TALLY_COLUMNS)})
    VALUES ($1, $2, $3, $4, {", ".join(f"${i}" for i in range(5, 5 + len(TALLY_COLUMNS)))})
    ON CONFLICT (tenant_id, dim, day, key) DO UPDATE SET
        {", ".join(f"{col} = metric_days.{col} + excluded.{col}" for col in TALLY_COLUMNS)}
"""
_CHECK_SQL = """
    INSERT INTO alert_checks (tenant_id, dim, key, bucket) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
"""


def hour(moment: datetime) -> datetime:
    """The UTC hour bucket a moment falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def dimensions(row: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (dimension, key) an analysis counts under."""
    keys = [("all", "all"), ("channel", row["channel"]), ("source", row["source"]), ("intent", row["intent"])]
    keys.extend(("topic", t) for t in row["topics"])
    for dim in ("segment", "agent", "team", "touchpoint"):
        if row.get(dim):
            keys.append((dim, str(row[dim])))
    return keys


def tally(row: dict[str, Any]) -> Tally:
    """The additive sums one analysis contributes to its buckets."""
    return Tally.from_feedback(row["nps"], row["csat"], row["ces"], row["sentiment_score"], row["sentiment_label"])


def _row(event: Envelope) -> dict[str, Any]:
    d = event.data
    scores = d.get("scores") or {}
    attributes = d.get("attributes") or {}
    value = attributes.get("value")
    return {
        "feedback_id": uuid.UUID(d["feedback_id"]),
        "customer_id": uuid.UUID(d["customer_id"]) if d.get("customer_id") else None,
        "channel": d["channel"],
        "source": d["source"],
        "touchpoint": d.get("touchpoint"),
        "segment": _text(attributes.get("segment")),
        "agent": _text(attributes.get("agent")),
        "team": _text(attributes.get("team")),
        "value": float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
        "occurred_at": datetime.fromisoformat(d["occurred_at"]),
        "nps": scores.get("nps"),
        "csat": scores.get("csat"),
        "ces": scores.get("ces"),
        "sentiment_label": d["sentiment"]["label"],
        "sentiment_score": float(d["sentiment"]["score"]),
        "intent": d["intent"],
        "urgency": d["urgency"],
        "topics": [t["topic"] for t in d.get("topics") or []],
        "revision": int(d["revision"]),
    }


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)[:128]


_RESULT_KEYS = (
    "sentiment", "emotions", "intent", "intent_scores", "urgency", "urgency_reason", "topics", "redactions",
    "tenant_model_version",
)  # fmt: skip


async def _apply_analyses(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Upsert the latest analysis of each feedback and move its tallies between buckets."""
    pg = await driver(conn)
    tenant = events[0].tenant_id
    rows = [(e, _row(e)) for e in events]
    ids = list({r["feedback_id"] for _, r in rows})
    previous = {
        p["feedback_id"]: dict(p)
        for p in await pg.fetch(
            "SELECT feedback_id, channel, source, touchpoint, segment, agent, team, occurred_at, nps, csat, ces, "
            "sentiment_label, sentiment_score, intent, topics, revision FROM analyses "
            "WHERE tenant_id = $1 AND feedback_id = ANY($2::uuid[]) FOR UPDATE",
            tenant, ids,
        )
    }  # fmt: skip
    deltas: dict[tuple[str, str, datetime], Tally] = {}
    upserts = []
    for event, row in rows:
        old = previous.get(row["feedback_id"])
        if old is not None and old["revision"] >= row["revision"]:
            continue  # an older analysis arriving late changes nothing
        if old is not None:
            _move(deltas, old, sign=-1)
        _move(deltas, row, sign=1)
        previous[row["feedback_id"]] = row
        d = event.data
        section = d.get(PII)
        upserts.append(
            (
                row["feedback_id"], event.tenant_id, row["customer_id"], row["channel"], row["source"],
                row["touchpoint"], row["segment"], row["agent"], row["team"], row["value"], row["occurred_at"],
                event.recorded_at or event.time, row["nps"], row["csat"], row["ces"], row["sentiment_label"],
                row["sentiment_score"], row["intent"], row["urgency"], row["topics"],
                orjson.dumps({k: d.get(k) for k in _RESULT_KEYS}).decode(), d["model_version"],
                int(d["taxonomy_version"]), row["revision"], orjson.dumps(section).decode() if section else None,
            )
        )  # fmt: skip
    if upserts:
        await pg.executemany(_ANALYSIS_SQL, upserts)
    await _write_buckets(pg, tenant, deltas)


def _move(deltas: dict[tuple[str, str, datetime], Tally], row: dict[str, Any], *, sign: int) -> None:
    bucket = hour(row["occurred_at"])
    one = tally(row)
    for dim, key in dimensions(row):
        current = deltas.get((dim, key, bucket), ZERO)
        deltas[(dim, key, bucket)] = current.add(one) if sign > 0 else current.minus(one)


async def _write_buckets(pg: Any, tenant: uuid.UUID, deltas: dict[tuple[str, str, datetime], Tally]) -> None:
    changed = [(k, t) for k, t in deltas.items() if t != ZERO]
    if not changed:
        return
    # Sorted so concurrent writers lock bucket rows in the same order (no deadlock between two batches).
    changed.sort(key=lambda item: (item[0][0], item[0][2], item[0][1]))
    await pg.executemany(
        _BUCKET_SQL,
        [(tenant, dim, key, bucket, *_columns(t)) for (dim, key, bucket), t in changed],
    )
    days: dict[tuple[str, str, date], Tally] = {}
    for (dim, key, bucket), t in changed:
        day = bucket.astimezone(UTC).date()
        days[(dim, key, day)] = days.get((dim, key, day), ZERO).add(t)
    await pg.executemany(
        _DAY_SQL,
        [(tenant, dim, key, day, *_columns(t)) for (dim, key, day), t in sorted(days.items(), key=_day_order)],
    )
    checks = sorted({(dim, key, bucket) for (dim, key, bucket), _ in changed if dim in WATCHED})
    if checks:
        await pg.executemany(_CHECK_SQL, [(tenant, dim, key, bucket) for dim, key, bucket in checks])


def _day_order(item: tuple[tuple[str, str, date], Tally]) -> tuple[str, date, str]:
    (dim, key, day), _ = item
    return dim, day, key


def _columns(t: Tally) -> tuple[Any, ...]:
    values = t.as_dict()
    return tuple(values[col] for col in TALLY_COLUMNS)


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one of insight's own events to the read models."""
    await apply_many(conn, [event])


async def apply_many(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Apply events in order; runs of analyses of one tenant go through bulk statements."""
    run: list[Envelope] = []
    for event in events:
        if event.type == c.FEEDBACK_ANALYZED:
            if run and run[0].tenant_id != event.tenant_id:
                await _apply_analyses(conn, run)
                run = []
            run.append(event)
            continue
        if run:
            await _apply_analyses(conn, run)
            run = []
        await _apply_other(conn, event)
    if run:
        await _apply_analyses(conn, run)


async def _apply_other(conn: AsyncConnection, event: Envelope) -> None:
    pg = await driver(conn)
    d = event.data
    t = event.tenant_id
    when = event.recorded_at or event.time
    if event.type == c.TAXONOMY_UPDATED:
        await pg.execute(
            "INSERT INTO taxonomies (tenant_id, version, definition, created_at) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT DO NOTHING",
            t, int(d["version"]), orjson.dumps({"topics": d["topics"]}).decode(), when,
        )  # fmt: skip
    elif event.type == c.OBJECTIVES_UPDATED:
        await pg.execute(
            "INSERT INTO objectives (tenant_id, version, definition, created_at) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT DO NOTHING",
            t, int(d["version"]), orjson.dumps({"objectives": d["objectives"]}).decode(), when,
        )  # fmt: skip
    elif event.type == c.LABEL_RECORDED:
        section = d.get(PII)
        await pg.execute(
            "INSERT INTO labels (id, tenant_id, feedback_id, customer_id, sentiment, topics, created_at, pii) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT DO NOTHING",
            uuid.UUID(d["label_id"]), t, _uuid(d.get("feedback_id")), _uuid(d.get("customer_id")),
            d.get("sentiment"), list(d.get("topics") or []), when,
            orjson.dumps(section).decode() if section else None,
        )  # fmt: skip
    elif event.type == c.ALERT_RAISED:
        await pg.execute(
            "INSERT INTO alerts (id, tenant_id, kind, key, dedupe_key, status, severity, raised_at, updated_at, "
            "evidence) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7, $8::jsonb) ON CONFLICT DO NOTHING",
            uuid.UUID(d["alert_id"]), t, d["kind"], d["key"], d["dedupe_key"], d["severity"], event.time,
            orjson.dumps(d["evidence"]).decode(),
        )  # fmt: skip
    elif event.type in (c.ALERT_ACKNOWLEDGED, c.ALERT_RESOLVED):
        status = "acknowledged" if event.type == c.ALERT_ACKNOWLEDGED else "resolved"
        await pg.execute(
            "UPDATE alerts SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
            t, uuid.UUID(d["alert_id"]), status, when,
        )  # fmt: skip
    elif event.type == c.THEME_DISCOVERED:
        await pg.execute(
            "INSERT INTO themes (id, tenant_id, key, status, size, top_terms, feedback_ids, example_ids, cohesion, "
            "discovered_at) VALUES ($1, $2, $3, 'proposed', $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            uuid.UUID(d["theme_id"]), t, d["key"], int(d["size"]), list(d["top_terms"]),
            [uuid.UUID(x) for x in d["feedback_ids"]], [uuid.UUID(x) for x in d["example_ids"]],
            float(d["cohesion"]), event.time,
        )  # fmt: skip
    elif event.type == c.THEME_ACCEPTED:
        await pg.execute(
            "UPDATE themes SET status = 'accepted', topic_id = $3 WHERE tenant_id = $1 AND id = $2",
            t, uuid.UUID(d["theme_id"]), d["topic_id"],
        )  # fmt: skip
    elif event.type == c.CUSTOMER_ERASED:
        await purge_customer(conn, t, [uuid.UUID(x) for x in [d["customer_id"], *d.get("merged_ids", [])]])


async def purge_customer(conn: AsyncConnection, tenant: uuid.UUID, customers: Iterable[uuid.UUID]) -> None:
    """Forget a customer's texts everywhere in insight's read models (tallies, which hold no text, stay)."""
    pg = await driver(conn)
    everyone = list(customers)
    await pg.execute(
        "UPDATE analyses SET pii = NULL, result = result - 'evidence' WHERE tenant_id = $1 AND customer_id = ANY($2)",
        tenant, everyone,
    )  # fmt: skip
    await pg.execute("DELETE FROM labels WHERE tenant_id = $1 AND customer_id = ANY($2)", tenant, everyone)
    await pg.execute("DELETE FROM embeddings WHERE tenant_id = $1 AND customer_id = ANY($2)", tenant, everyone)


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


INSIGHT_READ_MODELS = Projection(
    name="insight",
    tables=[
        "analyses",
        "metric_buckets",
        "metric_days",
        "alert_checks",
        "taxonomies",
        "objectives",
        "labels",
        "alerts",
        "themes",
    ],
    apply=apply,
    apply_many=apply_many,
)
