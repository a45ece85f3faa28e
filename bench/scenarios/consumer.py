"""The kit's consumer: events/s through `ConsumerRunner` (inbox claim + a small projection upsert)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.harness import Context, Measurement, Scenario, Target, wait_until
from bench.scenarios.common import (
    EVENT_TYPE,
    SERVICE,
    Topic,
    bench_stream,
    drain,
    kit_engine,
    nats_client,
    prefill,
)
from cxm_common.consumer import ConsumerRunner, Outcome, Subscription
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.relay import Relay

PROJECTION_STREAMS = 1000
"""Distinct stream ids in the feed, hence rows in the projection."""

_UPSERT = text(
    "INSERT INTO counts (stream_id, n) VALUES (:stream_id, 1) ON CONFLICT (stream_id) DO UPDATE SET n = counts.n + 1"
)

_UPSERT_MANY = (
    "INSERT INTO counts (stream_id, n) SELECT * FROM unnest($1::text[], $2::int[]) "
    "ON CONFLICT (stream_id) DO UPDATE SET n = counts.n + excluded.n"
)


@dataclass(frozen=True)
class Feed:
    """A stream holding `events` events published by the relay, for consumers to read."""

    topic: Topic
    events: int


async def _feed(ctx: Context) -> Feed:
    """Append the pre-fill to a producer schema and relay it all to a fresh stream."""
    async with kit_engine(ctx, "producer_", pool_size=2) as engine, nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        topic = await bench_stream(ctx, js)
        await prefill(engine, ctx.budget.prefill, streams=PROJECTION_STREAMS)
        published, _ = await drain(Relay(engine, js, SERVICE, prefix=topic.prefix), ctx.budget.drain_timeout_s)
        return Feed(topic=topic, events=published)


async def _count(conn: AsyncConnection, envelope: Envelope) -> None:
    """The projection handler: one upsert per event."""
    await conn.execute(_UPSERT, {"stream_id": envelope.subject})


async def _count_batch(conn: AsyncConnection, envelopes: list[Envelope]) -> None:
    """The same projection as a batch handler: counts folded in Python, one upsert statement per batch."""
    counts = Counter(e.subject for e in envelopes)
    await (await driver(conn)).execute(_UPSERT_MANY, list(counts), list(counts.values()))


@dataclass
class TimedRunner(ConsumerRunner):
    """The kit's runner, unchanged, noting how long each fetched batch takes to apply and settle."""

    batch_seconds: list[float] = field(default_factory=list, init=False)

    async def handle_batch(self, msgs: Sequence[Msg]) -> list[Outcome]:
        """Apply and settle a batch as the kit does, timing it."""
        began = time.perf_counter()
        outcomes = await super().handle_batch(msgs)
        self.batch_seconds.append(time.perf_counter() - began)
        return outcomes


async def _apply(ctx: Context, batch_size: int, *, batched: bool = False) -> Measurement:
    """Run a `ConsumerRunner` over the whole feed and time it until every event is applied."""
    feed: Feed = await ctx.shared("consumer-feed", lambda: _feed(ctx))
    async with kit_engine(ctx, "consumer_", pool_size=2) as engine, nats_client(ctx) as nc:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counts (stream_id text PRIMARY KEY, n integer NOT NULL)"))
        handlers = {"batch_handler": _count_batch} if batched else {"handler": _count}
        name = f"proj{batch_size}{'b' if batched else ''}"
        subscription = Subscription(name=name, service=SERVICE, event_types=[EVENT_TYPE], **handlers)
        runner = TimedRunner(
            consumer="benchc",
            subscription=subscription,
            engine=engine,
            js=nc.jetstream(timeout=10),
            prefix=feed.topic.prefix,
            batch_size=batch_size,
        )
        stop = asyncio.Event()
        cpu = time.process_time()
        started = time.perf_counter()
        running = asyncio.create_task(runner.run(stop), name="bench-consumer")
        await wait_until(lambda: runner.applied >= feed.events or running.done(), ctx.budget.drain_timeout_s)
        seconds = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
        applied = runner.applied
        stop.set()
        await running
        async with engine.connect() as conn:
            projected = int(await conn.scalar(text("SELECT coalesce(sum(n), 0) FROM counts")) or 0)
        return Measurement(
            items=applied,
            seconds=seconds,
            latencies_s=runner.batch_seconds,
            cpu_s=cpu_s,
            extra={
                "batch_size": batch_size,
                "batched": batched,
                "feed_events": feed.events,
                "projected_events": projected,
            },
        )


async def apply_256(ctx: Context) -> Measurement:
    """The services' default batch size (`consumer_batch_size`)."""
    return await _apply(ctx, 256)


async def apply_1000(ctx: Context) -> Measurement:
    """A larger batch, to see how much of the cost is per batch."""
    return await _apply(ctx, 1000)


async def apply_batched_256(ctx: Context) -> Measurement:
    """A batch handler: the projection folds each fetched batch into one statement."""
    return await _apply(ctx, 256, batched=True)


async def apply_batched_1000(ctx: Context) -> Measurement:
    """A batch handler with larger fetches."""
    return await _apply(ctx, 1000, batched=True)


SCENARIOS = [
    Scenario(
        "consumer.apply_256", "inbox + projection, batch 256", "events/s", apply_256,
        raw="raw.js_fetch_ack", target=Target(minimum=5_000), latency_of="per batch",
    ),
    Scenario(
        "consumer.apply_1000", "inbox + projection, batch 1,000", "events/s", apply_1000,
        raw="raw.js_fetch_ack", target=Target(minimum=5_000), latency_of="per batch",
    ),
    Scenario(
        "consumer.apply_batched_256", "inbox + batch projection, batch 256", "events/s", apply_batched_256,
        raw="raw.js_fetch_ack", target=Target(minimum=5_000), latency_of="per batch",
    ),
    Scenario(
        "consumer.apply_batched_1000", "inbox + batch projection, batch 1,000", "events/s", apply_batched_1000,
        raw="raw.js_fetch_ack", target=Target(minimum=5_000), latency_of="per batch",
    ),
]  # fmt: skip
