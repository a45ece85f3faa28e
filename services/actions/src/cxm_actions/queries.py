"""Actions' read side: items with their history and context card, impact, SLA report, playbook results."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions.domain.impact import Impact, Observation, measure, recovered
from cxm_actions.domain.lifecycle import ActionState
from cxm_actions.domain.playbook import PlayOutcome, play_stats
from cxm_actions.domain.sla import sla_report
from cxm_actions.items import state_of
from cxm_common.crypto import KeyRing, unseal
from cxm_common.db import driver
from cxm_common.pagination import cursor_time, decode_cursor, encode_cursor

_ITEM = (
    "id, kind, title, description, status, priority, owner, team, due_at, customer_id, links::text AS links, "
    "root_cause, dedupe_key, rule_id, play_id, suggestion, suggestion_used, created_at, updated_at, "
    "first_response_at, resolved_at, breached_at"
)
CLOSED = ("resolved", "verified", "wont_fix")


def item_out(row: Any, now: datetime) -> dict[str, Any]:
    """The public shape of an item, with its SLA status."""
    out = {k: v for k, v in dict(row).items() if k not in ("links", "play_id", "suggestion", "suggestion_used")}
    out["links"] = orjson.loads(row["links"])
    out["suggestion"] = (
        {"play_id": row["play_id"], "action": row["suggestion"], "used": row["suggestion_used"]}
        if row["suggestion"] else None
    )  # fmt: skip
    due = row["due_at"]
    if row["breached_at"] is not None:
        sla = "breached"
    elif due is None:
        sla = "none"
    elif row["status"] in CLOSED:
        sla = "met" if row["resolved_at"] is None or row["resolved_at"] <= due else "breached"
    else:
        sla = "at_risk" if due - now < timedelta(hours=4) else "on_track"
    out["sla"] = {"status": sla, "due_at": due, "breached_at": row["breached_at"]}
    return out


def after_of(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The position a list cursor names (ValueError/KeyError/TypeError if it is not one of ours)."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    at = cursor_time(position["at"])
    return at, uuid.UUID(position["id"])


async def list_items(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    *,
    status: str | None,
    kind: str | None,
    owner: str | None,
    team: str | None,
    customer_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    now: datetime,
) -> dict[str, Any]:
    """Items newest first, filtered, after a cursor position."""
    after_time, after_id = after if after else (None, None)
    rows = await (await driver(conn)).fetch(
        f"SELECT {_ITEM} FROM actions WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) "
        "AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR owner = $4) AND ($5::text IS NULL OR team = $5) "
        "AND ($6::uuid IS NULL OR customer_id = $6) "
        "AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid)) "
        "ORDER BY created_at DESC, id DESC LIMIT $9",
        tenant, status, kind, owner, team, customer_id, after_time, after_id, limit + 1,
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor({"at": rows[-1]["created_at"].isoformat(), "id": str(rows[-1]["id"])}) if more and rows else None
    )
    return {"items": [item_out(r, now) for r in rows], "next_cursor": next_cursor}


async def item(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, action_id: uuid.UUID, now: datetime
) -> dict[str, Any] | None:
    """One item: its state, its full history (its events), its context card and impact."""
    row = await (await driver(conn)).fetchrow(
        f"SELECT {_ITEM} FROM actions WHERE tenant_id = $1 AND id = $2", tenant, action_id
    )
    if row is None:
        return None
    out = item_out(row, now)
    _, events = await state_of(conn, tenant, action_id)
    out["history"] = await _history(conn, keyring, events)
    if row["customer_id"] is not None:
        out["context"] = await context_card(conn, keyring, tenant, row["customer_id"], exclude=action_id)
    impact = await (await driver(conn)).fetchval(
        "SELECT result::text FROM impacts WHERE tenant_id = $1 AND action_id = $2", tenant, action_id
    )
    out["impact"] = orjson.loads(impact) if impact else None
    return out


async def _history(conn: AsyncConnection, keyring: KeyRing, events: Sequence[Any]) -> list[dict[str, Any]]:
    opened = await keyring.unseal_events(conn, events)
    return [
        {"id": e.id, "type": e.type, "at": e.time, "version": e.aggregate_version,
         "data": {k: v for k, v in e.data.items() if k != "action_id"}}
        for e in opened
    ]  # fmt: skip


async def context_card(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, customer: uuid.UUID, *, exclude: uuid.UUID | None
) -> dict[str, Any]:
    """All whoever follows up needs, so the customer never has to repeat themselves."""
    pg = await driver(conn)
    interactions = await pg.fetch(
        "SELECT at, name, channel, stage FROM interaction_facts WHERE tenant_id = $1 AND customer_id = $2 "
        "ORDER BY at DESC LIMIT 20",
        tenant, customer,
    )  # fmt: skip
    feedback = await pg.fetch(
        "SELECT feedback_id, occurred_at, channel, nps, csat, sentiment_label, sentiment_score, intent, topics, "
        "pii::text AS pii FROM feedback_facts WHERE tenant_id = $1 AND customer_id = $2 "
        "ORDER BY occurred_at DESC LIMIT 10",
        tenant, customer,
    )  # fmt: skip
    sections = [orjson.loads(f["pii"]) if f["pii"] else None for f in feedback]
    subjects = {uuid.UUID(s["subject"]) for s in sections if s}
    keys = await keyring.keys(conn, None, subjects, create=False) if subjects else {}
    texts = [
        unseal(keys.get(uuid.UUID(s["subject"])), s["fields"]["text"], uuid.UUID(s["subject"]))
        if s and "text" in s.get("fields", {}) else None
        for s in sections
    ]  # fmt: skip
    risk = await pg.fetchrow(
        "SELECT score, level, reasons::text AS reasons, at FROM risks WHERE tenant_id = $1 AND customer_id = $2",
        tenant, customer,
    )  # fmt: skip
    others = await pg.fetch(
        "SELECT id, kind, title, status, created_at FROM actions WHERE tenant_id = $1 AND customer_id = $2 "
        "AND ($3::uuid IS NULL OR id <> $3) AND status NOT IN ('resolved', 'verified', 'wont_fix') "
        "ORDER BY created_at DESC LIMIT 10",
        tenant, customer, exclude,
    )  # fmt: skip
    value = await pg.fetchval("SELECT value FROM profiles WHERE tenant_id = $1 AND customer_id = $2", tenant, customer)
    scores = [f["sentiment_score"] for f in reversed(feedback) if f["sentiment_score"] is not None]
    return {
        "customer_id": customer,
        "value": value,
        "channels": sorted(
            {i["channel"] for i in interactions if i["channel"]} | {f["channel"] for f in feedback if f["channel"]}
        ),
        "interactions": [dict(i) for i in interactions],
        "feedback": [
            {
                "feedback_id": f["feedback_id"],
                "at": f["occurred_at"],
                "channel": f["channel"],
                "scores": {"nps": f["nps"], "csat": f["csat"]},
                "sentiment": {"label": f["sentiment_label"], "score": f["sentiment_score"]},
                "intent": f["intent"],
                "topics": list(f["topics"]),
                "text": text,
            }
            for f, text in zip(feedback, texts, strict=True)
        ],
        "sentiment_trend": {"scores": scores, "direction": _direction(scores)},
        "churn_risk": {
            "score": risk["score"],
            "level": risk["level"],
            "reasons": orjson.loads(risk["reasons"]),
            "as_of": risk["at"],
        }
        if risk
        else None,
        "open_items": [dict(o) for o in others],
    }


def _direction(scores: list[float]) -> str:
    if len(scores) < 2:
        return "unknown"
    half = len(scores) // 2
    first, last = sum(scores[:half]) / half, sum(scores[half:]) / (len(scores) - half)
    if last - first > 0.2:
        return "improving"
    if first - last > 0.2:
        return "worsening"
    return "stable"


async def observations_for(
    conn: AsyncConnection, tenant: uuid.UUID, links: dict[str, str], since: datetime, until: datetime
) -> list[Observation]:
    """Feedback around a pivot, marked treated when it concerns what the item changed (its topic, or its stage)."""
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT f.feedback_id, f.customer_id, f.occurred_at, f.nps, f.csat, f.sentiment_label, f.topics, p.value "
        "FROM feedback_facts f LEFT JOIN profiles p ON p.customer_id = f.customer_id "
        "WHERE f.tenant_id = $1 AND f.occurred_at >= $2 AND f.occurred_at < $3",
        tenant, since, until,
    )  # fmt: skip
    topic = links.get("topic")
    stage_customers: set[uuid.UUID] = set()
    if not topic and links.get("stage"):
        stage_customers = {
            r["customer_id"]
            for r in await pg.fetch(
                "SELECT DISTINCT customer_id FROM interaction_facts WHERE tenant_id = $1 AND stage = $2 "
                "AND at >= $3 AND at < $4",
                tenant, links["stage"], since, until,
            )
        }  # fmt: skip
    out = []
    for r in rows:
        treated = topic in r["topics"] if topic else r["customer_id"] in stage_customers
        out.append(
            Observation(
                unit=str(r["customer_id"] or r["feedback_id"]), at=r["occurred_at"], treated=treated, nps=r["nps"],
                csat=r["csat"], negative=(r["sentiment_label"] == "negative") if r["sentiment_label"] else None,
                value=r["value"],
            )
        )  # fmt: skip
    return out


def default_metric(links: dict[str, str]) -> str:
    """What an item's impact is judged on by default: a theme's negativity, or a stage's detractors."""
    return "negative_share" if links.get("topic") else "detractor_share"


async def impact(
    conn: AsyncConnection, tenant: uuid.UUID, state: ActionState, metric: str | None, window: timedelta
) -> Impact | None:
    """The item's measured impact around its resolution (None while it is not resolved or links nothing)."""
    links = dict(state.links)
    if state.resolved_at is None or not (links.get("topic") or links.get("stage")):
        return None
    pivot = state.resolved_at
    observations = await observations_for(conn, tenant, links, pivot - window, pivot + window)
    return measure(observations, metric=metric or default_metric(links), pivot=pivot, window=window)


async def recoveries(conn: AsyncConnection, tenant: uuid.UUID, states: Sequence[ActionState]) -> dict[str, bool | None]:
    """For each resolved close-loop item, whether its customer's next feedback shows a recovery."""
    followed = [s for s in states if s.kind == "close_loop" and s.resolved_at and s.customer_id]
    if not followed:
        return {}
    rows = await (await driver(conn)).fetch(
        "SELECT customer_id, occurred_at, nps, csat, sentiment_label FROM feedback_facts WHERE tenant_id = $1 "
        "AND customer_id = ANY($2::uuid[]) ORDER BY occurred_at",
        tenant, list({uuid.UUID(s.customer_id) for s in followed if s.customer_id}),
    )  # fmt: skip
    by_customer: dict[str, list[Observation]] = {}
    for r in rows:
        by_customer.setdefault(str(r["customer_id"]), []).append(
            Observation(
                unit=str(r["customer_id"]),
                at=r["occurred_at"],
                treated=True,
                nps=r["nps"],
                csat=r["csat"],
                negative=(r["sentiment_label"] == "negative") if r["sentiment_label"] else None,
            )
        )
    out = {}
    for s in followed:
        assert s.resolved_at is not None and s.customer_id is not None
        later = [o for o in by_customer.get(s.customer_id, []) if o.at > s.resolved_at]
        out[s.id] = recovered(s.resolved_at, later)
    return out


async def states(conn: AsyncConnection, tenant: uuid.UUID, since: datetime | None) -> list[ActionState]:
    """Every item's state (from the read model) created since a time."""
    rows = await (await driver(conn)).fetch(
        "SELECT id, kind, status, priority, owner, team, due_at, customer_id, links::text AS links, root_cause, "
        "created_at, first_response_at, resolved_at, breached_at FROM actions WHERE tenant_id = $1 "
        "AND ($2::timestamptz IS NULL OR created_at >= $2)",
        tenant, since,
    )  # fmt: skip
    return [
        ActionState(
            id=str(r["id"]), kind=r["kind"], status=r["status"], priority=r["priority"], owner=r["owner"],
            team=r["team"], due_at=r["due_at"], customer_id=str(r["customer_id"]) if r["customer_id"] else None,
            links=orjson.loads(r["links"]), root_cause=r["root_cause"], created_at=r["created_at"],
            first_response_at=r["first_response_at"], resolved_at=r["resolved_at"], breached_at=r["breached_at"],
        )
        for r in rows
    ]  # fmt: skip


async def sla(conn: AsyncConnection, tenant: uuid.UUID, since: datetime | None, by: str) -> dict[str, Any]:
    """On-time rate, breaches, time to first response and to close, recovery rate — by team, kind or overall."""
    found = await states(conn, tenant, since)
    recovered_ = await recoveries(conn, tenant, found)
    return {"by": by, "since": since, "groups": [dataclasses.asdict(r) for r in sla_report(found, recovered_, by=by)]}


async def playbook_results(conn: AsyncConnection, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """How each play fared: suggested, used, followed up, recovered."""
    rows = await (await driver(conn)).fetch(
        "SELECT id, play_id, suggestion_used FROM actions WHERE tenant_id = $1 AND play_id IS NOT NULL", tenant
    )
    found = {s.id: s for s in await states(conn, tenant, None)}
    recovered_ = await recoveries(conn, tenant, [found[str(r["id"])] for r in rows if str(r["id"]) in found])
    outcomes = [
        PlayOutcome(
            play_id=r["play_id"], used=bool(r["suggestion_used"]),
            followed_up=found[str(r["id"])].resolved_at is not None, recovered=recovered_.get(str(r["id"])),
        )
        for r in rows
        if str(r["id"]) in found
    ]  # fmt: skip
    return [dataclasses.asdict(s) for s in play_stats(outcomes)]
