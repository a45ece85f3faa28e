"""Actions' read models, applied in the writer's transaction and rebuilt by `cxm replay actions`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions import contracts as c
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.projections import Projection

REOPENED = ("open", "in_progress")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one of actions' own events to the read models."""
    pg = await driver(conn)
    d = event.data
    t = event.tenant_id
    at = event.time
    if event.type == c.ACTION_CREATED:
        suggestion = d.get("suggestion") or {}
        await pg.execute(
            "INSERT INTO actions (id, tenant_id, kind, title, description, status, priority, owner, team, due_at, "
            "customer_id, links, dedupe_key, rule_id, play_id, suggestion, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $16) "
            "ON CONFLICT (id) DO NOTHING",
            uuid.UUID(d["action_id"]), t, d["kind"], d["title"], d.get("description") or "", d["priority"],
            d.get("owner"), d.get("team"), _time(d.get("due_at")),
            uuid.UUID(d["customer_id"]) if d.get("customer_id") else None, orjson.dumps(d.get("links") or {}).decode(),
            d.get("dedupe_key"), d.get("rule_id"), suggestion.get("play_id"), suggestion.get("action"), at,
        )  # fmt: skip
    elif event.type == c.ACTION_TRANSITIONED:
        to = d["to"]
        await pg.execute(
            """
            UPDATE actions SET
                status = $3,
                updated_at = $4,
                first_response_at = CASE WHEN first_response_at IS NULL AND $5 = 'open' THEN $4
                                         ELSE first_response_at END,
                resolved_at = CASE WHEN $3 = 'resolved' THEN $4 WHEN $3 = ANY($6::text[]) THEN NULL
                                   ELSE resolved_at END,
                root_cause = coalesce($7, root_cause),
                suggestion_used = coalesce($8, suggestion_used)
            WHERE tenant_id = $1 AND id = $2
            """,
            t, uuid.UUID(d["action_id"]), to, at, d["from"], list(REOPENED), d.get("root_cause"),
            d.get("suggestion_used"),
        )  # fmt: skip
    elif event.type == c.ACTION_ASSIGNED:
        await pg.execute(
            "UPDATE actions SET owner = $3, team = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
            t, uuid.UUID(d["action_id"]), d.get("owner"), d.get("team"), at,
        )  # fmt: skip
    elif event.type == c.ACTION_COMMENTED:
        await pg.execute(
            "UPDATE actions SET updated_at = $3 WHERE tenant_id = $1 AND id = $2", t, uuid.UUID(d["action_id"]), at
        )
    elif event.type == c.ACTION_SLA_BREACHED:
        await pg.execute(
            "UPDATE actions SET breached_at = $3 WHERE tenant_id = $1 AND id = $2",
            t, uuid.UUID(d["action_id"]), _time(d.get("breached_at")) or at,
        )  # fmt: skip
    elif event.type == c.IMPACT_MEASURED:
        await pg.execute(
            "INSERT INTO impacts (action_id, tenant_id, measured_at, result) VALUES ($1, $2, $3, $4::jsonb) "
            "ON CONFLICT (action_id) DO UPDATE SET measured_at = excluded.measured_at, result = excluded.result",
            uuid.UUID(d["action_id"]), t, event.recorded_at or at, orjson.dumps(d).decode(),
        )  # fmt: skip
    elif event.type in (c.RULES_UPDATED, c.PLAYBOOK_UPDATED):
        table = "rules" if event.type == c.RULES_UPDATED else "playbooks"
        body = {"rules": d["rules"]} if event.type == c.RULES_UPDATED else {"plays": d["plays"]}
        await pg.execute(
            f"INSERT INTO {table} (tenant_id, version, definition, created_at) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT DO NOTHING",
            t, int(d["version"]), orjson.dumps(body).decode(), event.recorded_at or at,
        )  # fmt: skip


async def apply_many(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Apply events in order."""
    for event in events:
        await apply(conn, event)


ACTIONS_READ_MODELS = Projection(
    name="actions",
    tables=["actions", "rules", "playbooks", "impacts"],
    apply=apply,
    apply_many=apply_many,
)
