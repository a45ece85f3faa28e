"""Placing interactions and analysed feedback on customers' timelines, and what follows: stage entries, churn risk."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.db import driver, lock_ids
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_all
from cxm_common.observability import current_traceparent
from cxm_common.projections import project
from cxm_journey import contracts as c
from cxm_journey.domain.churn import churn_risk
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP, StageMap, parse_stage_map, stage_of
from cxm_journey.projections import JOURNEY_READ_MODELS, RECOMPUTED, Recomputed, journeys_of

STEPS_LOCK = "journey.steps:"
"""Scope of the per-customer locks under which journey records or re-derives a customer's steps."""
FEEDBACK_NAME_PREFIX = "feedback_"
"""A feedback step's name is this prefix and its channel."""


def event(
    type_: str,
    tenant: uuid.UUID,
    customer: str,
    data: dict[str, Any],
    *,
    cause: Envelope | None = None,
    traceparent: str | None = None,
) -> Envelope:
    """One of journey's events on a customer's stream (in the current trace unless `traceparent` is given)."""
    return Envelope(
        type=type_, source=c.SOURCE, subject=customer, tenant_id=tenant, data=data,
        correlation_id=cause.correlation_id if cause else None, causation_id=cause.id if cause else None,
        traceparent=traceparent or current_traceparent(),
    )  # fmt: skip


def customer_of(event_: Envelope) -> str | None:
    """The customer an interaction or analysed feedback is about (the consumers' lane key)."""
    customer = event_.data.get("customer_id")
    return customer if isinstance(customer, str) else None


class StageMaps:
    """Each tenant's current stage map (the default until the tenant saves one), cached by version."""

    def __init__(self) -> None:
        self._cache: dict[tuple[uuid.UUID, int], StageMap] = {}

    async def current(self, conn: AsyncConnection, tenant: uuid.UUID) -> StageMap:
        """The tenant's current stage map."""
        row = await (await driver(conn)).fetchrow(
            "SELECT version, definition::text AS d FROM stage_maps WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
            tenant,
        )
        if row is None:
            return DEFAULT_STAGE_MAP
        key = (tenant, row["version"])
        if key not in self._cache:
            self._cache[key] = parse_stage_map(orjson.loads(row["d"]), row["version"])
        return self._cache[key]


def interaction_step(event_: Envelope, stage_map: StageMap) -> dict[str, Any]:
    """The step data of an `ingest.interaction.recorded` event."""
    d = event_.data
    touchpoint = (d.get("properties") or {}).get("touchpoint") if isinstance(d.get("properties"), dict) else None
    return {
        "customer_id": d["customer_id"],
        "step_id": f"i:{d['interaction_id']}",
        "kind": "interaction",
        "name": d["name"],
        "channel": d.get("channel"),
        "touchpoint": touchpoint if isinstance(touchpoint, str) else None,
        "at": d.get("occurred_at") or event_.time.isoformat(),
        "stage": stage_of(stage_map, kind="interaction", name=d["name"], touchpoint=touchpoint),
        "stage_map_version": stage_map.version,
    }


def feedback_step(event_: Envelope, stage_map: StageMap) -> dict[str, Any] | None:
    """The step data of an `insight.feedback.analyzed` event (None for anonymous feedback: it has no journey)."""
    d = event_.data
    if not d.get("customer_id"):
        return None
    scores = d.get("scores") or {}
    return {
        "customer_id": d["customer_id"],
        "step_id": f"f:{d['feedback_id']}",
        "kind": "feedback",
        "name": f"{FEEDBACK_NAME_PREFIX}{d.get('channel') or 'other'}",
        "channel": d.get("channel"),
        "touchpoint": d.get("touchpoint"),
        "at": d["occurred_at"],
        "stage": stage_of(stage_map, kind="feedback", name=None, touchpoint=d.get("touchpoint")),
        "stage_map_version": stage_map.version,
        "nps": scores.get("nps"),
        "csat": scores.get("csat"),
        "ces": scores.get("ces"),
        "sentiment": {k: (d.get("sentiment") or {}).get(k) for k in ("label", "score")},
        "intent": d.get("intent"),
        "topics": [t["topic"] for t in d.get("topics") or []],
    }


class Timeline:
    """Consumer handlers that record steps and derive stage entries and churn-risk changes."""

    def __init__(self, stage_maps: StageMaps, *, now: Callable[[], datetime] | None = None) -> None:
        self.stage_maps = stage_maps
        self.now = now or (lambda: datetime.now(UTC))

    async def on_events(self, conn: AsyncConnection, events: list[Envelope]) -> None:
        """Batch handler for interactions and analysed feedback of one tenant."""
        tenant = events[0].tenant_id
        stage_map = await self.stage_maps.current(conn, tenant)
        steps: list[tuple[Envelope, dict[str, Any], uuid.UUID]] = []
        for e in events:
            data = interaction_step(e, stage_map) if e.type == c.INTERACTION_RECORDED else feedback_step(e, stage_map)
            if data is not None:
                steps.append((e, data, uuid.UUID(data["customer_id"])))
        if not steps:
            return
        customers = sorted({customer for _, _, customer in steps})
        await lock_ids(conn, customers, shared=True)  # serialised with an erasure of the same customer
        # Held to the commit: another transaction recording steps of the same customer (the feedback consumer,
        # another replica) recomputes their visits from every step after this one's are committed.
        await lock_ids(conn, customers, scope=STEPS_LOCK)
        before = await _summaries(conn, tenant, customers)
        erased = {customer for customer, row in before.items() if row["erased"]}
        if erased:  # their journey is gone
            steps = [step for step in steps if step[2] not in erased]
            customers = [customer for customer in customers if customer not in erased]
        if steps:
            await self.record(conn, tenant, [(e, d) for e, d, _ in steps], customers, before, stage_map)

    async def record(
        self,
        conn: AsyncConnection,
        tenant: uuid.UUID,
        steps: Sequence[tuple[Envelope, dict[str, Any]]],
        customers: Sequence[uuid.UUID],
        before: dict[uuid.UUID, Any],
        stage_map: StageMap,
    ) -> None:
        """Append steps of `customers` (as they were `before`), project them, then append what they cause."""
        conn.info.pop(RECOMPUTED, None)  # pooled connections keep `info`: only this transaction's loads may be used
        trace = current_traceparent()  # one span for the whole batch of the tenant
        recorded = [
            event(c.STEP_RECORDED, tenant, d["customer_id"], d, cause=cause, traceparent=trace) for cause, d in steps
        ]
        # The projection reads the events' data only: no versions or positions need to come back.
        await append_all(conn, _by_stream(recorded))
        await project(conn, [JOURNEY_READ_MODELS], recorded)
        await self.follow_up(conn, tenant, customers, before, stage_map)

    async def follow_up(
        self,
        conn: AsyncConnection,
        tenant: uuid.UUID,
        customers: Sequence[uuid.UUID],
        before: dict[uuid.UUID, Any],
        stage_map: StageMap | None = None,
    ) -> None:
        """Stage entries and churn-risk changes of customers whose steps changed."""
        stage_map = stage_map or await self.stage_maps.current(conn, tenant)
        found: dict[uuid.UUID, Recomputed] = conn.info.pop(RECOMPUTED, {})
        missing = [customer for customer in customers if customer not in found]
        if missing:
            found = {**found, **(await _load(conn, tenant, missing))}
        now = self.now()
        trace = current_traceparent()
        derived: list[Envelope] = []
        for customer in customers:
            old, new = before.get(customer), found[customer]
            old_stage = old["current_stage"] if old else None
            if new.current_stage and new.current_stage != old_stage:
                data = {"customer_id": str(customer), "stage": new.current_stage, "from_stage": old_stage,
                        "at": new.last_seen.isoformat() if new.last_seen else None}  # fmt: skip
                derived.append(event(c.STAGE_ENTERED, tenant, str(customer), data, traceparent=trace))
            risk = churn_risk(new.steps, stage_map, now=now, value=new.value)
            previous = (old["risk_level"] if old else None) or "low"
            if risk.level != previous:
                data = {
                    "customer_id": str(customer), "score": round(risk.score, 4), "level": risk.level,
                    "previous_level": previous, "reasons": [asdict(r) for r in risk.reasons], "value": new.value,
                }  # fmt: skip
                derived.append(event(c.CHURN_RISK_CHANGED, tenant, str(customer), data, traceparent=trace))
        if derived:
            await append_all(conn, _by_stream(derived))
            await project(conn, [JOURNEY_READ_MODELS], derived)


async def _summaries(conn: AsyncConnection, tenant: uuid.UUID, customers: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = await (await driver(conn)).fetch(
        "SELECT id, erased, current_stage, last_seen, risk_level FROM customers WHERE tenant_id = $1 "
        "AND id = ANY($2::uuid[])",
        tenant, list(customers),
    )  # fmt: skip
    return {r["id"]: r for r in rows}


async def _load(
    conn: AsyncConnection, tenant: uuid.UUID, customers: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Recomputed]:
    """Customers as stored, for a follow-up that no recompute in this transaction prepared."""
    journeys = await journeys_of(conn, tenant, customers)
    summaries = await _summaries(conn, tenant, customers)
    rows = await (await driver(conn)).fetch(
        "SELECT id, value FROM profiles WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND value IS NOT NULL",
        tenant, list(customers),
    )  # fmt: skip
    values = {r["id"]: float(r["value"]) for r in rows}
    found = {}
    for customer in customers:
        summary = summaries.get(customer)
        found[customer] = Recomputed(
            journeys[customer], summary["current_stage"] if summary else None,
            summary["last_seen"] if summary else None, values.get(customer),
        )  # fmt: skip
    return found


def _by_stream(events: Sequence[Envelope]) -> list[PendingAppend]:
    grouped: dict[str, list[Envelope]] = {}
    for e in events:
        grouped.setdefault(f"customer-{e.subject}", []).append(e)
    # Stream order: concurrent consumers touch shared streams' rows in the same order (no deadlock between them).
    return [PendingAppend(stream, grouped[stream], ANY_VERSION) for stream in sorted(grouped)]
