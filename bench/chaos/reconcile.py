"""Reconciliation: what the harness had acknowledged against what every service stored, published and projected.

Stored and projected rows are read from the harness's own Postgres (as the owner, so row-level security hides
nothing); duplicates that leaked are effects applied twice, which only the event stores can tell: a second
analysis of one feedback, a second step for one interaction, a second action for one cause, tallies that count a
feedback twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nats

from bench.chaos.system import ChaosSystem
from bench.chaos.traffic import FEEDBACK, INTERACTION, Sent, Traffic, percentiles_ms
from cxm_common.jetstream import stream_name

SCHEMAS = ("ingest", "insight", "journey", "actions", "gateway")
ANALYZED = "insight.feedback.analyzed.v1"
STEP = "journey.step.recorded.v1"
ACTION_CREATED = "actions.action.created.v1"


@dataclass
class Baseline:
    """Where the stores and streams stood when a scenario began."""

    at: float
    positions: dict[str, int]
    stream_seqs: dict[str, int]


@dataclass
class Expected:
    """The records a scenario had acknowledged, by kind, with when each was acknowledged."""

    feedback: dict[uuid.UUID, Sent] = field(default_factory=dict)
    interactions: dict[uuid.UUID, Sent] = field(default_factory=dict)

    @classmethod
    def of(cls, traffic: Traffic) -> Expected:
        """The records `traffic` had acknowledged."""
        return cls(traffic.acked_records(FEEDBACK), traffic.acked_records(INTERACTION))

    def add(self, traffic: Traffic) -> None:
        """Add what another run acknowledged."""
        for record, sent in traffic.acked_records(FEEDBACK).items():
            self.feedback.setdefault(record, sent)
        for record, sent in traffic.acked_records(INTERACTION).items():
            self.interactions.setdefault(record, sent)

    @property
    def steps(self) -> list[str]:
        """The journey steps these records must become (every record of the harness names a customer)."""
        return [f"f:{i}" for i in self.feedback] + [f"i:{i}" for i in self.interactions]


async def stream_seqs(system: ChaosSystem) -> dict[str, int]:
    """The last sequence of each service's stream (messages JetStream accepted, duplicates excluded)."""
    nc = await nats.connect(system.nats_url, connect_timeout=3, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        found = {}
        for service in ("ingest", "insight", "journey", "actions"):
            try:
                info = await js.stream_info(stream_name(service))
                found[service] = int(info.state.last_seq)
            except Exception:
                found[service] = 0
        return found
    finally:
        await nc.close()


async def baseline(system: ChaosSystem) -> Baseline:
    """Note the stores' last positions and the streams' last sequences, once what came before is published."""
    await outboxes_empty(system, 30)
    conn = await system.db()
    try:
        positions = {s: int(await conn.fetchval(f"SELECT coalesce(max(position), 0) FROM {s}.events")) for s in SCHEMAS}
    finally:
        await conn.close()
    return Baseline(time.time(), positions, await stream_seqs(system))


async def projected(system: ChaosSystem, expected: Expected) -> dict[str, int]:
    """How many of the expected records each service holds."""
    feedback = list(expected.feedback)
    conn = await system.db()
    try:
        return {
            "ingest": int(await conn.fetchval(
                "SELECT (SELECT count(*) FROM ingest.feedback WHERE id = ANY($1::uuid[])) "
                "+ (SELECT count(*) FROM ingest.interactions WHERE id = ANY($2::uuid[]))",
                feedback, list(expected.interactions))),
            "insight": int(await conn.fetchval(
                "SELECT count(*) FROM insight.analyses WHERE feedback_id = ANY($1::uuid[])", feedback)),
            "journey": int(await conn.fetchval(
                "SELECT count(*) FROM journey.steps WHERE id = ANY($1::text[])", expected.steps)),
            "actions": int(await conn.fetchval(
                "SELECT count(*) FROM actions.feedback_facts WHERE feedback_id = ANY($1::uuid[])", feedback)),
        }  # fmt: skip
    finally:
        await conn.close()


def wanted(expected: Expected) -> dict[str, int]:
    """How many each service must hold once everything has drained."""
    return {
        "ingest": len(expected.feedback) + len(expected.interactions),
        "insight": len(expected.feedback),
        "journey": len(expected.feedback) + len(expected.interactions),
        "actions": len(expected.feedback),
    }


async def drained(system: ChaosSystem, expected: Expected, timeout_s: float, poll_s: float = 0.25) -> float | None:
    """Wait until every service holds every expected record; the seconds it took, or None on timeout."""
    began = time.monotonic()
    goal = wanted(expected)
    while True:
        if await projected(system, expected) == goal:
            return time.monotonic() - began
        if time.monotonic() - began > timeout_s:
            return None
        await asyncio.sleep(poll_s)


async def outboxes_empty(system: ChaosSystem, timeout_s: float) -> bool:
    """Wait until no service has events waiting to be published."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn = await system.db()
        try:
            waiting = sum([int(await conn.fetchval(f"SELECT count(*) FROM {s}.outbox")) for s in SCHEMAS])
        finally:
            await conn.close()
        if waiting == 0:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.25)


async def leaked(system: ChaosSystem, expected: Expected, tenants: Iterable[uuid.UUID]) -> dict[str, int]:
    """Effects applied more than once, per service (each must be 0)."""
    records = [str(i) for i in [*expected.feedback, *expected.interactions]]
    tenant_ids = list(tenants)
    conn = await system.db()
    try:
        return {
            # A record's own stream holds exactly one event: a second would be a second copy of it.
            "ingest": int(await conn.fetchval(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM ingest.events "
                "WHERE stream_id = ANY($1::text[]) GROUP BY stream_id) s", records)),
            # A redelivered feedback analysed again would append a second analysis (revision 2).
            "insight": int(await conn.fetchval(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM insight.events "
                "WHERE type = $1 AND stream_id = ANY($2::text[]) GROUP BY stream_id) s",
                ANALYZED, [str(i) for i in expected.feedback])),
            # The tallies every metric is read from: a feedback counted twice is a leak even without a new event.
            "insight_tallies": int(await conn.fetchval(
                "SELECT (SELECT coalesce(sum(count), 0) FROM insight.metric_days WHERE dim = 'all' "
                "AND tenant_id = ANY($1::uuid[])) - (SELECT count(*) FROM insight.analyses "
                "WHERE tenant_id = ANY($1::uuid[]))", tenant_ids)),
            "journey": int(await conn.fetchval(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM journey.events "
                "WHERE type = $1 AND tenant_id = ANY($2::uuid[]) GROUP BY data->>'step_id') s", STEP, tenant_ids)),
            "actions": int(await conn.fetchval(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM actions.events "
                "WHERE type = $1 AND tenant_id = ANY($2::uuid[]) GROUP BY causation_id, data->>'kind') s",
                ACTION_CREATED, tenant_ids)),
        }  # fmt: skip
    finally:
        await conn.close()


async def lost(system: ChaosSystem, expected: Expected) -> list[str]:
    """Acknowledged records that ingest does not hold (each one is a broken promise)."""
    conn = await system.db()
    try:
        rows = await conn.fetch(
            "SELECT id FROM ingest.feedback WHERE id = ANY($1::uuid[]) "
            "UNION ALL SELECT id FROM ingest.interactions WHERE id = ANY($2::uuid[])",
            list(expected.feedback), list(expected.interactions),
        )  # fmt: skip
    finally:
        await conn.close()
    held = {r["id"] for r in rows}
    return [str(i) for i in [*expected.feedback, *expected.interactions] if i not in held]


async def dead_lettered(system: ChaosSystem, since: float) -> dict[str, int]:
    """Dead letters recorded since `since` (epoch seconds), per service."""
    conn = await system.db()
    try:
        found = {}
        for schema in SCHEMAS:
            found[schema] = int(await conn.fetchval(
                f"SELECT count(*) FROM {schema}.dead_letters WHERE created_at >= to_timestamp($1)", since))  # fmt: skip
        return {k: v for k, v in found.items() if v}
    finally:
        await conn.close()


async def appended_and_published(system: ChaosSystem, base: Baseline) -> dict[str, dict[str, int]]:
    """Events each service appended since `base`, and messages its stream accepted (equal once drained)."""
    seqs = await stream_seqs(system)
    conn = await system.db()
    try:
        found = {}
        for service in ("ingest", "insight", "journey", "actions"):
            appended = int(await conn.fetchval(
                f"SELECT count(*) FROM {service}.events WHERE position > $1", base.positions[service]))  # fmt: skip
            found[service] = {"appended": appended, "published": seqs[service] - base.stream_seqs[service]}
        return found
    finally:
        await conn.close()


async def lag_ms(system: ChaosSystem, expected: Expected) -> dict[str, float]:
    """End-to-end lag: a feedback's acknowledgement → its analysis stored by insight (p50, p99)."""
    conn = await system.db()
    try:
        rows = await conn.fetch(
            "SELECT stream_id, extract(epoch FROM min(recorded_at)) AS at FROM insight.events "
            "WHERE type = $1 AND stream_id = ANY($2::text[]) GROUP BY stream_id",
            ANALYZED, [str(i) for i in expected.feedback],
        )  # fmt: skip
    finally:
        await conn.close()
    samples = [max(0.0, float(r["at"]) - expected.feedback[uuid.UUID(r["stream_id"])].answered_at) for r in rows]
    shown = percentiles_ms(samples)
    return {k: shown[k] for k in ("p50", "p99")} if shown else {}


async def figures(
    system: ChaosSystem,
    base: Baseline,
    traffic: Traffic,
    expected: Expected,
    tenants: Iterable[uuid.UUID],
    *,
    drain_timeout_s: float,
    duplicates_sent: int = 0,
    injected: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The reconciliation every scenario reports, after waiting (bounded) for the backlog to drain."""
    tenants = list(tenants)
    drain_s = await drained(system, expected, drain_timeout_s)
    await outboxes_empty(system, 10)
    statuses = traffic.statuses()
    stored_missing = await lost(system, expected)
    leaks = await leaked(system, expected, tenants)
    flows = await appended_and_published(system, base)
    acked = traffic.acked()
    accepted_latency = [s.latency_s for s in acked]
    return {
        "sent": len(traffic.sent),
        "acked": len(acked),
        "statuses": statuses,
        "shed_then_retried": traffic.shed_then_retried(),
        "refusal_reasons": traffic.refusal_reasons(),
        "server_errors": sum(v for k, v in statuses.items() if k.startswith("5") and k != "503"),
        "unavailable_503": statuses.get("503", 0),
        "no_answer": statuses.get("0", 0),
        "records_acked": len(expected.feedback) + len(expected.interactions),
        "stored": len(expected.feedback) + len(expected.interactions) - len(stored_missing),
        "lost": len(stored_missing),
        "lost_ids": stored_missing[:10],
        "published": {k: v["published"] for k, v in flows.items()},
        "injected": injected or {},
        "appended": {k: v["appended"] for k, v in flows.items()},
        "projected": await projected(system, expected),
        "projected_wanted": wanted(expected),
        "drained_in_s": None if drain_s is None else round(drain_s, 2),
        "duplicates_sent": duplicates_sent,
        "duplicates_leaked": leaks,
        "leaked": sum(leaks.values()),
        "dead_lettered": await dead_lettered(system, base.at),
        "ingest_ms": percentiles_ms(accepted_latency),
        "lag_ms": await lag_ms(system, expected),
    }


async def consumers_idle(system: ChaosSystem, timeout_s: float) -> float | None:
    """Wait until every durable consumer has nothing pending or unacknowledged; the seconds it took, or None."""
    began = time.monotonic()
    nc = await nats.connect(system.nats_url, connect_timeout=3, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        while True:
            busy = 0
            for service in ("ingest", "insight", "journey", "actions", "gateway"):
                try:
                    infos = await js.consumers_info(stream_name(service))
                except Exception:
                    continue
                busy += sum(int(i.num_pending or 0) + int(i.num_ack_pending or 0) for i in infos)
            if busy == 0:
                return time.monotonic() - began
            if time.monotonic() - began > timeout_s:
                return None
            await asyncio.sleep(0.25)
    finally:
        await nc.close()
