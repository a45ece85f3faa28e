"""The kit's event store: single-event appends (in a caller's transaction, and `append_now` on its own) on one
connection and by 8 writers, and `append_many`."""

from __future__ import annotations

from bench.harness import AsyncOp, Context, Measurement, Scenario, Target, run_workers
from bench.scenarios.common import event, kit_engine
from cxm_common.eventstore import PendingAppend, append, append_many, append_now

EVENTS_PER_STREAM = 10
BATCH = 100


async def _single_appends(ctx: Context, writers: int, *, standalone: bool = False) -> Measurement:
    """Each writer appends one event per transaction to its own streams, with the expected version checked."""
    async with kit_engine(ctx, "store_", pool_size=writers) as engine:

        def make_op(writer: int) -> AsyncOp:
            appended = 0

            async def op() -> int:
                nonlocal appended
                # A fresh stream every EVENTS_PER_STREAM events, so streams look like aggregates, not logs.
                stream_id = f"w{writer}-{appended // EVENTS_PER_STREAM}"
                version = appended % EVENTS_PER_STREAM
                if standalone:
                    await append_now(engine, stream_id, [event(stream_id, appended)], expected_version=version)
                else:
                    async with engine.begin() as conn:
                        await append(conn, stream_id, [event(stream_id, appended)], expected_version=version)
                appended += 1
                return 1

            return op

        return await run_workers(make_op, writers, ctx.budget)


async def append_1conn(ctx: Context) -> Measurement:
    """Single-event appends on one connection."""
    return await _single_appends(ctx, 1)


async def append_8conn(ctx: Context) -> Measurement:
    """Single-event appends by eight writers on eight connections."""
    return await _single_appends(ctx, 8)


async def append_now_1conn(ctx: Context) -> Measurement:
    """Single-event `append_now` (one statement, committed on its own) on one connection."""
    return await _single_appends(ctx, 1, standalone=True)


async def append_now_8conn(ctx: Context) -> Measurement:
    """Single-event `append_now` by eight writers on eight connections."""
    return await _single_appends(ctx, 8, standalone=True)


async def append_batch_100(ctx: Context) -> Measurement:
    """`append_many` of 100 new streams × 1 event per transaction (a bulk import across aggregates)."""
    async with kit_engine(ctx, "store_", pool_size=1) as engine:
        batches = 0

        async def op() -> int:
            nonlocal batches
            ids = [f"b{batches}-{j}" for j in range(BATCH)]
            appends = [PendingAppend(stream_id, [event(stream_id, 0)], expected_version=0) for stream_id in ids]
            async with engine.begin() as conn:
                await append_many(conn, appends)
            batches += 1
            return BATCH

        return await run_workers(lambda _: op, 1, ctx.budget)


SCENARIOS = [
    Scenario(
        "store.append_now_1conn", "append_now 1 event, 1 conn", "events/s", append_now_1conn,
        raw="raw.pg_insert_1conn", target=Target(minimum=2_000),
    ),
    Scenario(
        "store.append_now_8conn", "append_now 1 event, 8 writers", "events/s", append_now_8conn,
        raw="raw.pg_insert_8conn", target=Target(minimum=7_000),
    ),
    Scenario(
        "store.append_1conn", "append 1 event in a caller's tx, 1 conn", "events/s", append_1conn,
        raw="raw.pg_insert_1conn",
    ),
    Scenario(
        "store.append_8conn", "append 1 event in a caller's tx, 8 writers", "events/s", append_8conn,
        raw="raw.pg_insert_8conn",
    ),
    Scenario(
        "store.append_batch_100", "append_many 100 events/tx", "events/s", append_batch_100,
        raw="raw.pg_executemany_1000",
    ),
]  # fmt: skip
