"""This machine's raw limits: plain asyncpg inserts and plain JetStream publishes and fetches, ~1 KB each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from bench.harness import PAYLOAD_BYTES, PAYLOAD_TEXT, AsyncOp, Context, Measurement, Scenario, run_workers
from bench.scenarios.common import nats_client
from cxm_common.jetstream import ensure_stream, stream_name

SERVICE = "raw"
BATCH = 1000


@asynccontextmanager
async def _table(ctx: Context) -> AsyncIterator[str]:
    """Yield a fresh table of ~1 KB rows (bigint identity key, uuid, text), dropped afterwards."""
    table = ctx.unique("raw_rows_")
    conn = await asyncpg.connect(ctx.stack.url())
    try:
        await conn.execute(
            f"CREATE TABLE {table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, uid uuid NOT NULL, "
            "payload text NOT NULL)"
        )
        yield table
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def _inserts(ctx: Context, connections: int) -> Measurement:
    """Single-row INSERTs, each its own (autocommit) transaction, on `connections` connections."""
    async with _table(ctx) as table:
        sql = f"INSERT INTO {table} (uid, payload) VALUES ($1, $2)"
        conns = [await asyncpg.connect(ctx.stack.url()) for _ in range(connections)]
        try:

            def make_op(i: int) -> AsyncOp:
                conn = conns[i]

                async def op() -> int:
                    await conn.execute(sql, uuid.uuid4(), PAYLOAD_TEXT)
                    return 1

                return op

            return await run_workers(make_op, connections, ctx.budget)
        finally:
            for conn in conns:
                await conn.close()


async def pg_insert_1conn(ctx: Context) -> Measurement:
    """Single-row commits on one connection."""
    return await _inserts(ctx, 1)


async def pg_insert_8conn(ctx: Context) -> Measurement:
    """Single-row commits on eight connections."""
    return await _inserts(ctx, 8)


async def _batches(ctx: Context, copy: bool) -> Measurement:
    """Batches of 1,000 rows per transaction, by `executemany` (atomic in asyncpg) or by COPY."""
    async with _table(ctx) as table:
        conn = await asyncpg.connect(ctx.stack.url())
        sql = f"INSERT INTO {table} (uid, payload) VALUES ($1, $2)"
        try:

            async def op() -> int:
                rows = [(uuid.uuid4(), PAYLOAD_TEXT) for _ in range(BATCH)]
                if copy:
                    await conn.copy_records_to_table(table, records=rows, columns=["uid", "payload"])
                else:
                    await conn.executemany(sql, rows)
                return BATCH

            return await run_workers(lambda _: op, 1, ctx.budget)
        finally:
            await conn.close()


async def pg_executemany_1000(ctx: Context) -> Measurement:
    """Rows per second in `executemany` batches of 1,000."""
    return await _batches(ctx, copy=False)


async def pg_copy_1000(ctx: Context) -> Measurement:
    """Rows per second in `copy_records_to_table` batches of 1,000."""
    return await _batches(ctx, copy=True)


async def _raw_stream(ctx: Context, js: JetStreamContext) -> tuple[str, str]:
    """Create a stream with the kit's settings (file storage, dedupe window); return its name and a subject."""
    prefix = ctx.unique("r")
    await ensure_stream(js, SERVICE, prefix=prefix)  # the kit's defaults, as services run
    return stream_name(SERVICE, prefix), f"{prefix}.{SERVICE}.thing.happened.v1"


async def js_publish_ack(ctx: Context) -> Measurement:
    """Publishes awaiting each ack in turn."""
    async with nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        stream, subject = await _raw_stream(ctx, js)
        try:

            async def op() -> int:
                await js.publish(subject, PAYLOAD_BYTES)
                return 1

            return await run_workers(lambda _: op, 1, ctx.budget)
        finally:
            await js.delete_stream(stream)


async def _publish_async(js: JetStreamContext, subject: str, count: int, seconds: float) -> tuple[int, float]:
    """Publish up to `count` messages for at most `seconds` without waiting in between; return count and time."""
    started = time.perf_counter()
    deadline = started + seconds
    futures = []
    sent = 0
    while sent < count and time.perf_counter() < deadline:
        futures.append(await js.publish_async(subject, PAYLOAD_BYTES))
        sent += 1
    await asyncio.gather(*futures)
    return sent, time.perf_counter() - started


async def js_publish_async(ctx: Context) -> Measurement:
    """`publish_async` in one process, every ack awaited before the clock stops."""
    async with nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        stream, subject = await _raw_stream(ctx, js)
        try:
            await _publish_async(js, subject, 2_000, ctx.budget.warmup_s)
            cpu = time.process_time()
            sent, seconds = await _publish_async(js, subject, ctx.budget.max_items, ctx.budget.seconds)
            return Measurement(items=sent, seconds=seconds, cpu_s=time.process_time() - cpu)
        finally:
            await js.delete_stream(stream)


async def js_fetch_ack(ctx: Context) -> Measurement:
    """A durable pull consumer: `fetch(1000)` then an explicit ack per message, until the stream is read."""
    async with nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        stream, subject = await _raw_stream(ctx, js)
        try:
            total, _ = await _publish_async(js, subject, ctx.budget.prefill, ctx.budget.drain_timeout_s)
            await js.add_consumer(
                stream, ConsumerConfig(durable_name="rawfetch", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1)
            )
            psub = await js.pull_subscribe_bind(durable="rawfetch", stream=stream)
            received = 0
            cpu = time.process_time()
            started = time.perf_counter()
            deadline = started + ctx.budget.drain_timeout_s
            while received < total and time.perf_counter() < deadline:
                try:
                    msgs = await psub.fetch(BATCH, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    continue
                for msg in msgs:
                    await msg.ack()
                received += len(msgs)
            await nc.flush()
            seconds = time.perf_counter() - started
            return Measurement(items=received, seconds=seconds, cpu_s=time.process_time() - cpu)
        finally:
            await js.delete_stream(stream)


SCENARIOS = [
    Scenario("raw.pg_insert_1conn", "INSERT commits, 1 conn", "rows/s", pg_insert_1conn),
    Scenario("raw.pg_insert_8conn", "INSERT commits, 8 conns", "rows/s", pg_insert_8conn),
    Scenario("raw.pg_executemany_1000", "executemany ×1,000 per tx", "rows/s", pg_executemany_1000),
    Scenario("raw.pg_copy_1000", "COPY ×1,000 per tx", "rows/s", pg_copy_1000),
    Scenario("raw.js_publish_ack", "publish, await each ack", "msgs/s", js_publish_ack, latency_of="per publish"),
    Scenario("raw.js_publish_async", "publish_async, acks awaited", "msgs/s", js_publish_async),
    Scenario("raw.js_fetch_ack", "fetch(1000) + ack each", "msgs/s", js_fetch_ack),
]
