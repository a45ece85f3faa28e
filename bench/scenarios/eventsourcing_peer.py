"""Peer: the `eventsourcing` library (PyPI) with its Postgres persistence, on the same Postgres server.

It is used as an ordinary user would: an `Application` subclass saving `Aggregate`s created with the `event`
decorator, configured through the environment variables its docs name (PERSISTENCE_MODULE, POSTGRES_*). Each
scenario gets a schema of its own in a database of its own, so nothing collides with the kit's tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.harness import PAYLOAD_TEXT, Budget, Context, Measurement, Scenario, SyncOp, run_threads
from bench.stack import PEER_DATABASE

BATCH = 100


class Thing(Aggregate):
    """An aggregate whose events carry ~1 KB of payload."""

    @event("Created")
    def __init__(self, payload: str) -> None:
        self.payload = payload
        self.notes = 0

    @event("Noted")
    def note(self, payload: str) -> None:
        """Record one more ~1 KB event."""
        self.payload = payload
        self.notes += 1


class Things(Application[uuid.UUID]):
    """The application whose `save` is measured (its events go to table `things_events`)."""


@contextmanager
def _environment(ctx: Context, schema: str, pool_size: int) -> Iterator[None]:
    """Set the library's documented environment variables for the bench's Postgres, restoring them after."""
    settings = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PEER_DATABASE,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(ctx.stack.postgres.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused",  # the bench's server trusts loopback connections
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _saves(ctx: Context, threads: int, events_per_save: int) -> Measurement:
    """Time `Application.save` of new aggregates carrying `events_per_save` events, from `threads` threads."""
    schema = ctx.unique("es_")
    conn = await asyncpg.connect(ctx.stack.url(PEER_DATABASE))
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        return await asyncio.to_thread(_measure, ctx, schema, threads, events_per_save, ctx.budget)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


def _measure(ctx: Context, schema: str, threads: int, events_per_save: int, budget: Budget) -> Measurement:
    """Build the application (which creates its tables) and run the threads against it."""
    with _environment(ctx, schema, pool_size=threads):
        app = Things()
    try:

        def make_op(_: int) -> SyncOp:
            def op() -> int:
                thing = Thing(PAYLOAD_TEXT)
                for _ in range(events_per_save - 1):
                    thing.note(PAYLOAD_TEXT)
                app.save(thing)
                return events_per_save

            return op

        return run_threads(make_op, threads, budget)
    finally:
        app.close()


async def save_1thread(ctx: Context) -> Measurement:
    """Single-event saves (a new aggregate each) on one thread."""
    return await _saves(ctx, 1, 1)


async def save_8threads(ctx: Context) -> Measurement:
    """Single-event saves by eight threads sharing one application."""
    return await _saves(ctx, 8, 1)


async def save_batch_100(ctx: Context) -> Measurement:
    """Saves of one aggregate carrying 100 events."""
    return await _saves(ctx, 1, BATCH)


SCENARIOS = [
    Scenario(
        "peer.es_save_1thread", "eventsourcing save, 1 event, 1 thread", "events/s", save_1thread,
        raw="raw.pg_insert_1conn", latency_of="per save",
    ),
    Scenario(
        "peer.es_save_8threads", "eventsourcing save, 1 event, 8 threads", "events/s", save_8threads,
        raw="raw.pg_insert_8conn", latency_of="per save",
    ),
    Scenario(
        "peer.es_save_batch_100", "eventsourcing save, 100 events", "events/s", save_batch_100,
        raw="raw.pg_executemany_1000", latency_of="per save",
    ),
]  # fmt: skip
