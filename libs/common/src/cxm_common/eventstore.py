"""Append-only event store with optimistic concurrency; appends also enqueue the events for publishing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common import failpoints
from cxm_common.db import driver, is_lost_race, json_rows
from cxm_common.envelope import Envelope, check_event_type

ANY_VERSION = -1
"""Expected version meaning "append after whatever is there" (still safe against concurrent appends)."""

T = TypeVar("T")


class ConcurrencyError(Exception):
    """Another writer appended to a stream since it was loaded; reload and decide again."""

    def __init__(self, stream_ids: Sequence[str]) -> None:
        super().__init__(f"stream(s) changed concurrently: {', '.join(sorted(set(stream_ids)))}")
        self.stream_ids = list(stream_ids)


@dataclass(frozen=True, slots=True)
class PendingAppend:
    """Events to append to one stream, expected to be at `expected_version` (0 for a new stream)."""

    stream_id: str
    events: Sequence[Envelope]
    expected_version: int = ANY_VERSION


# One statement per append: it checks every stream's head against the expected version, inserts the events
# with consecutive versions, and records their positions in the outbox, all in the caller's transaction.
# Racing writers are caught by the (stream_id, version) unique key, so no table or row lock is taken.
_APPEND_SQL = """
    WITH input AS (
        SELECT r->>0 AS stream_id, (r->>1)::int AS expected, (r->>2)::uuid AS id, r->>3 AS type, r->>4 AS source,
               (r->>5)::uuid AS tenant_id, (r->>6)::timestamptz AS time, (r->>7)::uuid AS correlation_id,
               (r->>8)::uuid AS causation_id, r->9 AS data, r->>10 AS traceparent, ord
        FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(r, ord)
    ),
    heads AS (
        SELECT s.stream_id, s.expected,
               coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0) AS head
        FROM (SELECT stream_id, min(expected) AS expected FROM input GROUP BY stream_id) s
    ),
    inserted AS (
        INSERT INTO events (id, stream_id, version, type, source, tenant_id, time, correlation_id,
                            causation_id, data, traceparent)
        SELECT i.id, i.stream_id,
               h.head + row_number() OVER (PARTITION BY i.stream_id ORDER BY i.ord),
               i.type, i.source, i.tenant_id, i.time, i.correlation_id, i.causation_id, i.data,
               i.traceparent
        FROM input i JOIN heads h USING (stream_id)
        WHERE NOT EXISTS (SELECT 1 FROM heads WHERE expected >= 0 AND expected <> head)
        ORDER BY i.ord
        RETURNING id, position, version, recorded_at
    ),
    queued AS (
        INSERT INTO outbox (position) SELECT position FROM inserted
    )
    SELECT id, position, version, recorded_at FROM inserted
"""

# The same append as a statement of its own (autocommit): scoping the tenant is part of the statement, so the
# row-level security check on the inserted rows sees it. `input` reads `scope`, so it is evaluated first.
_APPEND_NOW_SQL = _APPEND_SQL.replace(
    "WITH input AS (",
    "WITH scope AS (SELECT set_config('cxm.tenant_id', $2, true) AS tenant),\n    input AS (",
).replace("WITH ORDINALITY AS t(r, ord)\n", "WITH ORDINALITY AS t(r, ord), scope\n")

# The same append answering only how many events it stored (no row per event to send and decode).
_APPEND_COUNT_SQL = _APPEND_SQL.replace(
    "SELECT id, position, version, recorded_at FROM inserted", "SELECT count(*) FROM inserted"
)

_SELECT_COLUMNS = (
    "position, id, stream_id, version, type, source, tenant_id, time, recorded_at, "
    "correlation_id, causation_id, data, traceparent"
)


async def append(
    conn: AsyncConnection,
    stream_id: str,
    events: Sequence[Envelope],
    expected_version: int = ANY_VERSION,
) -> list[Envelope]:
    """Append `events` to one stream in the caller's transaction and return them with versions set."""
    return await append_many(conn, [PendingAppend(stream_id, events, expected_version)])


async def append_many(conn: AsyncConnection, appends: Sequence[PendingAppend]) -> list[Envelope]:
    """Append to several streams in one statement; all or none, raising `ConcurrencyError` on a conflict."""
    flat: list[tuple[PendingAppend, Envelope]] = [(a, e) for a in appends for e in a.events]
    if not flat:
        return []
    seen: set[str] = set()
    for pending in appends:
        if pending.stream_id in seen:
            raise ValueError(f"stream {pending.stream_id!r} appears twice in one append")
        seen.add(pending.stream_id)
    args = _append_args(flat)
    try:
        rows = await (await driver(conn)).fetch(_APPEND_SQL, args)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "events_stream_version":
            raise ConcurrencyError([a.stream_id for a in appends]) from exc
        raise
    await failpoints.reach("eventstore.after_append")
    return _stored(appends, flat, rows)


async def append_all(conn: AsyncConnection, appends: Sequence[PendingAppend]) -> int:
    """`append_many` for a caller that needs no versions or positions back: return how many events were appended."""
    flat: list[tuple[PendingAppend, Envelope]] = [(a, e) for a in appends for e in a.events]
    if not flat:
        return 0
    if len({a.stream_id for a in appends}) != len(appends):
        raise ValueError("a stream appears twice in one append")
    try:
        count = await (await driver(conn)).fetchval(_APPEND_COUNT_SQL, _append_args(flat))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "events_stream_version":
            raise ConcurrencyError([a.stream_id for a in appends]) from exc
        raise
    await failpoints.reach("eventstore.after_append")
    if count != len(flat):
        raise ConcurrencyError([a.stream_id for a in appends])
    return len(flat)


async def append_now(
    engine: AsyncEngine, stream_id: str, events: Sequence[Envelope], expected_version: int = ANY_VERSION
) -> list[Envelope]:
    """Append in a statement of its own, committed at once: for commands whose only effect is the append.

    One round trip instead of three (begin, append, commit); projections of such events are then applied by a
    subscription of the service to its own stream, or by `replay`.
    """
    pending = PendingAppend(stream_id, events, expected_version)
    flat = [(pending, e) for e in events]
    if not flat:
        return []
    tenants = {e.tenant_id for e in events}
    if len(tenants) != 1:
        raise ValueError("an append commits events of one tenant")
    async with engine.connect() as conn:
        pg = await driver(conn)  # outside any transaction: the statement commits on its own
        try:
            rows = await pg.fetch(_APPEND_NOW_SQL, _append_args(flat), str(tenants.pop()))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version":
                raise ConcurrencyError([stream_id]) from exc
            raise
    return _stored([pending], flat, rows)


def _append_args(flat: Sequence[tuple[PendingAppend, Envelope]]) -> str:
    return json_rows(
        (
            a.stream_id, a.expected_version, e.id, check_event_type(e.type), e.source, e.tenant_id, e.time,
            e.correlation_id, e.causation_id, e.data, e.traceparent,
        )
        for a, e in flat
    )  # fmt: skip


def _stored(
    appends: Sequence[PendingAppend], flat: Sequence[tuple[PendingAppend, Envelope]], rows: Sequence[Any]
) -> list[Envelope]:
    if len(rows) != len(flat):
        raise ConcurrencyError([a.stream_id for a in appends])
    by_id = {row["id"]: row for row in rows}
    stored = []
    for pending, event in flat:
        row = by_id[event.id]
        stored.append(
            replace(
                event,
                subject=event.subject or pending.stream_id,
                aggregate_version=row["version"],
                position=row["position"],
                recorded_at=row["recorded_at"],
            )
        )
    return stored


async def load(conn: AsyncConnection, stream_id: str, after_version: int = 0) -> list[Envelope]:
    """Return a stream's events in version order, from `after_version` on."""
    rows = await conn.execute(
        text(
            f"SELECT {_SELECT_COLUMNS} FROM events WHERE stream_id = :stream_id AND version > :after ORDER BY version"
        ),
        {"stream_id": stream_id, "after": after_version},
    )
    return [row_to_envelope(row) for row in rows]


async def stream_version(conn: AsyncConnection, stream_id: str) -> int:
    """Return the current version of a stream (0 when it has no events)."""
    value = await conn.scalar(
        text("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = :stream_id"), {"stream_id": stream_id}
    )
    return int(value or 0)


async def read_all(
    conn: AsyncConnection,
    after_position: int = 0,
    limit: int = 1000,
    *,
    since: datetime | None = None,
) -> list[Envelope]:
    """Return up to `limit` events of the whole store in position (append) order."""
    where = "position > :after"
    params: dict[str, Any] = {"after": after_position, "limit": limit}
    if since is not None:
        where += " AND recorded_at >= :since"
        params["since"] = since
    rows = await conn.execute(
        text(f"SELECT {_SELECT_COLUMNS} FROM events WHERE {where} ORDER BY position LIMIT :limit"), params
    )
    return [row_to_envelope(row) for row in rows]


def row_to_envelope(row: Any) -> Envelope:
    """Build an `Envelope` from an `events` row."""
    data = row.data if isinstance(row.data, dict) else orjson.loads(row.data)
    return Envelope(
        id=row.id,
        type=row.type,
        source=row.source,
        subject=row.stream_id,
        tenant_id=row.tenant_id,
        data=data,
        aggregate_version=row.version,
        time=row.time,
        recorded_at=row.recorded_at,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        traceparent=row.traceparent,
        position=row.position,
    )


async def retry_on_conflict(
    operation: Callable[[], Awaitable[T]], *, attempts: int = 5, base_delay_s: float = 0.005
) -> T:
    """Run `operation` (one whole transaction) again on `ConcurrencyError`, a deadlock or a serialization failure,
    at most `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except Exception as exc:
            if not (isinstance(exc, ConcurrencyError) or is_lost_race(exc)) or attempt == attempts:
                raise
            # Jitter so that writers which collided do not collide again in lockstep.
            await asyncio.sleep(base_delay_s * attempt * (0.5 + uuid.uuid4().int % 100 / 100))
    raise AssertionError("unreachable")
