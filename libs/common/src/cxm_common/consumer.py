"""Durable pull consumers: apply each fetched batch in one transaction, ack after commit, dead-letter poison."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common import deadletters, failpoints
from cxm_common.aio import sleep_or_stop
from cxm_common.crypto import KeyDestroyed
from cxm_common.db import driver, is_lost_race, is_transient_db_error, json_rows, set_tenant
from cxm_common.envelope import Envelope, InvalidEnvelope
from cxm_common.eventstore import ConcurrencyError
from cxm_common.jetstream import (
    HEADER_TRACEPARENT,
    durable_name,
    ensure_consumer,
    stream_name,
    subject_for,
)
from cxm_common.observability import CONSUMER_APPLIED, CONSUMER_LAG, DEAD_LETTERS, span_from_traceparent

log = logging.getLogger(__name__)

Handler = Callable[[AsyncConnection, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, list[Envelope]], Awaitable[None]]

_CLAIM_BATCH_SQL = """
    INSERT INTO inbox (consumer, event_id)
    SELECT $1, id::uuid FROM jsonb_array_elements_text($2::jsonb) AS t(id)
    ON CONFLICT DO NOTHING
    RETURNING event_id
"""
_REDRIVE_ANY_SQL = (
    "SELECT EXISTS (SELECT 1 FROM dead_letters WHERE consumer = $1 AND status IN ('redrive_requested', 'dead'))"
)
_CLAIM_ONE_SQL = text(
    "INSERT INTO inbox (consumer, event_id) VALUES (:consumer, :id) ON CONFLICT DO NOTHING RETURNING event_id"
)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A handler fed by one durable consumer on a producing service's stream."""

    name: str
    service: str
    event_types: Sequence[str]
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None  # gets the new events of a fetched batch, one call per tenant
    conflict_retries: int = 5
    lanes: int = 1
    """Transactions a fetched batch is split into and applied concurrently (see `lane_key`)."""
    lane_key: Callable[[Envelope], str | None] | None = None
    """Events with the same key share a lane, in arrival order; a handler whose events of different keys touch no
    common rows can use several lanes, so that one lane's statements run while the other's Python works."""

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("a subscription needs exactly one of handler and batch_handler")
        if self.lanes < 1 or (self.lanes > 1 and self.lane_key is None):
            raise ValueError("lanes must be at least 1, and more than one needs a lane_key")

    def lane_of(self, event: Envelope | None) -> int:
        """The lane of an event (0 for one that cannot be read or has no key)."""
        if self.lanes == 1 or event is None or self.lane_key is None:
            return 0
        key = self.lane_key(event)
        return zlib.crc32(key.encode()) % self.lanes if key else 0

    async def apply(self, conn: AsyncConnection, events: list[Envelope]) -> None:
        """Apply events of one tenant with whichever handler the subscription has."""
        if self.batch_handler is not None:
            await self.batch_handler(conn, events)
            return
        assert self.handler is not None
        for event in events:
            await self.handler(conn, event)


class Outcome(Enum):
    """What happens to a message once its batch's transaction has ended."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    """About a customer erased meanwhile (its key is destroyed): it changes nothing, now or when redelivered."""
    RETRY = "retried"
    DEAD = "dead"


@dataclass(slots=True)
class _Item:
    msg: Msg | None
    payload: bytes
    subject: str
    headers: dict[str, str]
    deliveries: int
    envelope: Envelope | None = None
    error: str | None = None
    outcome: Outcome | None = None


class _Fast(Enum):
    APPLIED = "applied"
    RACED = "raced"
    FAILED = "failed"


class TransientFailure(Exception):
    """The database was unavailable while applying a batch; nothing was applied (in the lane that raised it)."""

    def __init__(self, message: str, unsettled: Sequence[Msg] | None = None) -> None:
        super().__init__(message)
        self.unsettled = unsettled
        """The messages still to hand back (None: all of the batch); those of lanes that committed are settled."""


LANE = "cxm.lane"
"""Key in a connection's `info`: the lane whose transaction the connection is in (0 without lanes)."""


@dataclass
class ConsumerRunner:
    """Runs one subscription: fetch, apply in one transaction, then ack, nak with backoff, or term."""

    consumer: str
    subscription: Subscription
    engine: AsyncEngine
    js: JetStreamContext
    prefix: str = ""
    batch_size: int = 256
    max_deliver: int = 5
    backoff_s: Sequence[float] = (0.5, 2.0, 5.0, 15.0, 30.0)
    ack_wait_s: float = 30.0
    max_ack_pending: int = 2000
    fetch_timeout_s: float = 1.0
    redrive_poll_s: float = 5.0
    on_commit: Callable[[], None] | None = None
    """Called after a batch committed (the service's relay then publishes what the handlers appended)."""
    applied: int = field(default=0, init=False)

    @property
    def durable(self) -> str:
        """The durable consumer name, also the inbox and dead-letter key."""
        return durable_name(self.consumer, self.subscription.name)

    @property
    def stream(self) -> str:
        """The stream this subscription reads."""
        return stream_name(self.subscription.service, self.prefix)

    async def setup(self) -> None:
        """Create or update the durable consumer."""
        subjects = [subject_for(t, self.prefix) for t in self.subscription.event_types]
        await ensure_consumer(
            self.js,
            self.stream,
            self.durable,
            subjects,
            ack_wait_s=self.ack_wait_s,
            max_ack_pending=self.max_ack_pending,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then finish the batch in hand, hand back the one fetched ahead, unsubscribe."""
        await self.setup()
        psub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        redrive = asyncio.create_task(self._redrive_loop(stop), name=f"redrive-{self.durable}")
        ahead: asyncio.Task[list[Msg]] | None = None
        failures = 0
        try:
            while not stop.is_set():
                fetch = ahead or asyncio.ensure_future(psub.fetch(self.batch_size, timeout=self.fetch_timeout_s))
                ahead = None
                try:
                    msgs = await fetch
                except (NatsTimeout, TimeoutError):
                    continue
                except Exception as exc:  # connection trouble: the client reconnects by itself
                    log.warning("fetch failed on %s: %r", self.durable, exc)
                    await sleep_or_stop(stop, 1.0)
                    continue
                if not msgs:
                    continue
                CONSUMER_LAG.labels(self.durable).set(msgs[-1].metadata.num_pending or 0)
                # The next batch is fetched while this one is applied; it is applied only after this one's commit,
                # so the order of delivery is kept. Its messages are in hand meanwhile: whatever path leaves the
                # loop hands them back (nak) rather than letting them wait for the ack deadline.
                ahead = asyncio.ensure_future(psub.fetch(self.batch_size, timeout=self.fetch_timeout_s))
                try:
                    await self.handle_batch(msgs)
                    failures = 0
                except TransientFailure as exc:
                    failures += 1
                    delay = self.backoff_s[min(failures, len(self.backoff_s)) - 1]
                    log.warning(
                        "batch on %s not applied (database unavailable), retry in %ss: %r", self.durable, delay, exc
                    )
                    for msg in msgs if exc.unsettled is None else exc.unsettled:
                        await _quietly(msg.nak(delay=delay))
                    await _hand_back(ahead)
                    ahead = None
                    await sleep_or_stop(stop, delay)
        finally:
            await _hand_back(ahead)
            redrive.cancel()
            await asyncio.gather(redrive, return_exceptions=True)
            await _quietly(psub.unsubscribe())

    async def handle_batch(self, msgs: Sequence[Msg]) -> list[Outcome]:
        """Apply a fetched batch and settle every message on the wire; return the outcomes."""
        items = [
            _Item(
                msg=m,
                payload=m.data,
                subject=m.subject,
                headers=dict(m.headers or {}),
                deliveries=_deliveries(m),
            )
            for m in msgs
        ]
        try:
            await self.apply(items)
        except TransientFailure as exc:
            # Lanes that committed before another failed: their messages are settled, the rest handed back.
            committed = [i for i in items if i.outcome is not None]
            if committed:
                await self._settle(committed)
                unsettled = [i.msg for i in items if i.outcome is None and i.msg is not None]
                raise TransientFailure(str(exc), unsettled) from exc
            raise
        await failpoints.reach("consumer.after_commit_before_ack")
        await self._settle(items)
        return [i.outcome for i in items if i.outcome is not None]

    async def _settle(self, items: list[_Item]) -> None:
        """After their transaction committed: ack, term or nak each message as its outcome says."""
        if self.on_commit is not None:
            self.on_commit()
        # Acks only after the commit: a crash before this point redelivers, and the inbox absorbs it.
        for item in items:
            assert item.msg is not None and item.outcome is not None
            CONSUMER_APPLIED.labels(self.durable, item.outcome.value).inc()
            if item.outcome in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.SKIPPED):
                await _quietly(item.msg.ack())
            elif item.outcome is Outcome.DEAD:
                await _quietly(item.msg.term())
            else:
                delay = self.backoff_s[min(item.deliveries, len(self.backoff_s)) - 1]
                await _quietly(item.msg.nak(delay=delay))
        self.applied += sum(1 for i in items if i.outcome is Outcome.APPLIED)

    async def apply(self, items: list[_Item]) -> None:
        """Apply items in one transaction per lane: all at once if they all succeed, else one savepoint each."""
        for item in items:
            try:
                item.envelope = Envelope.from_json(item.payload)
            except InvalidEnvelope as exc:
                item.error = f"invalid envelope: {exc}"
        lanes: dict[int, list[_Item]] = {}
        for item in items:
            lanes.setdefault(self.subscription.lane_of(item.envelope), []).append(item)
        if len(lanes) == 1:
            [(lane, only)] = lanes.items()
            await self._apply_lane(lane, only)
            return
        # Lanes commit independently: a lane that fails leaves the others applied, and its own messages are
        # redelivered (the inbox turns the others' redeliveries into duplicates). Every lane ends before this returns.
        results = await asyncio.gather(
            *(self._apply_lane(lane, part) for lane, part in sorted(lanes.items())), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        for other in failed[1:]:
            log.warning("another lane of a batch on %s failed too: %r", self.durable, other)
        if failed:
            raise failed[0]

    async def _apply_lane(self, lane: int, items: list[_Item]) -> None:
        """Apply one lane's items; on any exception nothing of the lane is applied and no item has an outcome."""
        try:
            await self._apply_lane_items(lane, items)
        except BaseException:
            for item in items:
                item.outcome = None
            raise

    async def _apply_lane_items(self, lane: int, items: list[_Item]) -> None:
        try:
            for attempt in range(1, self.subscription.conflict_retries + 1):
                result = await self._apply_fast(items, lane)
                if result is _Fast.APPLIED:
                    return
                if result is _Fast.FAILED:
                    break
                # A race with another writer (a stream appended concurrently, a deadlock) is nobody's fault: the
                # whole batch again, as `retry_on_conflict` would, rather than a savepoint per message.
                await asyncio.sleep(0.005 * attempt * (0.5 + random.random()))
            await self._apply_isolated(items, lane)
        except TransientFailure:
            raise
        except Exception as exc:
            if is_transient_db_error(exc):
                raise TransientFailure(repr(exc)) from exc
            raise

    async def _apply_fast(self, items: list[_Item], lane: int = 0) -> _Fast:
        """Try the whole batch without savepoints; nothing is applied unless it returns APPLIED."""
        if any(i.envelope is None for i in items):
            return _Fast.FAILED
        async with self.engine.connect() as conn, _lane(conn, lane):
            tx = await conn.begin()
            try:
                ids = json_rows(i.envelope.id for i in items if i.envelope is not None)
                claimed = {
                    row["event_id"] for row in await (await driver(conn)).fetch(_CLAIM_BATCH_SQL, self.durable, ids)
                }
                fresh: list[_Item] = []
                for item in items:
                    env = item.envelope
                    assert env is not None
                    if env.id in claimed:
                        claimed.discard(env.id)  # a second copy in the same batch is a duplicate
                        fresh.append(item)
                        item.outcome = Outcome.APPLIED
                    else:
                        item.outcome = Outcome.DUPLICATE
                for run in _tenant_runs(fresh):
                    first = run[0]
                    assert first.envelope is not None
                    await set_tenant(conn, first.envelope.tenant_id)
                    with span_from_traceparent(
                        f"consume {first.envelope.type}" + (f" (+{len(run) - 1})" if len(run) > 1 else ""),
                        first.headers.get(HEADER_TRACEPARENT),
                        SpanKind.CONSUMER,
                        consumer=self.durable,
                    ):
                        await self.subscription.apply(conn, [i.envelope for i in run if i.envelope is not None])
                await failpoints.reach("consumer.before_commit")
                await tx.commit()
                return _Fast.APPLIED
            except Exception as exc:
                await tx.rollback()
                for item in items:
                    item.outcome = None
                if isinstance(exc, ConcurrencyError) or is_lost_race(exc):
                    return _Fast.RACED
                if is_transient_db_error(exc):
                    raise TransientFailure(repr(exc)) from exc
                return _Fast.FAILED

    async def _apply_isolated(self, items: list[_Item], lane: int = 0) -> None:
        """Apply each item in its own savepoint so that a poison message cannot sink the batch."""
        async with self.engine.connect() as conn, _lane(conn, lane), conn.begin():
            await self._apply_each(conn, items)

    async def _apply_each(self, conn: AsyncConnection, items: list[_Item]) -> None:
        seen: set[uuid.UUID] = set()
        for item in items:
            if item.envelope is not None and item.envelope.id in seen:
                item.outcome = Outcome.DUPLICATE
                continue
            await self._apply_one(conn, item)
            if item.envelope is not None:
                seen.add(item.envelope.id)
        await failpoints.reach("consumer.before_commit")

    async def _apply_one(self, conn: AsyncConnection, item: _Item, *, may_dead_letter: bool = True) -> None:
        """Apply one item in a savepoint, retrying stream conflicts; on failure decide retry or dead letter."""
        env = item.envelope
        if env is not None:
            for attempt in range(1, self.subscription.conflict_retries + 1):
                savepoint = await conn.begin_nested()
                try:
                    claimed = (await conn.execute(_CLAIM_ONE_SQL, {"consumer": self.durable, "id": env.id})).first()
                    if claimed is None:
                        item.outcome = Outcome.DUPLICATE
                    else:
                        await set_tenant(conn, env.tenant_id)
                        with span_from_traceparent(
                            f"consume {env.type}",
                            item.headers.get(HEADER_TRACEPARENT),
                            SpanKind.CONSUMER,
                            consumer=self.durable,
                        ):
                            await self.subscription.apply(conn, [env])
                        item.outcome = Outcome.APPLIED
                    await savepoint.commit()
                    return
                except KeyDestroyed:
                    # Retrying cannot help: the customer's data is gone by request, and so must this event's be.
                    await savepoint.rollback()
                    await conn.execute(_CLAIM_ONE_SQL, {"consumer": self.durable, "id": env.id})
                    item.outcome = Outcome.SKIPPED
                    log.info("skipped %s on %s: it concerns an erased customer", env.id, self.durable)
                    return
                except ConcurrencyError as exc:
                    await savepoint.rollback()
                    item.error = f"stream conflict after {attempt} attempts: {exc}"
                except Exception as exc:
                    await savepoint.rollback()
                    if is_transient_db_error(exc):
                        raise TransientFailure(repr(exc)) from exc
                    item.error = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "handler %s failed on %s (delivery %d): %s", self.durable, env.id, item.deliveries, item.error
                    )
                    break
        if may_dead_letter and (item.envelope is None or item.deliveries >= self.max_deliver):
            await deadletters.record(
                conn,
                consumer=self.durable,
                event_id=env.id if env else _event_id_from_headers(item.headers),
                subject=item.subject,
                tenant_id=env.tenant_id if env else None,
                payload=item.payload,
                headers=item.headers,
                error=item.error or "unknown error",
                deliveries=item.deliveries,
            )
            item.outcome = Outcome.DEAD
            log.error(
                "dead-lettered %s on %s after %d deliveries: %s",
                env.id if env else "?",
                self.durable,
                item.deliveries,
                item.error,
            )
        else:
            item.outcome = Outcome.RETRY

    async def redrive_requested(self) -> int:
        """Re-apply the dead letters marked for redrive; return how many were applied."""
        async with self.engine.connect() as conn:
            # Most passes find nothing: one round trip, no transaction.
            if not await (await driver(conn)).fetchval(_REDRIVE_ANY_SQL, self.durable):
                return 0
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, subject, payload, headers FROM dead_letters "
                        "WHERE consumer = :consumer AND status = 'redrive_requested' "
                        "ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED"
                    ),
                    {"consumer": self.durable},
                )
            ).all()
            applied = 0
            for row in rows:
                item = _Item(
                    msg=None, payload=row.payload.encode(), subject=row.subject, headers=row.headers, deliveries=1
                )
                try:
                    item.envelope = Envelope.from_json(item.payload)
                except InvalidEnvelope as exc:
                    item.error = f"invalid envelope: {exc}"
                await self._apply_one(conn, item, may_dead_letter=False)
                ok = item.outcome in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.SKIPPED)
                applied += ok
                await conn.execute(
                    text(
                        "UPDATE dead_letters SET status = :status, error = coalesce(:error, error), updated_at = now() "
                        "WHERE id = :id"
                    ),
                    {
                        "status": deadletters.REDRIVEN if ok else deadletters.DEAD,
                        "error": None if ok else item.error,
                        "id": row.id,
                    },
                )
            DEAD_LETTERS.labels(self.durable).set(await deadletters.count_dead(conn, self.durable))
            return applied

    async def _redrive_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.redrive_requested()
            except Exception as exc:
                log.warning("redrive pass failed on %s: %r", self.durable, exc)
            await sleep_or_stop(stop, self.redrive_poll_s)


@contextlib.asynccontextmanager
async def _lane(conn: AsyncConnection, lane: int) -> AsyncIterator[None]:
    # `info` stays with the pooled connection: a transaction outside the runner must not see a lane of the past.
    conn.info[LANE] = lane
    try:
        yield
    finally:
        conn.info.pop(LANE, None)


def _tenant_runs(items: list[_Item]) -> list[list[_Item]]:
    """The items of each tenant in arrival order, tenants in id order, so that each group is applied under its own
    row-level scope."""
    # Grouping (rather than cutting at every change of tenant) keeps each tenant's own order, and so each
    # customer's, and gives interleaved tenants one handler call each; id order makes concurrent consumers
    # take their row locks in the same order.
    groups: dict[uuid.UUID, list[_Item]] = {}
    for item in items:
        assert item.envelope is not None
        groups.setdefault(item.envelope.tenant_id, []).append(item)
    return [groups[tenant] for tenant in sorted(groups)]


def _deliveries(msg: Msg) -> int:
    """How many times JetStream has delivered `msg`, read from its ack subject alone."""
    # `$JS.ACK.<stream>.<consumer>.<delivered>.…` (9 tokens) or `$JS.ACK.<domain>.<account>.<stream>.<consumer>.
    # <delivered>.…` (11 or more), as nats-py reads them; its `metadata` parses every field and a timestamp.
    tokens = (msg.reply or "").split(".")
    if len(tokens) >= 2 and tokens[0] == "$JS" and tokens[1] == "ACK":
        if len(tokens) == 9:
            return int(tokens[4]) or 1
        if len(tokens) >= 11:
            return int(tokens[6]) or 1
    return msg.metadata.num_delivered or 1  # raises as nats-py does for a message that is not JetStream's


def _event_id_from_headers(headers: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(headers.get("Nats-Msg-Id", ""))
    except ValueError:
        return None


async def _hand_back(fetch: asyncio.Future[list[Msg]] | None) -> None:
    """Let a fetch made ahead finish, then nak what it got, so that those messages are redelivered at once."""
    if fetch is None:
        return
    try:
        msgs = await fetch
    except Exception:  # a fetch that timed out or failed holds nothing
        return
    for msg in msgs:
        await _quietly(msg.nak())


async def _quietly(awaitable: Awaitable[Any]) -> None:
    # Acks are best effort: a lost ack means a redelivery, which the inbox turns into a no-op.
    try:
        await awaitable
    except Exception as exc:
        log.debug("ack/nak not sent: %r", exc)
