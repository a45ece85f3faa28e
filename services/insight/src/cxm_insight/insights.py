"""Insight's analytical answers: themes with trends, key drivers and what changed, stories, objectives, model state."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_insight.domain.drivers import breakdown, key_drivers, what_changed
from cxm_insight.domain.metrics import DEFINITION_VERSION, Tally
from cxm_insight.domain.objectives import WINDOWS, evaluate, parse_objectives
from cxm_insight.domain.stats import poisson_rates_two_sided
from cxm_insight.domain.stories import Sentence, build_story, sentences_of
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.learning import FORMAT as MODEL_FORMAT
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, parse_taxonomy
from cxm_insight.queries import open_sections, tallies

DRIVER_ROWS = 20_000
"""The most recent answers a driver analysis uses (bootstrapping more costs time and changes little)."""
TREND_ALPHA = 0.01


async def topic_names(conn: AsyncConnection, tenant: uuid.UUID) -> dict[str, str]:
    """Topic id → display name, from the tenant's taxonomy (every version, so renamed or removed topics keep a name)."""
    names = {t.id: t.name for t in DEFAULT_TAXONOMY.topics}
    rows = await (await driver(conn)).fetch(
        "SELECT version, definition::text AS d FROM taxonomies WHERE tenant_id = $1 ORDER BY version", tenant
    )
    for r in rows:
        names.update({t.id: t.name for t in parse_taxonomy(orjson.loads(r["d"]), r["version"]).topics})
    return names


def trend(current: int, previous: int) -> tuple[str, float]:
    """rising / falling / stable between two equal periods, by an exact test of the two counts."""
    p = poisson_rates_two_sided(current, previous, 1.0, 1.0)
    if p < TREND_ALPHA:
        return ("rising" if current > previous else "falling"), p
    return "stable", p


async def themes(conn: AsyncConnection, tenant: uuid.UUID, since: datetime, until: datetime) -> dict[str, Any]:
    """Every topic seen in the period: volume, share, sentiment, scores, trend against the previous period."""
    span = until - since
    now = await tallies(conn, tenant, "topic", since, until)
    before = await tallies(conn, tenant, "topic", since - span, since)
    total = (await tallies(conn, tenant, "all", since, until)).get("all", Tally())
    names = await topic_names(conn, tenant)
    samples = {
        r["topic"]: list(r["ids"] or [])
        for r in await (await driver(conn)).fetch(
            "SELECT t.topic, (SELECT array_agg(s.feedback_id) FROM (SELECT feedback_id FROM analyses "
            "WHERE tenant_id = $1 AND topics @> ARRAY[t.topic] AND occurred_at >= $2 AND occurred_at < $3 "
            "ORDER BY sentiment_score, occurred_at DESC LIMIT 5) s) AS ids FROM unnest($4::text[]) AS t(topic)",
            tenant, since, until, list(now),
        )
    }  # fmt: skip
    out = []
    for topic, tally in now.items():
        previous = before.get(topic, Tally())
        direction, p = trend(tally.count, previous.count)
        out.append(
            {
                "topic": topic,
                "name": names.get(topic, topic),
                "volume": tally.count,
                "share": _r(100.0 * tally.count / total.count) if total.count else None,
                "sentiment": _r(tally.value("sentiment")),
                "negative_share": _r(tally.value("negative_share")),
                "nps": _r(tally.value("nps")),
                "csat": _r(tally.value("csat")),
                "previous_volume": previous.count,
                "trend": direction,
                "trend_p_value": _r(p, 6),
                "sample_feedback_ids": samples.get(topic, []),
            }
        )
    out.sort(key=lambda t: -int(t["volume"]))
    return {"from": since, "to": until, "total": total.count, "definition_version": DEFINITION_VERSION, "themes": out}


async def _answers(
    conn: AsyncConnection, tenant: uuid.UUID, outcome: str, since: datetime, until: datetime
) -> tuple[list[float], list[list[str]]]:
    rows = await (await driver(conn)).fetch(
        f"SELECT {outcome} AS y, topics FROM analyses WHERE tenant_id = $1 AND occurred_at >= $2 "
        f"AND occurred_at < $3 AND {outcome} IS NOT NULL ORDER BY occurred_at DESC LIMIT $4",
        tenant, since, until, DRIVER_ROWS,
    )  # fmt: skip
    return [float(r["y"]) for r in rows], [list(r["topics"]) for r in rows]


def _matrix(topic_lists: list[list[str]], names: list[str]) -> np.ndarray:
    index = {n: j for j, n in enumerate(names)}
    x = np.zeros((len(topic_lists), len(names)), dtype=np.float64)
    for i, topics in enumerate(topic_lists):
        for t in topics:
            if t in index:
                x[i, index[t]] = 1.0
    return x


async def drivers(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    outcome: str,
    since: datetime,
    until: datetime,
    before: tuple[datetime, datetime] | None,
) -> dict[str, Any]:
    """Key drivers of NPS or CSAT in a period, and, given an earlier period, what changed between them."""
    assert outcome in ("nps", "csat")
    y, topic_lists = await _answers(conn, tenant, outcome, since, until)
    names = sorted({t for ts in topic_lists for t in ts})
    display = await topic_names(conn, tenant)
    analysis = await asyncio.to_thread(key_drivers, y, _matrix(topic_lists, names), names, scale=outcome)
    out: dict[str, Any] = {
        "outcome": outcome,
        "from": since,
        "to": until,
        "definition_version": DEFINITION_VERSION,
        "sampled": len(y) >= DRIVER_ROWS,
        **{k: v for k, v in dataclasses.asdict(analysis).items() if k != "drivers"},
        "drivers": [{**dataclasses.asdict(d), "name": display.get(d.topic, d.topic)} for d in analysis.drivers],
    }
    if before is not None:
        y0, lists0 = await _answers(conn, tenant, outcome, *before)
        all_names = sorted(set(names) | {t for ts in lists0 for t in ts})
        change = what_changed(
            breakdown(y0, _matrix(lists0, all_names), all_names, scale=outcome),
            breakdown(y, _matrix(topic_lists, all_names), all_names, scale=outcome),
            metric=outcome,
        )
        out["what_changed"] = {"from": before[0], "to": before[1], **dataclasses.asdict(change)}
    return out


async def story(
    conn: AsyncConnection,
    keyring: KeyRing,
    analyzer: Analyzer,
    tenant: uuid.UUID,
    topic: str,
    since: datetime,
    until: datetime,
) -> dict[str, Any] | None:
    """What customers say about a topic: representative sentences, counts, trend, value affected."""
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT a.feedback_id, a.customer_id, a.value, a.sentiment_label, a.pii::text AS pii FROM analyses a "
        "WHERE a.tenant_id = $1 AND a.topics @> ARRAY[$2::text] AND a.occurred_at >= $3 AND a.occurred_at < $4 "
        "ORDER BY a.occurred_at DESC LIMIT 500",
        tenant, topic, since, until,
    )  # fmt: skip
    if not rows:
        return None
    span = until - since
    counts = await pg.fetchrow(
        "SELECT count(*) FILTER (WHERE occurred_at >= $3) AS now, count(*) FILTER (WHERE occurred_at < $3) AS before "
        "FROM analyses WHERE tenant_id = $1 AND topics @> ARRAY[$2::text] AND occurred_at >= $4 AND occurred_at < $5",
        tenant, topic, since, since - span, until,
    )  # fmt: skip
    opened = await open_sections(conn, keyring, [r["pii"] for r in rows])
    sentences: list[Sentence] = []
    for r, o in zip(rows, opened, strict=True):
        text = (o.get("evidence") or {}).get(topic) or o.get("text")
        if text:
            customer = str(r["customer_id"]) if r["customer_id"] else None
            sentences.extend(sentences_of(str(r["feedback_id"]), text, customer))
    if not sentences:
        return None
    embeddings = await asyncio.to_thread(analyzer.encoder.encode, [x.text for x in sentences])
    values = {str(r["customer_id"]): float(r["value"]) for r in rows if r["customer_id"] and r["value"] is not None}
    built = build_story(
        sentences, embeddings, previous_count=int(counts["before"]), current_count=int(counts["now"]),
        customer_values=values,
    )  # fmt: skip
    by_text: dict[str, str] = {}
    for x in sentences:
        by_text.setdefault(x.text, x.feedback_id)
    result = {
        "sentences": [{"text": text, "feedback_id": by_text.get(text)} for text in built.sentences],
        "feedback_count": built.feedback_count,
        "customer_count": built.customer_count,
        "trend": dataclasses.asdict(built.trend),
        "value_affected": built.value_affected,
        "customers_with_value": built.customers_with_value,
    }
    names = await topic_names(conn, tenant)
    return {"topic": topic, "name": names.get(topic, topic), "from": since, "to": until, **result}


async def objectives(conn: AsyncConnection, tenant: uuid.UUID) -> dict[str, Any]:
    """The tenant's objectives, each with its current value, gap, trend and whether it drifted off target."""
    pg = await driver(conn)
    row = await pg.fetchrow(
        "SELECT version, definition::text AS d FROM objectives WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
        tenant,
    )
    if row is None:
        return {"version": 0, "objectives": []}
    items = parse_objectives(orjson.loads(row["d"]))
    out = []
    for objective in items:
        series = await objective_series(conn, tenant, objective)
        status = evaluate(objective, series)
        out.append({**objective.to_dict(), "status": dataclasses.asdict(status)})
    return {"version": row["version"], "definition_version": DEFINITION_VERSION, "objectives": out}


async def objective_series(
    conn: AsyncConnection, tenant: uuid.UUID, objective: Any
) -> list[tuple[datetime, float | None, int]]:
    """Daily values of an objective's metric over its last 12 windows (from the buckets of its filter)."""
    dim, key = next(iter(objective.filters.items()), ("all", "all"))
    days = WINDOWS[objective.window]
    latest = await (await driver(conn)).fetchval(
        "SELECT max(bucket) FROM metric_buckets WHERE tenant_id = $1 AND dim = $2 AND key = $3", tenant, dim, key
    )
    if latest is None:
        return []
    end = latest + timedelta(hours=1)
    points = []
    for i in range(12, 0, -1):
        start = end - timedelta(days=days * i)
        t = (await tallies(conn, tenant, dim, start, start + timedelta(days=days))).get(key, Tally())
        points.append((start, t.value(objective.metric), t.base(objective.metric)))
    return points


async def model_status(conn: AsyncConnection, tenant: uuid.UUID) -> dict[str, Any]:
    """The tenant's labels and learned model."""
    pg = await driver(conn)
    labels = await pg.fetchval("SELECT count(*) FROM labels WHERE tenant_id = $1", tenant)
    row = await pg.fetchrow(
        "SELECT version, labels, trained_at, report::text AS report FROM tenant_models WHERE tenant_id = $1", tenant
    )
    model = None
    if row is not None:
        model = {"version": row["version"], "labels": row["labels"], "trained_at": row["trained_at"],
                 "report": orjson.loads(row["report"])}  # fmt: skip
    current = model is not None and model["labels"] == labels and model["report"].get("format", 1) == MODEL_FORMAT
    return {"labels": labels, "model": model, "up_to_date": current}


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
