"""The relay: every committed event reaches JetStream once, whatever order transactions commit in."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_cli.stack import with_user_and_database
from cxm_common.db import ALL_TENANTS, create_engine, set_tenant
from cxm_common.embedded import EmbeddedNats
from cxm_common.eventstore import append
from cxm_common.jetstream import ensure_stream, stream_name
from cxm_common.migrations import upgrade
from cxm_common.relay import _CLAIM_SQL, Relay
from tests.common.factories import event
from tests.common.integration.conftest import MIGRATIONS, SERVICE


async def published_ids(js: JetStreamContext, stream: str) -> list[uuid.UUID]:
    """Every event id in the stream, in stream order (read with an ephemeral consumer)."""
    info = await js.stream_info(stream)
    total = info.state.messages
    sub = await js.pull_subscribe("", stream=stream)
    ids: list[uuid.UUID] = []
    while len(ids) < total:
        for msg in await sub.fetch(min(500, total - len(ids)), timeout=5):
            ids.append(uuid.UUID(msg.headers["Nats-Msg-Id"]))
            await msg.ack()
    await sub.unsubscribe()
    return ids


async def run_until_drained(relay: Relay, engine: AsyncEngine, timeout: float = 20) -> None:
    """Run the relay until the outbox is empty."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while await relay.backlog():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_publishes_appended_events_with_the_event_id_as_msg_id(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str
) -> None:
    async with engine.begin() as conn:
        stored = await append(conn, "s-1", [event("s-1", 1), event("s-1", 2)], expected_version=0)
    relay = Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix)
    assert await relay.publish_once() == 2
    assert await relay.publish_once() == 0
    assert await published_ids(nc.jetstream(), stream) == [e.id for e in stored]


async def test_publishing_twice_is_absorbed_by_the_duplicate_window(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str
) -> None:
    async with engine.begin() as conn:
        stored = await append(conn, "s-1", [event("s-1")], expected_version=0)
    relay = Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix)
    await relay.publish_once()
    # A relay that crashed after publishing but before deleting its outbox rows publishes them again.
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO outbox (position) VALUES (:p)"), {"p": stored[0].position})
    await relay.publish_once()
    assert await published_ids(nc.jetstream(), stream) == [stored[0].id]


async def test_never_skips_a_row_committed_late_by_a_long_transaction(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str
) -> None:
    relay = Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix, batch_size=50, idle_poll_s=0.005)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    held_open = asyncio.Event()
    written: list[uuid.UUID] = []

    async def slow_writer() -> None:
        # Takes a position early, then commits 2 s later, after many larger positions were published.
        async with engine.begin() as conn:
            stored = await append(conn, "late", [event("late")], expected_version=0)
            written.extend(e.id for e in stored)
            held_open.set()
            await asyncio.sleep(2)

    async def writer(w: int) -> None:
        await held_open.wait()
        for i in range(60):
            async with engine.begin() as conn:
                stored = await append(conn, f"w{w}-{i}", [event(f"w{w}-{i}", i)], expected_version=0)
            written.extend(e.id for e in stored)

    try:
        await asyncio.gather(slow_writer(), *(writer(w) for w in range(8)))
        async with asyncio.timeout(15):
            while await relay.backlog():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await relay_task
    ids = await published_ids(nc.jetstream(), stream)
    assert len(ids) == len(written) == 8 * 60 + 1
    assert set(ids) == set(written)


async def test_a_nats_outage_during_writes_loses_nothing_and_the_backlog_drains(
    engine: AsyncEngine, own_nats: EmbeddedNats
) -> None:
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=2)
    await ensure_stream(js, SERVICE, duplicate_window_s=120)
    relay = Relay(engine, js, SERVICE, publish_timeout_s=1.0)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    written: list[uuid.UUID] = []

    async def write(n: int) -> None:
        for i in range(n):
            async with engine.begin() as conn:
                stored = await append(conn, f"s-{uuid.uuid4()}", [event("s", i)], expected_version=0)
            written.extend(e.id for e in stored)
            await asyncio.sleep(0.002)

    try:
        await write(100)
        own_nats.kill()
        await write(300)  # every write still commits while NATS is away
        assert await relay.backlog() > 0
        own_nats.start()
        async with asyncio.timeout(30):
            while await relay.backlog():
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await relay_task
    ids = await published_ids(js, stream_name(SERVICE))
    await nc.close()
    assert len(written) == 400
    assert sorted(ids) == sorted(written)


async def test_relays_in_parallel_share_the_outbox_without_losing_or_doubling(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str
) -> None:
    for i in range(20):
        async with engine.begin() as conn:
            await append(conn, f"s-{i}", [event(f"s-{i}", j) for j in range(10)], expected_version=0)
    relays = [Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix, batch_size=7) for _ in range(3)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:
        async with asyncio.timeout(15):
            while await relays[0].backlog():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks)
    assert sum(r.published for r in relays) == 200
    assert len(set(await published_ids(nc.jetstream(), stream))) == 200


async def test_a_relay_stopped_between_publish_and_mark_republishes_under_the_same_ids(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str
) -> None:
    from cxm_common import failpoints

    async with engine.begin() as conn:
        stored = await append(conn, "s-1", [event("s-1", 1), event("s-1", 2)], expected_version=0)
    relay = Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix)
    failpoints.arm("relay.after_publish_before_mark=raise")
    try:
        with pytest.raises(failpoints.FailpointError):
            await relay.publish_once()
    finally:
        failpoints.arm("")
    assert await relay.backlog() == 2  # published, never marked
    assert await relay.publish_once() == 2
    assert await published_ids(nc.jetstream(), stream) == [e.id for e in stored]


async def test_each_events_key_is_read_by_index_under_row_level_security(database_url: str, runtime_role: str) -> None:
    # As a join, row-level security's estimates once made the planner scan every key for every event published.
    await upgrade(database_url, "sample", MIGRATIONS, role=runtime_role)
    owner = create_engine(database_url, "sample")
    async with owner.begin() as conn:
        await conn.execute(text(
            "INSERT INTO crypto_keys (subject_id, tenant_id, wrapped) "
            "SELECT gen_random_uuid(), gen_random_uuid(), '\\x00' FROM generate_series(1, 5000)"
        ))  # fmt: skip
        await conn.execute(text("ANALYZE crypto_keys"))
    await owner.dispose()
    runtime = create_engine(with_user_and_database(database_url, user=runtime_role), "sample")
    try:
        async with runtime.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            plan = "\n".join(await conn.scalars(text("EXPLAIN " + _CLAIM_SQL.replace("$1", "1000"))))
    finally:
        await runtime.dispose()
    assert "Index Scan using crypto_keys_pkey" in plan and "Seq Scan on crypto_keys" not in plan, plan
