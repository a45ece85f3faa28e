"""Journey's consumers on a backlog: ingest's and insight's events are on JetStream first (as the relays publish
them), then journey's subscriptions, built as its runtime builds them, are timed until every step is stored."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.harness import Context, Measurement
from bench.scenarios.consumer import TimedRunner
from cxm_common import jetstream
from cxm_common.envelope import Envelope
from cxm_common.migrations import upgrade
from cxm_common.relay import message
from cxm_common.service import Runtime, tune_gc
from cxm_journey import contracts as c
from cxm_journey.config import Settings
from cxm_journey.service import SPEC

INTERACTIONS = 30_000
PER_CUSTOMER = 5
FEEDBACK_EVERY = 10
"""One customer in ten also gave feedback, analysed by insight."""
UPDATED_EVERY = 5
"""One customer in five has attributes from a CRM (segment, value): a `customer.updated` before their first step."""
TENANT_WEIGHTS = (70, 20, 10)
"""Three tenants' events interleaved on the streams, as a shared deployment receives them."""
POLL_S = 0.05
NAMES = (
    ("page_viewed", "web"), ("pricing_viewed", "web"), ("checkout_started", "web"), ("login", "in_app"),
    ("feature_used", "in_app"), ("ticket_opened", "email"), ("invoice_paid", "email"), ("signup_completed", "web"),
)  # fmt: skip


@dataclass
class Backlog:
    """The events to publish, per producing service, in the order their relays would publish them."""

    ingest: list[Envelope] = field(default_factory=list)
    insight: list[Envelope] = field(default_factory=list)
    steps: int = 0
    interactions: int = 0
    feedback: int = 0
    updates: int = 0


def build_backlog(count: int, now: datetime, seed: int = 11) -> Backlog:
    """`count` interactions of `count / 5` new customers over the last three days, with their attributes and
    analysed feedback, ordered by time across customers and tenants."""
    rng = random.Random(seed)
    tenants = [uuid.UUID(int=rng.getrandbits(128)) for _ in TENANT_WEIGHTS]
    since = now - timedelta(days=3)
    timed: list[tuple[datetime, int, Envelope]] = []  # (time, producer 0=ingest 1=insight, event)
    out = Backlog()
    for k in range(count // PER_CUSTOMER):
        tenant = rng.choices(tenants, TENANT_WEIGHTS)[0]
        customer = str(uuid.UUID(int=rng.getrandbits(128)))
        times = sorted(since + timedelta(seconds=rng.uniform(0, 3 * 86_400)) for _ in range(PER_CUSTOMER))
        if k % UPDATED_EVERY == 0:
            data = {"customer_id": customer, "keys_added": [], "attributes": {"segment": rng.choice(("smb", "mid")),
                    "value": float(rng.randrange(100, 5000))}}  # fmt: skip
            timed.append((times[0] - timedelta(milliseconds=1), 0, _event(c.CUSTOMER_UPDATED, tenant, customer, data,
                                                                         times[0])))  # fmt: skip
            out.updates += 1
        for at in times:
            name, channel = rng.choice(NAMES)
            interaction = str(uuid.UUID(int=rng.getrandbits(128)))
            data = {"interaction_id": interaction, "customer_id": customer, "name": name, "channel": channel,
                    "source": "api", "external_id": None, "occurred_at": at.isoformat(),
                    "properties": {"page": f"/{name}", "plan": "pro"}}  # fmt: skip
            timed.append((at, 0, _event(c.INTERACTION_RECORDED, tenant, interaction, data, at)))
            out.interactions += 1
        if k % FEEDBACK_EVERY == 0:
            at = times[-1] + timedelta(minutes=5)
            feedback = str(uuid.UUID(int=rng.getrandbits(128)))
            data = {"feedback_id": feedback, "customer_id": customer, "channel": "survey", "touchpoint": None,
                    "occurred_at": at.isoformat(), "scores": {"nps": rng.randrange(11), "csat": None, "ces": None},
                    "sentiment": {"label": "negative", "score": -0.6}, "intent": "complaint",
                    "topics": [{"topic": "billing", "score": 0.8}]}  # fmt: skip
            timed.append((at, 1, _event(c.FEEDBACK_ANALYZED, tenant, feedback, data, at, source="insight")))
            out.feedback += 1
    timed.sort(key=lambda t: t[0])
    for _, producer, event in timed:
        (out.insight if producer else out.ingest).append(event)
    out.steps = out.interactions + out.feedback
    return out


def _event(
    type_: str, tenant: uuid.UUID, subject: str, data: dict[str, Any], at: datetime, source: str = "ingest"
) -> Envelope:
    return Envelope(
        type=type_, source=source, subject=subject, tenant_id=tenant, data=data, time=at, aggregate_version=1,
        recorded_at=datetime.now(UTC),
    )  # fmt: skip


async def publish(nc: Any, prefix: str, events: list[Envelope], service: str) -> None:
    """Publish `events` to `service`'s stream as its relay does (same subject, payload and headers)."""
    js = nc.jetstream(timeout=30)
    await jetstream.ensure_stream(js, service, prefix=prefix)
    for first in range(0, len(events), 1000):
        futures = []
        for event in events[first : first + 1000]:
            subject, payload, headers = message(event, prefix)
            futures.append(await js.publish_async(subject, payload, headers=headers))
        await asyncio.gather(*futures)


async def journey_database(ctx: Context) -> tuple[str, str, str]:
    """A fresh database with journey's schema; its name, the owner URL and the runtime role's URL."""
    name = ctx.unique("journey_apply_")
    conn = await asyncpg.connect(ctx.stack.admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", SPEC.runtime_role):
            await conn.execute(f"CREATE ROLE {SPEC.runtime_role} LOGIN")
    finally:
        await conn.close()
    owner = ctx.stack.url(name)
    await upgrade(owner, SPEC.schema, SPEC.migrations, role=SPEC.runtime_role)
    # The service runs as its runtime role, under row-level security (the owner would bypass it).
    return name, owner, owner.replace("//postgres@", f"//{SPEC.runtime_role}@")


async def backlog_rate(ctx: Context) -> Measurement:
    """Events/s journey's consumers apply from a backlog already on JetStream, until every step is stored."""
    count = min(INTERACTIONS, ctx.budget.prefill)
    backlog = build_backlog(count, datetime.now(UTC))
    prefix = ctx.unique("j")
    name, owner, runtime_url = await journey_database(ctx)
    nc = await jetstream.connect(ctx.stack.nats_url, name="cxm-bench-journey")
    try:
        await publish(nc, prefix, backlog.ingest, "ingest")
        await publish(nc, prefix, backlog.insight, "insight")
        settings = Settings(
            database_url=runtime_url, nats_url=ctx.stack.nats_url, nats_prefix=prefix, log_level="WARNING"
        )
        # As in the service process (`python -m cxm_journey`), which tunes its collector once started.
        thresholds = gc.get_threshold()
        tune_gc()
        try:
            return await _drain(ctx, settings, owner, backlog)
        finally:
            gc.unfreeze()
            gc.set_threshold(*thresholds)
    finally:
        js = nc.jetstream(timeout=10)
        for service in ("ingest", "insight"):
            with contextlib.suppress(Exception):  # absent if publishing failed early
                await js.delete_stream(jetstream.stream_name(service, prefix))
        await nc.close()
        conn = await asyncpg.connect(ctx.stack.admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


async def _drain(ctx: Context, settings: Settings, owner: str, backlog: Backlog) -> Measurement:
    """Start journey's subscriptions on the backlog and time them until every event is applied and step stored."""
    runtime = Runtime(SPEC, settings, role="consume")
    runtime.nc = await jetstream.connect(settings.nats_url, name="cxm-journey-consume")
    runtime.js = runtime.nc.jetstream(timeout=10)
    runners = [runtime.consumer_runner(sub, TimedRunner) for sub in SPEC.subscriptions(runtime)]
    for runner in runners:
        await runner.setup()  # the durable consumers exist before timing, as in a service that restarts
    total = len(backlog.ingest) + len(backlog.insight)
    watcher = await asyncpg.connect(owner)
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        tasks = [asyncio.create_task(r.run(runtime.stop), name=f"bench-{r.durable}") for r in runners]
        deadline = started + ctx.budget.drain_timeout_s * 2
        while time.perf_counter() < deadline and not any(t.done() for t in tasks):
            # The runners' counts first: counting the steps table meanwhile would load the database being timed.
            if (
                sum(r.applied for r in runners) >= total
                and int(await watcher.fetchval("SELECT count(*) FROM journey.steps")) >= backlog.steps
            ):
                break
            await asyncio.sleep(POLL_S)
        seconds = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
        runtime.stop.set()
        await asyncio.gather(*tasks)
        applied = sum(r.applied for r in runners)
        stored = int(await watcher.fetchval("SELECT count(*) FROM journey.steps"))
    finally:
        await watcher.close()
        await runtime.close()
    batches = [s for r in runners for s in r.batch_seconds]
    missing = total - applied
    return Measurement(
        items=applied, seconds=seconds, latencies_s=batches, cpu_s=cpu_s,
        figure=f"journey's consumers draining {total:,} events already on JetStream ({backlog.interactions:,} "
        f"interactions, {backlog.feedback:,} analysed feedback, {backlog.updates:,} customer updates; "
        f"{len(TENANT_WEIGHTS)} tenants) until every step is stored"
        + (f", {missing:,} not applied in time" if missing > 0 else ""),
        extra={"events": total, "applied": applied, "steps_expected": backlog.steps, "steps_stored": stored,
               "batches": len(batches), "batch_size": settings.consumer_batch_size,
               "steps_per_s": round(stored / seconds, 1) if seconds else None,
               "per_subscription": {r.durable: r.applied for r in runners}},
    )  # fmt: skip
