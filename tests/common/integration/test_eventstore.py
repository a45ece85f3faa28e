"""The event store: optimistic concurrency, atomic multi-stream appends, reads in order."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.eventstore import (
    ANY_VERSION,
    ConcurrencyError,
    PendingAppend,
    append,
    append_many,
    append_now,
    load,
    read_all,
    retry_on_conflict,
    stream_version,
)
from tests.common.factories import event


async def test_appends_to_a_new_stream_and_loads_it_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        stored = await append(conn, "s-1", [event("s-1", 1), event("s-1", 2)], expected_version=0)
    assert [e.aggregate_version for e in stored] == [1, 2]
    async with engine.connect() as conn:
        loaded = await load(conn, "s-1")
    assert [e.data["n"] for e in loaded] == [1, 2]
    assert [e.id for e in loaded] == [e.id for e in stored]
    assert all(e.recorded_at is not None and e.position is not None for e in loaded)


async def test_a_stale_expected_version_is_a_concurrency_error_and_stores_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await append(conn, "s-1", [event("s-1", 1)], expected_version=0)
    with pytest.raises(ConcurrencyError):
        async with engine.begin() as conn:
            await append(conn, "s-1", [event("s-1", 2)], expected_version=0)
    async with engine.connect() as conn:
        assert await stream_version(conn, "s-1") == 1


async def test_an_expected_version_ahead_of_the_stream_is_refused_rather_than_leaving_a_gap(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(ConcurrencyError):
        async with engine.begin() as conn:
            await append(conn, "s-1", [event("s-1", 1)], expected_version=5)


async def test_any_version_appends_after_the_current_head(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await append(conn, "s-1", [event("s-1", 1)], expected_version=0)
        stored = await append(conn, "s-1", [event("s-1", 2)], expected_version=ANY_VERSION)
    assert stored[0].aggregate_version == 2


async def test_a_multi_stream_append_is_all_or_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await append(conn, "b", [event("b")], expected_version=0)
    with pytest.raises(ConcurrencyError):
        async with engine.begin() as conn:
            await append_many(
                conn,
                [PendingAppend("a", [event("a")], 0), PendingAppend("b", [event("b")], 0)],
            )
    async with engine.connect() as conn:
        assert await stream_version(conn, "a") == 0
        assert await stream_version(conn, "b") == 1


async def test_appends_are_queued_for_publishing_in_the_same_transaction(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        async with conn.begin() as tx:
            await append(conn, "s-1", [event("s-1")], expected_version=0)
            await tx.rollback()
        assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 0
        assert await conn.scalar(text("SELECT count(*) FROM events")) == 0
    async with engine.begin() as conn:
        stored = await append(conn, "s-1", [event("s-1")], expected_version=0)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT array_agg(position) FROM outbox")) == [stored[0].position]


async def test_racing_writers_on_one_stream_exactly_one_wins(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await append(conn, "hot", [event("hot")], expected_version=0)

    async def write(n: int) -> bool:
        try:
            async with engine.begin() as conn:
                await append(conn, "hot", [event("hot", n)], expected_version=1)
            return True
        except ConcurrencyError:
            return False

    results = await asyncio.gather(*(write(n) for n in range(8)))
    assert results.count(True) == 1
    async with engine.connect() as conn:
        assert await stream_version(conn, "hot") == 2


async def test_retry_on_conflict_lets_every_racing_writer_land_with_contiguous_versions(engine: AsyncEngine) -> None:
    async def write(n: int) -> None:
        async def once() -> None:
            async with engine.begin() as conn:
                version = await stream_version(conn, "hot")
                await append(conn, "hot", [event("hot", n)], expected_version=version)

        await retry_on_conflict(once, attempts=50)

    await asyncio.gather(*(write(n) for n in range(8)))
    async with engine.connect() as conn:
        loaded = await load(conn, "hot")
    assert [e.aggregate_version for e in loaded] == list(range(1, 9))
    assert sorted(e.data["n"] for e in loaded) == list(range(8))


async def test_read_all_returns_every_event_in_append_order(engine: AsyncEngine) -> None:
    for i in range(5):
        async with engine.begin() as conn:
            await append(conn, f"s-{i % 2}", [event(f"s-{i % 2}", i)])
    async with engine.connect() as conn:
        first = await read_all(conn, 0, limit=3)
        rest = await read_all(conn, first[-1].position or 0, limit=10)
    assert [e.data["n"] for e in first + rest] == [0, 1, 2, 3, 4]


async def test_append_now_commits_on_its_own_with_the_same_guarantees(engine: AsyncEngine) -> None:
    stored = await append_now(engine, "s-1", [event("s-1", 1), event("s-1", 2)], expected_version=0)
    assert [e.aggregate_version for e in stored] == [1, 2]
    with pytest.raises(ConcurrencyError):
        await append_now(engine, "s-1", [event("s-1", 3)], expected_version=1)
    async with engine.connect() as conn:
        assert [e.data["n"] for e in await load(conn, "s-1")] == [1, 2]
        assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 2
