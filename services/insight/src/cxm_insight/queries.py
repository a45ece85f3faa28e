"""Insight's read side: analyses, tallies over a period, themes, alerts (metric series: `series.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing, unseal
from cxm_common.db import driver
from cxm_insight.domain.metrics import Tally
from cxm_insight.projections import TALLY_COLUMNS
from cxm_insight.series import utc_midnight


async def open_sections(conn: AsyncConnection, keyring: KeyRing, sections: list[Any]) -> list[dict[str, Any]]:
    """Open sealed `_pii` sections (as stored in read models) into their fields; {} where erased or absent."""
    parsed = [orjson.loads(s) if isinstance(s, str) else s for s in sections]
    subjects = {uuid.UUID(p["subject"]) for p in parsed if p}
    keys = await keyring.keys(conn, None, subjects, create=False) if subjects else {}
    opened = []
    for section in parsed:
        if not section:
            opened.append({})
            continue
        subject = uuid.UUID(section["subject"])
        key = keys.get(subject)
        if key is None:
            opened.append({})
            continue
        opened.append({name: unseal(key, token, subject) for name, token in section["fields"].items()})
    return opened


async def analysis(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, feedback_id: uuid.UUID
) -> dict[str, Any] | None:
    """One feedback's latest analysis, with its redacted text."""
    row = await (await driver(conn)).fetchrow(
        "SELECT feedback_id, customer_id, channel, source, touchpoint, occurred_at, analyzed_at, nps, csat, ces, "
        "result::text AS result, model_version, taxonomy_version, revision, pii::text AS pii "
        "FROM analyses WHERE tenant_id = $1 AND feedback_id = $2",
        tenant, feedback_id,
    )  # fmt: skip
    if row is None:
        return None
    [private] = await open_sections(conn, keyring, [row["pii"]])
    return analysis_out(row, orjson.loads(row["result"]), private)


def analysis_out(row: Any, result: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    """The public shape of an analysis."""
    evidence = private.get("evidence") or {}
    topics = [{**t, "evidence": evidence.get(t["topic"])} for t in result.get("topics") or []]
    return {
        "feedback_id": row["feedback_id"],
        "customer_id": row["customer_id"],
        "channel": row["channel"],
        "source": row["source"],
        "touchpoint": row["touchpoint"],
        "occurred_at": row["occurred_at"],
        "analyzed_at": row["analyzed_at"],
        "redacted_text": private.get("text"),
        "redactions": result.get("redactions") or {},
        "sentiment": result["sentiment"],
        "emotions": result.get("emotions") or {},
        "intent": result["intent"],
        "intent_scores": result.get("intent_scores") or {},
        "urgency": {"level": result["urgency"], "reason": result.get("urgency_reason")},
        "topics": topics,
        "scores": {"nps": row["nps"], "csat": row["csat"], "ces": row["ces"]},
        "model_version": row["model_version"],
        "taxonomy_version": row["taxonomy_version"],
        "tenant_model_version": result.get("tenant_model_version"),
        "revision": row["revision"],
    }


_SUMS = ", ".join(f"sum({col})::{'float8' if col.endswith('_sum') else 'int8'} AS {col}" for col in TALLY_COLUMNS)
_COLS = ", ".join(TALLY_COLUMNS)


async def tallies(
    conn: AsyncConnection, tenant: uuid.UUID, dim: str, since: datetime, until: datetime
) -> dict[str, Tally]:
    """Per key of a dimension, the tally over a period (hour-aligned): whole UTC days from the days, edges by hour."""
    first, last = utc_midnight(since, up=True), utc_midnight(until, up=False)
    if first >= last:
        first = last = since
    rows = await (await driver(conn)).fetch(
        f"SELECT key, {_SUMS} FROM ("
        f"SELECT key, {_COLS} FROM metric_days WHERE tenant_id = $1 AND dim = $2 AND day >= $5 AND day < $6 "
        f"UNION ALL SELECT key, {_COLS} FROM metric_buckets WHERE tenant_id = $1 AND dim = $2 "
        "AND ((bucket >= $3 AND bucket < $7) OR (bucket >= $8 AND bucket < $4))) AS x GROUP BY key",
        tenant, dim, since, until, first.date(), last.date(), first, last,
    )  # fmt: skip
    return {r["key"]: Tally(*(r[i] for i in range(1, 1 + len(TALLY_COLUMNS)))) for r in rows}


async def alerts(conn: AsyncConnection, tenant: uuid.UUID, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Alerts, newest first."""
    rows = await (await driver(conn)).fetch(
        "SELECT id, kind, key, status, severity, raised_at, updated_at, evidence::text AS evidence FROM alerts "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY raised_at DESC, id LIMIT $3",
        tenant, status, limit,
    )  # fmt: skip
    return [{**dict(r), "evidence": orjson.loads(r["evidence"])} for r in rows]


async def discovered_themes(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, status: str | None
) -> list[Any]:
    """Discovered themes with their top terms and example texts (redacted)."""
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT id, key, status, size, top_terms, example_ids, cohesion, discovered_at, topic_id FROM themes "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY discovered_at DESC LIMIT 100",
        tenant, status,
    )  # fmt: skip
    example_ids = list({i for r in rows for i in r["example_ids"]})
    texts = await redacted_texts(conn, keyring, tenant, example_ids)
    return [
        {
            "id": r["id"], "key": r["key"], "status": r["status"], "size": r["size"], "top_terms": list(r["top_terms"]),
            "examples": [{"feedback_id": i, "text": texts.get(i)} for i in r["example_ids"] if texts.get(i)],
            "cohesion": r["cohesion"], "discovered_at": r["discovered_at"], "topic_id": r["topic_id"],
        }
        for r in rows
    ]  # fmt: skip


async def redacted_texts(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The redacted texts of some feedback (those whose customer was erased are absent)."""
    if not ids:
        return {}
    rows = await (await driver(conn)).fetch(
        "SELECT feedback_id, pii::text AS pii FROM analyses WHERE tenant_id = $1 AND feedback_id = ANY($2::uuid[])",
        tenant, ids,
    )  # fmt: skip
    opened = await open_sections(conn, keyring, [r["pii"] for r in rows])
    return {r["feedback_id"]: o["text"] for r, o in zip(rows, opened, strict=True) if o.get("text")}
