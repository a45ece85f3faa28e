"""Setup shared by the kit scenarios: NATS clients, engines on a fresh schema, events, pre-fill and drain."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.harness import PAYLOAD_TEXT, Context
from cxm_common import jetstream
from cxm_common.db import create_engine
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many
from cxm_common.relay import Relay
from cxm_common.tables import KIT_DDL_V1

SERVICE = "bench"
EVENT_TYPE = "bench.thing.happened.v1"
TENANT = uuid.UUID("00000000-0000-7000-8000-000000000001")


@asynccontextmanager
async def nats_client(ctx: Context) -> AsyncIterator[NATS]:
    """Yield a NATS connection to the bench's server, made the way services make theirs."""
    nc = await jetstream.connect(ctx.stack.nats_url, name="cxm-bench")
    try:
        yield nc
    finally:
        await nc.close()


@asynccontextmanager
async def kit_engine(ctx: Context, stem: str, pool_size: int) -> AsyncIterator[AsyncEngine]:
    """Yield an engine (the kit's `create_engine`) on a fresh schema holding the kit's tables."""
    schema = ctx.unique(stem)
    engine = create_engine(
        ctx.stack.url(), schema, application_name="cxm-bench", pool_size=pool_size, max_overflow=0, pool_timeout=30
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
            for statement in KIT_DDL_V1:
                await conn.execute(text(statement))
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await engine.dispose()


def event(stream_id: str, n: int) -> Envelope:
    """Return one ~1 KB event for `stream_id`."""
    return Envelope(
        type=EVENT_TYPE, source="bench", subject=stream_id, tenant_id=TENANT, data={"n": n, "text": PAYLOAD_TEXT}
    )


async def prefill(engine: AsyncEngine, total: int, streams: int = 1000, per_stream: int = 10) -> int:
    """Append `total` events in transactions of 1,000 (100 streams × 10 events), cycling over `streams` ids."""
    written = 0
    batch = 0
    while written < total:
        appends = []
        for j in range(100):
            stream_id = f"thing-{(batch * 100 + j) % streams}"
            appends.append(PendingAppend(stream_id, [event(stream_id, k) for k in range(per_stream)], ANY_VERSION))
        async with engine.begin() as conn:
            written += len(await append_many(conn, appends))
        batch += 1
    return written


async def drain(relay: Relay, timeout_s: float, passes: list[float] | None = None) -> tuple[int, float]:
    """Call `publish_once` until the outbox is empty or `timeout_s` passes; return events and seconds."""
    published = 0
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        count = await relay.publish_once()
        if count == 0:
            break
        if passes is not None:
            passes.append(time.perf_counter() - began)
        published += count
    return published, time.perf_counter() - started


@dataclass(frozen=True)
class Topic:
    """A JetStream stream of the `bench` service under a prefix of its own."""

    prefix: str
    stream: str


async def bench_stream(ctx: Context, js: JetStreamContext) -> Topic:
    """Create the `bench` service's stream under a fresh prefix, as a service does at start-up."""
    prefix = ctx.unique("b")
    await jetstream.ensure_stream(js, SERVICE, prefix=prefix)  # the kit's defaults, as services run
    return Topic(prefix=prefix, stream=jetstream.stream_name(SERVICE, prefix))
