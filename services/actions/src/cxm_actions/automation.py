"""Consumers: keep the facts actions needs (feedback, interactions, risk, customers) and turn findings into items.

A detractor's feedback, an insight alert, a high churn risk or a friction point is a `Trigger`; the tenant's rules
(`domain.rules.propose`) say which items it calls for; an item is created unless an open one holds its
de-duplication key. Close-loop items carry a suggested next best action from the tenant's playbook.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions import contracts as c
from cxm_actions import items
from cxm_actions.domain.playbook import suggest
from cxm_actions.domain.rules import Trigger, propose
from cxm_common import newest
from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION

log = logging.getLogger(__name__)


class Automation:
    """Consumer handlers of actions."""

    def __init__(self, keyring: KeyRing, now: Callable[[], datetime], *, max_age: timedelta) -> None:
        self.keyring = keyring
        self.now = now
        self.max_age = max_age

    async def on_event(self, conn: AsyncConnection, event: Envelope) -> None:
        """Apply one consumed event: record its facts, then run the automation rules on it."""
        handler = {
            c.FEEDBACK_ANALYZED: self._feedback,
            c.ALERT_RAISED: self._alert,
            c.STEP_RECORDED: self._step,
            c.CHURN_RISK_CHANGED: self._risk,
            c.FRICTION_DETECTED: self._friction,
            c.CUSTOMER_UPDATED: self._customer,
            c.CUSTOMER_ERASED_INGEST: self._erased,
        }.get(event.type)
        if handler is None:
            return
        customer = event.data.get("customer_id")
        erasure = event.type == c.CUSTOMER_ERASED_INGEST
        if customer and not erasure and await self.keyring.erased(conn, [uuid.UUID(customer)]):
            return  # about a customer erased meanwhile: their facts are gone and must stay gone
        await handler(conn, event)

    async def _feedback(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        pg = await driver(conn)
        customer = uuid.UUID(d["customer_id"]) if d.get("customer_id") else None
        scores = d.get("scores") or {}
        sentiment = d.get("sentiment") or {}
        text = d.get("text")
        pii = None
        if text:
            [section] = await self.keyring.seal_many(
                conn, event.tenant_id, [(customer or uuid.UUID(d["feedback_id"]), {"text": text})]
            )
            pii = orjson.dumps(section).decode()
        revision = int(d.get("revision") or 1)
        previous = await pg.fetchval(
            "SELECT revision FROM feedback_facts WHERE tenant_id = $1 AND feedback_id = $2",
            event.tenant_id, uuid.UUID(d["feedback_id"]),
        )  # fmt: skip
        await pg.execute(
            "INSERT INTO feedback_facts (feedback_id, tenant_id, customer_id, occurred_at, channel, nps, csat, "
            "sentiment_label, sentiment_score, intent, topics, revision, pii) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb) "
            "ON CONFLICT (feedback_id) DO UPDATE SET sentiment_label = excluded.sentiment_label, "
            "sentiment_score = excluded.sentiment_score, intent = excluded.intent, topics = excluded.topics, "
            "revision = excluded.revision, pii = coalesce(excluded.pii, feedback_facts.pii) "
            "WHERE feedback_facts.revision < excluded.revision",
            uuid.UUID(d["feedback_id"]), event.tenant_id, customer, datetime.fromisoformat(d["occurred_at"]),
            d.get("channel"), scores.get("nps"), scores.get("csat"), sentiment.get("label"), sentiment.get("score"),
            d.get("intent"), [t["topic"] for t in d.get("topics") or []], revision, pii,
        )  # fmt: skip
        if previous is not None or customer is None:
            return  # a re-analysis is not new feedback; anonymous feedback has no one to call back
        occurred = datetime.fromisoformat(d["occurred_at"])
        if occurred < self.now() - self.max_age:
            return  # imported history: too old to call anyone back about
        topics = [t["topic"] for t in d.get("topics") or []]
        data = {
            "feedback_id": d["feedback_id"], "nps": scores.get("nps"), "csat": scores.get("csat"),
            "channel": d.get("channel"), "topics": topics, "intent": d.get("intent"),
            "sentiment_label": sentiment.get("label"),
        }  # fmt: skip
        # The SLA clock starts when cxm learns of the feedback, not when it was given.
        trigger = Trigger("detractor_feedback", str(event.id), self.now(), str(customer), data)
        await self._run(conn, event, trigger, topics=topics, intent=d.get("intent"), signals=[])

    async def _alert(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        data = {k: d.get(k) for k in ("alert_id", "kind", "key", "severity", "evidence")}
        await self._run(conn, event, Trigger("alert", str(event.id), self.now(), None, data))

    async def _friction(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        data = {k: d.get(k) for k in ("friction_id", "kind", "key", "impact", "value_at_stake")}
        await self._run(conn, event, Trigger("friction", str(event.id), self.now(), None, data))

    async def _risk(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        await (await driver(conn)).execute(
            "INSERT INTO risks (customer_id, tenant_id, score, level, reasons, at) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6) "
            "ON CONFLICT (customer_id) DO UPDATE SET score = excluded.score, level = excluded.level, "
            "reasons = excluded.reasons, at = excluded.at WHERE risks.at <= excluded.at",
            uuid.UUID(d["customer_id"]), event.tenant_id, float(d["score"]), d["level"],
            orjson.dumps(d.get("reasons") or []).decode(), event.time,
        )  # fmt: skip
        if d.get("level") != "high":
            return
        signals = [r.get("signal") for r in d.get("reasons") or [] if isinstance(r, dict)]
        if "churned" in signals:
            return  # already gone: winning them back is another play than retention outreach
        data = {k: d.get(k) for k in ("score", "level", "reasons", "value")}
        trigger = Trigger("churn_risk_high", str(event.id), self.now(), d["customer_id"], data)
        await self._run(conn, event, trigger, signals=[s for s in signals if isinstance(s, str)])

    async def _step(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        if d.get("kind") != "interaction":
            return
        await (await driver(conn)).execute(
            "INSERT INTO interaction_facts (step_id, tenant_id, customer_id, at, name, channel, stage) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (step_id) DO UPDATE SET stage = excluded.stage",
            d["step_id"], event.tenant_id, uuid.UUID(d["customer_id"]), datetime.fromisoformat(d["at"]),
            d.get("name"), d.get("channel"), d.get("stage"),
        )  # fmt: skip

    async def _customer(self, conn: AsyncConnection, event: Envelope) -> None:
        attributes = event.data.get("attributes") or {}
        changes: dict[str, Any] = {k: _text(attributes.get(k)) for k in ("segment", "team", "owner")}
        value = attributes.get("value")
        changes["value"] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return
        pg = await driver(conn)
        customer = uuid.UUID(event.data["customer_id"])
        row = await pg.fetchrow(
            "SELECT value, segment, team, owner, versions::text AS v FROM profiles WHERE customer_id = $1 FOR UPDATE",
            customer,
        )
        current = {k: row[k] for k in ("value", "segment", "team", "owner")} if row else {}
        versions = orjson.loads(row["v"]) if row else {}
        kept, versions = newest.merge(current, versions, changes, event.aggregate_version)
        await pg.execute(
            "INSERT INTO profiles (customer_id, tenant_id, value, segment, team, owner, versions) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (customer_id) DO UPDATE SET "
            "value = excluded.value, segment = excluded.segment, team = excluded.team, owner = excluded.owner, "
            "versions = excluded.versions",
            customer, event.tenant_id, kept.get("value"), kept.get("segment"), kept.get("team"),
            kept.get("owner"), orjson.dumps(versions).decode(),
        )  # fmt: skip

    async def _erased(self, conn: AsyncConnection, event: Envelope) -> None:
        d = event.data
        everyone = [uuid.UUID(x) for x in [d["customer_id"], *(d.get("merged_ids") or [])]]
        for subject in everyone:
            await self.keyring.destroy(conn, subject, event.tenant_id)
        pg = await driver(conn)
        t = event.tenant_id
        for table in ("feedback_facts", "interaction_facts", "risks"):
            await pg.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])", t, everyone)
        # The profile stays as a tombstone: an older update arriving after the erasure must not bring it back.
        await pg.execute(
            "INSERT INTO profiles (customer_id, tenant_id, versions) SELECT id, $1, $3::jsonb "
            "FROM unnest($2::uuid[]) AS u(id) ON CONFLICT (customer_id) DO UPDATE SET value = NULL, segment = NULL, "
            "team = NULL, owner = NULL, versions = excluded.versions",
            t, everyone, orjson.dumps(newest.reset({}, event.aggregate_version)).decode(),
        )  # fmt: skip
        data = {"customer_id": d["customer_id"], "erasure_id": d.get("erasure_id"),
                "merged_ids": [str(m) for m in everyone[1:]]}  # fmt: skip
        stream = f"customer-{d['customer_id']}"
        await items.append(conn, stream, [items.event(c.CUSTOMER_ERASED, t, stream, data, cause=event)], ANY_VERSION)

    async def _run(
        self,
        conn: AsyncConnection,
        cause: Envelope,
        trigger: Trigger,
        *,
        topics: list[str] | None = None,
        intent: str | None = None,
        signals: list[str] | None = None,
    ) -> None:
        """Create the items the tenant's rules call for (skipping those an open item already covers)."""
        tenant = cause.tenant_id
        _, rules = await items.current_rules(conn, tenant)
        proposals = propose(rules, trigger)
        if not proposals:
            return
        _, playbook = await items.current_playbook(conn, tenant)
        owners = await _profile(conn, tenant, trigger.customer_id)
        for p in proposals:
            suggestion = None
            if p.kind == "close_loop":
                play = suggest(playbook, topics=topics or [], intent=intent, signals=signals or [])
                if play is not None:
                    suggestion = {"play_id": play.id, "action": play.action}
            item = items.NewItem(
                kind=p.kind, title=p.title, description=p.description, priority=p.priority,
                owner=p.owner or owners.get("owner"), team=p.team or owners.get("team"), due_at=p.due_at,
                customer_id=uuid.UUID(p.customer_id) if p.customer_id else None, links=p.links,
                dedupe_key=p.dedupe_key, rule_id=p.rule_id, suggestion=suggestion,
            )  # fmt: skip
            try:
                await items.create(conn, tenant, item, cause=cause)
            except items.Duplicate:
                log.debug("an open item already covers %s", p.dedupe_key)


async def _profile(conn: AsyncConnection, tenant: uuid.UUID, customer: str | None) -> dict[str, Any]:
    if customer is None:
        return {}
    row = await (await driver(conn)).fetchrow(
        "SELECT team, owner FROM profiles WHERE tenant_id = $1 AND customer_id = $2", tenant, uuid.UUID(customer)
    )
    return dict(row) if row else {}


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)[:128]
